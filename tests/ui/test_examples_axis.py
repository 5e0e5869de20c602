"""The x-axis in examples seen and epochs: steps times the run's batch size (over its training rows).

The figure builders draw against steps; `in_step_units` rescales the step axis
of a finished figure, so every chart a view draws shows the unit the switch chose.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from mtlviz.charts import loss_curves
from mtlviz.records import COLUMNS, Divergence, RunMetadata
from mtlviz.ui.views.common import X_LABELS, in_step_units, x_axes

TIMEOUT = 60


def records(steps: int = 120) -> pd.DataFrame:
    """Train loss every step and validation loss every 20 steps, for one run and two tasks."""
    frames = []
    for task in ("a", "b"):
        for metric, at in (("train_loss", np.arange(1, steps + 1)), ("val_loss", np.arange(0, steps + 1, 20))):
            frames.append(
                pd.DataFrame(
                    {
                        "run": "SGD",
                        "seed": 0,
                        "step": at,
                        "task": task,
                        "layer": "",
                        "metric": metric,
                        "value": 1.0 / np.sqrt(at + 1),
                        "seconds": at / 1000,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def test_examples_and_epochs_are_offered_only_where_the_metadata_gives_the_batch_size() -> None:
    assert x_axes(RunMetadata(batch_size=32, train_examples=640)) == {
        **X_LABELS,
        "examples": "Examples",
        "epochs": "Epochs",
    }
    assert x_axes(RunMetadata(batch_size=32)) == {**X_LABELS, "examples": "Examples"}  # no training rows known
    assert x_axes(RunMetadata()) == X_LABELS  # Toy 2D, or a run saved before the batch size was recorded
    # Before a new run's metadata exists, the axis the last run showed stays offered.
    assert x_axes(None, "examples") == {**X_LABELS, "examples": "Examples"}


@pytest.mark.parametrize(
    ("unit", "per_step", "title"), [("examples", 32.0, "examples seen"), ("epochs", 0.05, "epochs")]
)
def test_a_step_figure_is_rescaled_to_the_unit(unit: str, per_step: float, title: str) -> None:
    divergence = {"SGD": Divergence("SGD", 0, 100, "a", None, {"a": None, "b": None})}
    figure = loss_curves(records(), ["SGD"], ["a", "b"], divergences=divergence, x="step")
    steps = [np.asarray(trace.x, dtype=float) for trace in figure.data]
    in_step_units(figure, unit, per_step)
    for before, trace in zip(steps, figure.data):
        np.testing.assert_allclose(np.asarray(trace.x, dtype=float), before * per_step, rtol=1e-6)
    markers = [t for t in figure.data if t.mode == "markers+text"]
    assert [float(t.x[0]) for t in markers] == pytest.approx([100 * per_step] * 2)  # diverged at step 100
    titles = {axis.title.text for axis in figure.select_xaxes()}
    assert title in titles and "step" not in titles
    lines = [t for t in figure.data if t.mode in ("lines", "lines+markers")]
    assert all("step %{x}" not in t.hovertemplate for t in lines)
    assert all(unit.rstrip("s") in t.hovertemplate for t in lines)


def test_a_figure_in_seconds_is_left_as_it_is() -> None:
    figure = loss_curves(records(), ["SGD"], ["a", "b"], x="seconds")
    before = figure.to_dict()
    in_step_units(figure, "examples", 32.0)
    assert json.dumps(figure.to_dict(), default=str) == json.dumps(before, default=str)


def _loss_view(batch_size: int, train_examples: int) -> None:
    """The Loss view of a saved run whose metadata has this batch size and training split."""
    from pathlib import Path

    import numpy as np
    import pandas as pd

    from mtlviz.config import ExperimentConfig, OptimizerConfig
    from mtlviz.records import COLUMNS, RunMetadata
    from mtlviz.ui.runs import SavedRun
    from mtlviz.ui.views.loss import draw
    from mtlviz.ui.views.results import Derived

    at = np.arange(1, 101)
    frame = pd.concat(
        [
            pd.DataFrame(
                {"run": "SGD", "seed": 0, "step": at, "task": task, "layer": "", "metric": "train_loss"}
                | {"value": 1.0 / at, "seconds": at / 1000}
            )
            for task in ("task A", "task B")
        ],
        ignore_index=True,
    )[COLUMNS]
    config = ExperimentConfig(optimizers=(OptimizerConfig("sgd", 0.1, "SGD"),))
    run = SavedRun(Path("run"), config, frame, RunMetadata(batch_size=batch_size, train_examples=train_examples))
    draw(run, Derived(run))


def _x_title(at: AppTest) -> str:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    titles = [v["title"]["text"] for k, v in spec["layout"].items() if k.startswith("xaxis") and "title" in v]
    return next(t for t in titles if t)


def test_the_switch_draws_the_loss_chart_in_examples_seen() -> None:
    at = AppTest.from_function(_loss_view, args=(32, 640), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    switch = at.get("segmented_control")[0]
    assert switch.options == ["Step", "Seconds", "Examples", "Epochs"]
    assert _x_title(at) == "step"
    switch.set_value("examples").run()
    assert not at.exception, at.exception
    assert _x_title(at) == "examples seen"
    at.get("segmented_control")[0].set_value("epochs").run()
    assert _x_title(at) == "epochs"


def test_a_run_without_a_batch_size_offers_steps_and_seconds() -> None:
    at = AppTest.from_function(_loss_view, args=(0, 0), default_timeout=TIMEOUT)
    at.session_state["chart_x"] = "examples"  # chosen for another run
    at.run()
    assert not at.exception, at.exception
    switch = at.get("segmented_control")[0]
    assert switch.options == ["Step", "Seconds"]
    assert switch.value == "step"
    assert _x_title(at) == "step"
