"""The Updates and Conflict figures, and the plain-language conflict reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtlviz.charts.conflict import conflict_reading, cosine_chart, cosine_heatmaps, latest_cosines, task_grad_norm_chart
from mtlviz.charts.updates import LAYER_CHARTS, chart_metrics, layer_chart, layer_names
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


@pytest.mark.parametrize("metric", list(LAYER_CHARTS))
def test_layer_chart_has_a_panel_per_layer_and_a_line_per_run(records: pd.DataFrame, metric: str, validated) -> None:
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


def test_cosine_views(records: pd.DataFrame, validated) -> None:
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
    assert "Most under SGD (60% opposite" in line and "least under Adam (20% opposite" in line


def test_conflict_reading_says_never_and_is_empty_without_data() -> None:
    frame = pd.DataFrame([rows("R", i, "A ↔ B", 0.5) for i in range(3)])
    assert "never" in conflict_reading(frame)[0]
    assert conflict_reading(frame.iloc[0:0]) == []


# ----------------------------------------------------------------------------- several seeds

SCALE = 0.5  # seed 1's values are seed 0's times this: the mean over both is 0.75 times seed 0


def two_seeds(records: pd.DataFrame) -> pd.DataFrame:
    """The records as seed 0, plus a seed 1 with scaled values whose clock runs 0.5 s behind."""
    second = records.assign(seed=1, value=records["value"] * SCALE, seconds=records["seconds"] + 0.5)
    return pd.concat([records.assign(seed=0), second], ignore_index=True)


def source(records: pd.DataFrame, metric: str, run: str, column: str, name: str) -> pd.DataFrame:
    rows = records[(records["metric"] == metric) & (records["run"] == run) & (records[column] == name)]
    return rows.sort_values("step")


@pytest.mark.parametrize("metric", ["update_ratio", "grad_norm", "effective_lr"])
def test_layer_chart_with_seeds_draws_the_mean_line_per_run(records: pd.DataFrame, metric: str, validated) -> None:
    layers = ["trunk.0.weight", "heads.a.weight"]
    figure = validated(layer_chart(two_seeds(records), RUNS, layers, metric, x="seconds", band="std"))
    lines = [t for t in figure.data if t.fill != "toself"]
    bands = [t for t in figure.data if t.fill == "toself"]
    assert len(lines) == len(layers) * len(RUNS) and len(bands) == len(lines)
    rows = source(records, metric, "Adam", "layer", layers[0])
    first = next(t for t in lines if t.legendgroup == "Adam" and t.xaxis == "x")
    mean = rows["value"].to_numpy() * (1 + SCALE) / 2
    np.testing.assert_allclose(first.y, np.log10(mean) if metric == "update_ratio" else mean, rtol=1e-5)
    np.testing.assert_allclose(first.x, rows["seconds"].to_numpy() + 0.25, rtol=1e-6)
    assert "mean of 2 seeds" in first.hovertemplate
    if metric == "effective_lr":
        # The band stays the 10-90 percentile range, averaged over seeds.
        p10 = source(records, "effective_lr_p10", "Adam", "layer", layers[0])["value"].to_numpy()
        band = next(t for t in bands if t.legendgroup == "Adam" and t.xaxis == "x")
        low, _ = np.split(np.asarray(band.y, dtype=float), 2)
        np.testing.assert_allclose(low, p10 * (1 + SCALE) / 2, rtol=1e-5)
    # Without a band only the effective step size keeps its percentile area.
    plain = layer_chart(two_seeds(records), RUNS, layers, metric)
    assert len([t for t in plain.data if t.fill == "toself"]) == (len(lines) if metric == "effective_lr" else 0)


def test_conflict_charts_with_seeds_draw_the_mean_line_per_run(records: pd.DataFrame, validated) -> None:
    seeded = two_seeds(records)
    cosines = validated(cosine_chart(seeded, RUNS, x="seconds", band="minmax"))
    lines = [t for t in cosines.data if t.fill != "toself"]
    assert len(lines) == 3 * 2 and len(cosines.data) == 2 * len(lines)
    pair = cosines.layout.annotations[0].text
    rows = source(records, "grad_cosine", "SGD", "task", pair)
    line = next(t for t in lines if t.name == "SGD" and t.xaxis == "x")
    np.testing.assert_allclose(line.y, rows["value"].to_numpy() * (1 + SCALE) / 2, rtol=1e-5, atol=1e-7)
    assert {a.title.text for a in (cosines.layout.xaxis, cosines.layout.xaxis2, cosines.layout.xaxis3)} >= {
        "wall-clock time (s)"
    }
    norms = validated(task_grad_norm_chart(seeded, RUNS, ("a", "b", "c")))
    assert len(norms.data) == 3 * 2  # one mean line per (task, run), no band asked for
    rows = source(records, "task_grad_norm", "Adam", "task", "b")
    line = next(t for t in norms.data if t.name == "Adam" and t.xaxis == "x2")
    np.testing.assert_allclose(line.y, rows["value"].to_numpy() * (1 + SCALE) / 2, rtol=1e-5)
    np.testing.assert_array_equal(line.x, rows["step"].to_numpy())


def test_cosine_heatmaps_average_the_seeds(records: pd.DataFrame, validated) -> None:
    single = cosine_heatmaps(records, RUNS, ("a", "b", "c"))
    seeded = validated(cosine_heatmaps(two_seeds(records), RUNS, ("a", "b", "c")))
    z, z_seeded = (np.asarray(f.data[0].z, dtype=float) for f in (single, seeded))
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(z_seeded[off], z[off] * (1 + SCALE) / 2, rtol=1e-5)
    np.testing.assert_allclose(np.diag(z_seeded), 1.0)
    assert seeded.layout.annotations[0].text.endswith("mean of 2 seeds)")
    assert "seeds" not in single.layout.annotations[0].text


def test_conflict_reading_with_seeds_counts_the_mean_cosine_of_each_step() -> None:
    # 2 of the 8 cosines are negative, but averaged over seeds 2 of the 4 steps are.
    seeds = {0: [-0.5, 0.2, 0.3, 0.4], 1: [0.1, -0.6, 0.3, 0.4]}
    frame = pd.DataFrame(
        [{**rows("R", 10 * i, "A ↔ B", v), "seed": s} for s, vs in seeds.items() for i, v in enumerate(vs)]
    )
    (line,) = conflict_reading(frame)
    assert "**50%** of the time" in line
    assert "median cosine +0.050" in line  # of the step means -0.2, -0.2, 0.3, 0.4


# ----------------------------------------------------------------------------- step size: closed form or measured

STEP_RUNS = ("SGD", "SGD m=0.9", "Adam")


@pytest.fixture(scope="module")
def step_records() -> pd.DataFrame:
    config = ExperimentConfig(
        tasks=SyntheticTasks(targets=(TaskSpec("a"), TaskSpec("b")), num_samples=400),
        optimizers=(
            OptimizerConfig("sgd", 0.05, "SGD"),
            OptimizerConfig("sgd", 0.05, "SGD m=0.9", {"momentum": 0.9}),
            OptimizerConfig("adam", 1e-2, "Adam"),
        ),
        train=TrainConfig(steps=30, stats_every=5, conflict_every=0, batch_size=32),
    )
    return pd.concat(list(Engine(config).run()), ignore_index=True)


def test_step_size_lines_say_whether_they_are_closed_form_or_measured(step_records: pd.DataFrame, validated) -> None:
    records = step_records[step_records["metric"].isin(chart_metrics("effective_lr"))]
    layer = "trunk.0.weight"
    figure = validated(layer_chart(records, STEP_RUNS, [layer], "effective_lr"))
    lines = {t.legendgroup: t for t in figure.data if t.fill != "toself"}
    assert set(lines) == set(STEP_RUNS)
    for run in ("SGD", "Adam"):
        assert lines[run].name == f"{run} (closed form)" and "lr_eff (closed form)" in lines[run].hovertemplate
        assert lines[run].line.dash == "solid"
    momentum = lines["SGD m=0.9"]
    assert momentum.name == "SGD m=0.9 (measured)" and "|Δθ| / |g| (measured)" in momentum.hovertemplate
    assert momentum.line.dash == "dot"
    measured = source(records, "measured_step", "SGD m=0.9", "layer", layer)["value"].to_numpy()
    np.testing.assert_allclose(momentum.y, measured, rtol=1e-6)
    assert not np.allclose(measured, 0.05, rtol=0.05)  # not the flat lr of plain SGD
    np.testing.assert_allclose(lines["SGD"].y, 0.05, rtol=1e-6)
    assert figure.layout.yaxis.title.text == "lr_eff (closed form), solid<br>or |Δθ| / |g| (measured), dotted"
    assert len([t for t in figure.data if t.fill == "toself"]) == 3  # each line keeps its 10-90% band
    only_closed = layer_chart(records, ("SGD", "Adam"), [layer], "effective_lr")
    assert only_closed.layout.yaxis.title.text == "lr_eff (closed form)"


def test_the_lr_sensitivity_view_is_offered_only_where_lr_is_the_one_knob_searched() -> None:
    """A line against lr is only honest when nothing else varies between its points."""
    from types import SimpleNamespace

    from mtlviz.config import ExperimentConfig
    from mtlviz.ui.views.sensitivity import available

    def results(*optimizers: dict) -> SimpleNamespace:
        return SimpleNamespace(config=ExperimentConfig.from_dict({"optimizers": list(optimizers)}))

    assert available(results({"name": "adam", "lr": [1e-3, 1e-2]}))
    assert not available(results({"name": "adam", "lr": 1e-3}))
    assert not available(results({"name": "adam", "lr": [1e-3, 1e-2], "weight_decay": [0.0, 0.1]}))
    assert available(results({"name": "adam", "lr": [1e-3, 1e-2]}, {"name": "sgd", "lr": 0.1, "momentum": [0, 0.9]}))
