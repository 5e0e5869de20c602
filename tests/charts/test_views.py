"""The Updates and Conflict figures, and the plain-language conflict reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from mtlviz.charts.conflict import conflict_reading, cosine_chart, cosine_heatmaps, latest_cosines, task_grad_norm_chart
from mtlviz.charts.updates import LAYER_CHARTS, layer_chart, layer_names
from mtlviz.config import ExperimentConfig, OptimizerConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.engine import Engine

RUNS = ("SGD", "Adam")


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    config = ExperimentConfig(
        tasks=SyntheticTasks(targets=(TaskSpec("a"), TaskSpec("b"), TaskSpec("c")), num_samples=400),
        optimizers=(OptimizerConfig("sgd", 0.05, "SGD"), OptimizerConfig("adam", 1e-2, "Adam")),
        train=TrainConfig(steps=40, stats_every=5, conflict_every=5, batch_size=32),
    )
    return pd.concat(list(Engine(config).run()), ignore_index=True)


def rows(run: str, step: int, pair: str, value: float) -> dict:
    return {
        "run": run,
        "step": step,
        "task": pair,
        "layer": "shared",
        "metric": "grad_cosine",
        "value": value,
        "seconds": 0.0,
    }


def validated(figure: go.Figure) -> go.Figure:
    """Figures are built without validation for speed; here every property is checked."""
    go.Figure(figure.to_dict())  # raises on any invalid property
    return figure


@pytest.mark.parametrize("metric", list(LAYER_CHARTS))
def test_layer_chart_has_a_panel_per_layer_and_a_line_per_run(records: pd.DataFrame, metric: str) -> None:
    layers = layer_names(records)
    assert layers[:2] == ["trunk.0.weight", "trunk.0.bias"] and "heads.c.weight" in layers
    chosen = [name for name in layers if name.endswith("weight")]
    figure = validated(layer_chart(records, RUNS, chosen, metric))
    lines = [t for t in figure.data if t.fill != "toself"]
    assert len(lines) == len(chosen) * len(RUNS)
    assert len(figure.layout.annotations) == len(chosen)  # panel titles
    if metric == "effective_lr":
        bands = [t for t in figure.data if t.fill == "toself"]
        assert len(bands) == len(lines)
    if metric == "update_ratio":
        # Drawn as log10 on a linear axis.
        source = records[(records["metric"] == metric) & (records["run"] == "SGD") & (records["layer"] == chosen[0])]
        first = next(t for t in lines if t.name == "SGD")
        np.testing.assert_allclose(first.y, np.log10(source["value"].to_numpy()), rtol=1e-6)
        assert figure.layout.yaxis.type in (None, "linear", "-")
    else:
        assert figure.layout.yaxis.type == "log"


def test_layer_chart_rejects_an_unknown_metric(records: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="metric must be one of"):
        layer_chart(records, RUNS, ["trunk.0.weight"], "speed")


def test_cosine_views(records: pd.DataFrame) -> None:
    pairs = sorted(set(records.loc[records["metric"] == "grad_cosine", "task"]))
    assert pairs == ["a ↔ b", "a ↔ c", "b ↔ c"]
    figure = validated(cosine_chart(records, RUNS))
    assert len(figure.data) == 3 * 2 and list(figure.layout.yaxis.range) == [-1.05, 1.05]
    heat = validated(cosine_heatmaps(records, RUNS, ("a", "b", "c")))
    assert [t.type for t in heat.data] == ["heatmap", "heatmap"]
    z = np.asarray(heat.data[0].z, dtype=float)
    np.testing.assert_allclose(z, z.T)
    np.testing.assert_allclose(np.diag(z), 1.0)
    norms = validated(task_grad_norm_chart(records, RUNS, ("a", "b", "c")))
    assert len(norms.data) == 3 * 2


def test_latest_cosines_takes_the_last_step() -> None:
    frame = pd.DataFrame([rows("R", 10, "x ↔ y", 0.5), rows("R", 20, "x ↔ y", -0.25)])
    step, matrix = latest_cosines(frame, "R", ("x", "y"))
    assert step == 20
    np.testing.assert_allclose(matrix, [[1, -0.25], [-0.25, 1]])


def test_conflict_reading_reports_the_share_of_negative_cosines() -> None:
    values = {"SGD": [-0.5, -0.2, 0.3, -0.1, 0.4], "Adam": [0.2, 0.3, 0.1, -0.3, 0.5]}
    frame = pd.DataFrame([rows(run, 10 * i, "A ↔ B", v) for run, vs in values.items() for i, v in enumerate(vs)])
    (line,) = conflict_reading(frame)
    assert "**A** and **B**" in line and "**40%** of the time" in line  # 4 of 10 negative
    assert "Most under SGD (60%)" in line and "least under Adam (20%)" in line


def test_conflict_reading_says_never_and_is_empty_without_data() -> None:
    frame = pd.DataFrame([rows("R", i, "A ↔ B", 0.5) for i in range(3)])
    assert "never" in conflict_reading(frame)[0]
    assert conflict_reading(frame.iloc[0:0]) == []
