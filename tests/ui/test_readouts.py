"""Readouts a teacher can trust: the summary table and the charts say how many seeds a number rests on,
give no ± from one seed, present no evaluation of a wholly diverged run as its result, and say when
two runs coincide."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from mtlviz.config import ExperimentConfig, OptimizerConfig, SyntheticTasks, TrainConfig
from mtlviz.records import COLUMNS, TRAIN_LOSS, VAL_LOSS, VAL_R2, Divergence, RowInfo, RunMetadata

TASKS = ("task A", "task B")
LRS = (0.01, 0.1, 1.0)
RUNS = tuple(f"SGD lr={lr:g}" for lr in LRS)
STEPS = 400


class Saved:
    """A finished run's results, as the views read them."""

    def __init__(self, config: ExperimentConfig, records: pd.DataFrame, metadata: RunMetadata):
        self.config, self.metadata, self._records = config, metadata, records

    @property
    def runs(self) -> tuple[str, ...]:
        return self.config.runs

    def frame(self, metrics=None) -> pd.DataFrame:
        if metrics is None:
            return self._records
        return self._records[self._records["metric"].isin(list(metrics))].reset_index(drop=True)


def series(run: str, seed: int, task: str, metric: str, steps, values) -> pd.DataFrame:
    steps = np.asarray(steps)
    frame = pd.DataFrame({"run": run, "seed": seed, "step": steps, "task": task, "layer": "", "metric": metric})
    return frame.assign(value=np.asarray(values, dtype=np.float64), seconds=steps / 100.0)[COLUMNS]


def sweep() -> Saved:
    """SGD at three lrs, three seeds: lr=1 diverged at step 4 in seeds 0 and 1 (seed 2 survived with 62.92)."""
    config = ExperimentConfig(
        tasks=SyntheticTasks(),
        optimizers=(OptimizerConfig("sgd", LRS, "SGD"),),
        train=TrainConfig(steps=STEPS, seeds=3, eval_every=100),
    )
    frames = []
    evals = np.arange(0, STEPS + 1, 100)
    for run, lr in zip(RUNS, LRS):
        for seed in range(3):
            for task in TASKS:
                dead = run == "SGD lr=1" and seed < 2
                last = 4 if dead else STEPS
                train = np.arange(1, last + 1)
                frames.append(series(run, seed, task, TRAIN_LOSS, train, 1.0 / train / (1 + lr) + 0.01 * seed))
                at = evals[evals <= last]
                val = 3.177 / (1 + at * lr) + 0.01 * seed
                if run == "SGD lr=1" and not dead:
                    val = np.where(at > 0, 62.92, val)
                frames.append(series(run, seed, task, VAL_LOSS, at, val))
                frames.append(series(run, seed, task, VAL_R2, at, 1 - val))
    events = tuple(Divergence("SGD lr=1", seed, 4, "task A", 1e9, {"task A": 1e9, "task B": 2.0}) for seed in (0, 1))
    metadata = RunMetadata(
        rows=tuple(
            RowInfo(run, seed, "SGD", "sgd", lr, "Static weights") for run, lr in zip(RUNS, LRS) for seed in range(3)
        ),
        tasks=TASKS,
        has_shared_parameters=True,
        device="cpu",
        divergences=events,
    )
    return Saved(config, pd.concat(frames, ignore_index=True), metadata)


def summary_page(results) -> None:
    from mtlviz.ui.live import summary_section
    from mtlviz.ui.views import Derived

    summary_section(results, Derived(results))


def view_page(results, name: str) -> None:
    import streamlit as st

    from mtlviz.ui import state
    from mtlviz.ui.views import Derived, views

    st.session_state.setdefault(state.VIEW, name)
    views(results, Derived(results))


