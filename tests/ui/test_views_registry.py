"""The views registry: which views a run offers, in which order, decided by specs and config types, not names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from mtlviz.config import ExperimentConfig
from mtlviz.methods import METHODS
from mtlviz.records import empty_records
from mtlviz.ui.runs import SavedRun
from mtlviz.ui.views import VIEWS

ROOT = Path(__file__).resolve().parents[2]


def results(**config) -> SavedRun:
    """A run with this config (mtlviz.config JSON) and no records yet."""
    base = {"optimizers": [{"name": "sgd", "lr": 0.1, "label": "SGD"}]}
    return SavedRun(Path("run"), ExperimentConfig.from_dict(base | config), empty_records(), None)


def offered(run: SavedRun) -> list[str]:
    return [view.name for view in VIEWS if view.available(run)]


def test_a_plain_run_offers_the_views_every_run_has() -> None:
    three = {"tasks": {"source": "synthetic", "targets": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}
    assert offered(results(**three)) == ["Loss", "Updates", "Conflict"]


def test_each_view_is_offered_where_it_applies_in_registry_order() -> None:
    run = results(
        optimizers=[{"name": "adam", "lr": [1e-3, 1e-2], "label": "Adam"}],
        methods=["equal", "dwa"],
    )
    assert offered(run) == ["Loss", "Updates", "Conflict", "LR sensitivity", "Task weights", "Loss space"]
    assert offered(results(tasks={"source": "toy2d"}, methods=["equal"])) == [
        "Loss",
        "Updates",
        "Conflict",
        "Loss space",
    ]


@pytest.mark.parametrize("method", list(METHODS))
def test_task_weights_are_offered_exactly_for_methods_whose_weights_adapt(method: str) -> None:
    run = results(
        tasks={"source": "synthetic", "targets": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}, methods=[method]
    )
    assert ("Task weights" in offered(run)) == METHODS[method].adapts_weights


def picker(run) -> None:
    from mtlviz.ui.views import Derived, views

    views(run, Derived(run), "Nothing yet.")


def test_the_picker_lists_the_offered_views_and_falls_back_to_the_first() -> None:
    run = results(methods=["static"])
    at = AppTest.from_function(picker, args=(run,), default_timeout=30)
    at.session_state["view"] = "Task weights"  # chosen for another run, not offered for this one
    at.run()
    assert not at.exception, at.exception
    control = at.segmented_control(key="view")
    assert control.options == offered(run) == ["Loss", "Updates", "Conflict", "Loss space"]
    assert control.value == "Loss"
    assert [i.value for i in at.info] == ["Nothing yet."]


MINE = [
    "mtlviz/ui/live.py",
    "mtlviz/ui/runs.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "mtlviz/ui/views").glob("*.py")),
]
# A comparison of a method, optimizer, strategy or task source by its name: `m.name not in ("static", ...)`,
# `config.tasks.source == "toy2d"`, `model.sharing == "hard"`.
NAME_COMPARISON = re.compile(r"\.(name|source|sharing)\s*(==|!=|\bin\b|\bnot in\b)\s*[(\[{\"']")


# Quoted registry names and torch imports are checked for every UI file in tests/test_layering.py.
@pytest.mark.parametrize("path", MINE)
def test_the_views_compare_no_names(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    assert not NAME_COMPARISON.search(text), NAME_COMPARISON.search(text)


def test_the_name_comparison_pattern_finds_one() -> None:
    for line in ('if m.name not in ("static", "equal"):', 'config.tasks.source == "toy2d"', "model.sharing != 'hard'"):
        assert NAME_COMPARISON.search(line), line
    assert not NAME_COMPARISON.search("if spec.adapts_weights and run.name == label:")
