"""Set the sidebar's widgets from an ExperimentConfig (a shared link, a preset, a saved run).

The inverse of the sidebar, through the same field table (ui/fields.py): each
section writes the config's values into the fields it draws. It runs before
the widgets are drawn (at the top of the page, or in a button's callback).
Whatever the fields cannot show is listed by its config path, so the caller
can say it was not restored.
"""

from __future__ import annotations

from mtlviz.config import ExperimentConfig
from mtlviz.ui.fields import MODEL, SEARCH, TRAIN
from mtlviz.ui.optimizers import set_optimizer_rows
from mtlviz.ui.sidebar import write_methods, write_val_targets
from mtlviz.ui.state import UPLOAD_NEEDED
from mtlviz.ui.tasks import write_tasks

__all__ = ["UPLOAD_NEEDED", "apply_config"]


def apply_config(config: ExperimentConfig) -> list[str]:
    """Write `config` into the widgets' session state; returns 'path = value' for what could not be shown.

    An uploaded table's settings wait until its file is uploaded again (the page asks for it).
    """
    lost: list[str] = []
    write_tasks(config.tasks, lost)
    MODEL.write(config.model, lost)
    set_optimizer_rows(config.optimizers, lost)
    TRAIN.write(config.train, lost)
    SEARCH.write(config.search, lost)
    write_methods(config.methods, lost)
    write_val_targets(config, lost)
    return lost