def table_of(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def test_the_summary_says_how_many_seeds_a_value_rests_on_and_gives_no_plus_minus_from_one():
    at = AppTest.from_function(summary_page, args=(sweep(),), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    table = table_of(at)
    survivor = table[(table["run"] == "SGD lr=1") & (table["task"] == "task A")].iloc[0]
    assert survivor["seeds"] == "1 of 3"
    assert survivor["val loss"] == "62.92"  # not "62.92 ± 0"
    healthy = table[(table["run"] == "SGD lr=0.1") & (table["task"] == "task A")].iloc[0]
    assert healthy["seeds"] == "3" and "±" in healthy["val loss"]


def test_the_sensitivity_chart_marks_a_partly_diverged_point_apart_from_the_others():
    at = AppTest.from_function(view_page, args=(sweep(), "LR sensitivity"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    partly = [t for t in spec["data"] if "partly diverged" in t.get("name", "")]
    assert partly, [t.get("name") for t in spec["data"]]
    assert any("mean of 1 of 3 seeds" in text for t in partly for text in t["hovertext"])


def test_the_loss_chart_says_how_many_seeds_the_mean_rests_on_after_a_divergence():
    at = AppTest.from_function(view_page, args=(sweep(), "Loss"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = [t for t in spec["data"] if t.get("legendgroup") == "SGD lr=1" and t.get("mode", "").startswith("lines")]
    hovers = " ".join(str(t.get("customdata", "")) + t.get("hovertemplate", "") for t in lines)
    assert "1 of 3 seeds" in hovers
    legend = [t["name"] for t in spec["data"] if t.get("legendgroup") == "SGD lr=1" and t.get("showlegend")]
    assert legend and "1 of 3 seeds after step 4" in legend[0]


def two_optimizers(shift: float = 0.0, apart: float = 1.005) -> Saved:
    """Adam and AdamW one seed each; AdamW's losses `apart` times Adam's, both lowered by `shift`."""
    config = ExperimentConfig(
        tasks=SyntheticTasks(),
        optimizers=(OptimizerConfig("adam", 0.001, "Adam"), OptimizerConfig("adamw", 0.001, "AdamW")),
        train=TrainConfig(steps=STEPS, eval_every=100),
    )
    frames = []
    steps, evals = np.arange(1, STEPS + 1), np.arange(0, STEPS + 1, 100)
    for run, factor in (("Adam", 1.0), ("AdamW", apart)):
        for task in TASKS:
            frames.append(series(run, 0, task, TRAIN_LOSS, steps, 2.0 * factor / steps - shift))
            frames.append(series(run, 0, task, VAL_LOSS, evals, 3.0 * factor / (1 + evals) - shift))
    metadata = RunMetadata(
        rows=(RowInfo("Adam", 0, "Adam", "adam", 0.001, "Static weights"),)
        + (RowInfo("AdamW", 0, "AdamW", "adamw", 0.001, "Static weights"),),
        tasks=TASKS,
        has_shared_parameters=True,
        device="cpu",
    )
    return Saved(config, pd.concat(frames, ignore_index=True), metadata)


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def test_the_loss_view_says_why_log_scale_is_off_when_a_loss_is_negative():
    at = AppTest.from_function(view_page, args=(two_optimizers(shift=1.0, apart=1.5), "Loss"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert "Log scale is off: some losses are ≤ 0" in captions(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["yaxis"].get("type") != "log"
    at = AppTest.from_function(view_page, args=(two_optimizers(apart=1.5), "Loss"), default_timeout=30)
    at.run()
    assert "Log scale is off" not in captions(at)


def test_runs_that_coincide_are_named_under_the_loss_chart_and_in_the_summary():
    at = AppTest.from_function(view_page, args=(two_optimizers(apart=1.005), "Loss"), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert "Adam and AdamW coincide: their validation losses differ by at most 0.5% at every evaluation" in captions(at)
    at = AppTest.from_function(summary_page, args=(two_optimizers(apart=1.005),), default_timeout=30)
    at.run()
    assert "Adam and AdamW coincide" in captions(at)
    at = AppTest.from_function(view_page, args=(two_optimizers(apart=1.05), "Loss"), default_timeout=30)
    at.run()
    assert "coincide" not in captions(at)


def test_a_run_whose_every_seed_diverged_shows_no_values_in_the_summary():
    results = sweep()
    events = results.metadata.divergences + (Divergence("SGD lr=1", 2, 300, "task A", None, {}),)
    results.metadata = RunMetadata(
        rows=results.metadata.rows, tasks=TASKS, has_shared_parameters=True, device="cpu", divergences=events
    )
    at = AppTest.from_function(summary_page, args=(results,), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    dead = table_of(at).query("run == 'SGD lr=1'").iloc[0]
    assert (dead["seeds"], dead["val loss"], dead["accuracy / R²"]) == ("0 of 3", "—", "—")
    assert dead["status"] == "diverged at step 4 (all 3 seeds)"
