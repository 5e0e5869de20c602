"""Derived: what the views and the summary compute from a run, once per refresh, from its metadata."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mtlviz.config import ExperimentConfig
from mtlviz.records import Divergence, RunMetadata, empty_records
from mtlviz.run import run_experiment
from mtlviz.summary import summary_table
from mtlviz.ui.runs import SavedRun
from mtlviz.ui.views import Derived


class Counting(SavedRun):
    """A saved run that counts the snapshots the views take of its records."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.frames: list[tuple[str, ...] | None] = []

    def frame(self, metrics=None) -> pd.DataFrame:
        self.frames.append(None if metrics is None else tuple(metrics))
        return super().frame(metrics)


@pytest.fixture(scope="module")
def swept() -> Counting:
    """Adam at two learning rates under two methods, and SGD: four configurations, two of them swept."""
    config = ExperimentConfig.from_dict(
        {
            "tasks": {"source": "synthetic", "num_samples": 200},
            "model": {"hidden": 8, "depth": 1},
            "optimizers": [
                {"name": "adam", "lr": [1e-3, 1e-2], "label": "Adam"},
                {"name": "sgd", "lr": 0.05, "label": "SGD"},
            ],
            "methods": ["equal", "dwa"],
            "train": {"steps": 30, "batch_size": 32, "eval_every": 10},
        }
    )
    result = run_experiment(config)
    return Counting(Path("run"), config, result.records, result.metadata)


def test_each_derived_value_is_computed_once_from_one_snapshot(swept: Counting) -> None:
    derived = Derived(swept)
    swept.frames.clear()
    first = derived.summary
    assert derived.summary is first and derived.best_runs is derived.best_runs
    assert len(swept.frames) == 1  # the best learning rates reuse the summary
    assert "grad_norm" not in swept.frames[0]  # never the per-layer statistics
    expected = summary_table(swept.records, swept.metadata.diverged_runs(), swept.config.val_targets)
    pd.testing.assert_frame_equal(first, expected)


def test_run_table_and_best_learning_rates_come_from_the_metadata_rows(swept: Counting) -> None:
    derived = Derived(swept)
    table = derived.run_table
    assert list(table["run"]) == list(swept.config.runs)
    by_run = {row.run: row for row in swept.metadata.rows}
    assert list(table["configuration"]) == [by_run[run].configuration for run in table["run"]]
    # With several methods a configuration is an (optimizer, method) pair; only Adam's are swept.
    assert derived.swept == {"Adam · Equal weights", "Adam · Dynamic Weight Average"}
    best = derived.best_runs
    assert set(best) == {
        "Adam · Equal weights",
        "Adam · Dynamic Weight Average",
        "SGD · Equal weights",
        "SGD · Dynamic Weight Average",
    }
    assert best["Adam · Equal weights"] in {"Adam lr=0.001 · Equal weights", "Adam lr=0.01 · Equal weights"}


def test_divergences_are_each_runs_first_event() -> None:
    config = ExperimentConfig.from_dict({"optimizers": [{"name": "sgd", "lr": 0.1, "label": "SGD"}]})
    later = Divergence("SGD", 0, 40, "task B", None, {"task A": 2.0, "task B": None})
    first = Divergence("SGD", 1, 25, "task A", 3e8, {"task A": 3e8, "task B": 1.0})
    metadata = RunMetadata(divergences=(later, first))
    derived = Derived(SavedRun(Path("run"), config, empty_records(), metadata))
    assert derived.diverged_runs == {"SGD": {0: 40, 1: 25}}
    assert derived.divergences == {"SGD": first}


def test_a_job_whose_model_is_not_built_yet_derives_nothing() -> None:
    config = ExperimentConfig.from_dict({"optimizers": [{"name": "sgd", "lr": [0.1, 0.01], "label": "SGD"}]})
    derived = Derived(SavedRun(Path("run"), config, empty_records(), None))
    assert derived.diverged_runs == {} and derived.divergences == {}
    assert (
        derived.summary.empty
        and derived.run_table.empty
        and list(derived.run_table.columns)
        == [
            "run",
            "configuration",
            "lr",
            "method",
        ]
    )
    assert derived.swept == frozenset() and derived.best_runs == {}
