"""Learning-rate sensitivity figure: lrs on a log axis, mean over seeds, best and diverged markers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from mtlviz.charts import lr_sensitivity

TASKS = ("a", "b")
SEEDS = (0, 1, 2)
# configuration -> its learning rates, deliberately out of order
SWEEPS = {"Adam": (0.1, 0.001, 1.0, 0.01), "SGD": (0.1, 0.01), "Lion": (3e-4,)}


def label(configuration: str, lr: float) -> str:
    return f"{configuration} lr={lr:g}"


def loss(configuration: str, lr: float, task: str, seed: int) -> float:
    """A valley in log(lr), different per configuration, task and seed; NaN where a seed diverged."""
    if configuration == "Adam" and lr == 1.0:
        return np.nan  # every seed diverged
    if configuration == "Adam" and lr == 0.1 and seed == 2:
        return np.nan  # one seed of three diverged
    centre = {"Adam": -2.0, "SGD": -1.0, "Lion": -3.5}[configuration]
    return 0.1 + 0.05 * (np.log10(lr) - centre) ** 2 + 0.01 * seed + (0.02 if task == "b" else 0.0)


def make_inputs(seeds=SEEDS) -> tuple[pd.DataFrame, pd.DataFrame]:
    final = pd.DataFrame(
        [
            (label(c, lr), seed, task, loss(c, lr, task, seed))
            for c, lrs in SWEEPS.items()
            for lr in lrs
            for seed in seeds
            for task in TASKS
        ],
        columns=["run", "seed", "task", "val_loss"],
    )
    rows = pd.DataFrame(
        [(label(c, lr), c, lr) for c, lrs in SWEEPS.items() for lr in lrs], columns=["run", "configuration", "lr"]
    )
    return final, rows


def lines_of(figure: go.Figure, xaxis: str = "x") -> dict[str, go.Scatter]:
    return {t.name: t for t in figure.data if t.xaxis == xaxis and t.marker.symbol is None}


def test_one_line_per_configuration_over_its_sorted_lrs_on_log_axes(validated):
    final, rows = make_inputs()
    figure = validated(lr_sensitivity(final, rows, TASKS))
    assert [a.text for a in figure.layout.annotations] == list(TASKS)
    for xaxis in ("x", "x2"):
        lines = lines_of(figure, xaxis)
        assert set(lines) == set(SWEEPS)
        np.testing.assert_allclose(lines["Adam"].x, [0.001, 0.01, 0.1], rtol=1e-6)  # lr=1 diverged
        np.testing.assert_allclose(lines["SGD"].x, [0.01, 0.1], rtol=1e-6)
        assert lines["Adam"].mode == "lines+markers"
        assert lines["Lion"].mode == "markers"  # a single lr is a point
    assert [t.showlegend for t in figure.data if t.marker.symbol is None].count(True) == len(SWEEPS)
    axes = sorted(name for name in figure.layout if name.startswith(("xaxis", "yaxis")))
    assert axes == ["xaxis", "xaxis2", "yaxis", "yaxis2"]  # a panel per task
    assert [figure.layout[name].type for name in axes] == ["log"] * 4


def test_points_are_the_mean_over_seeds_with_std_error_bars():
    final, rows = make_inputs()
    sgd = lines_of(lr_sensitivity(final, rows, TASKS), "x2")["SGD"]
    per_seed = np.array([[loss("SGD", lr, "b", seed) for seed in SEEDS] for lr in (0.01, 0.1)])
    np.testing.assert_allclose(sgd.y, per_seed.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(sgd.error_y.array, per_seed.std(axis=1, ddof=0), rtol=1e-5)
    assert "mean of 3 seeds" in sgd.text[0]
    # A partly diverged lr is the mean of the seeds that finished, and says how many diverged.
    adam = lines_of(lr_sensitivity(final, rows, TASKS))["Adam"]
    survivors = [loss("Adam", 0.1, "a", seed) for seed in (0, 1)]
    assert float(adam.y[2]) == pytest.approx(np.mean(survivors), rel=1e-6)
    assert "partly diverged: mean of 2 of 3 seeds (1 diverged)" in adam.text[2]


def test_an_lr_where_every_seed_diverged_is_an_x_at_the_top_of_the_panel():
    final, rows = make_inputs()
    figure = lr_sensitivity(final, rows, TASKS)
    for xaxis, yaxis in (("x", "yaxis"), ("x2", "yaxis2")):
        (marker,) = [t for t in figure.data if t.xaxis == xaxis and t.marker.symbol == "x"]
        assert list(marker.x) == [1.0] and marker.legendgroup == "Adam"
        assert "diverged" in marker.text[0]
        others = np.concatenate([np.asarray(t.y, dtype=float) for t in lines_of(figure, xaxis).values()])
        low, high = figure.layout[yaxis].range
        top = np.log10(float(marker.y[0]))
        assert top > np.log10(others.max()) and low < top <= high  # above every point, inside the panel


def test_the_best_lr_of_each_configuration_is_starred():
    final, rows = make_inputs()
    figure = lr_sensitivity(final, rows, TASKS, best={"Adam": "Adam lr=0.01", "SGD": "SGD lr=0.1"})
    stars = [t for t in figure.data if t.marker.symbol == "star"]
    assert len(stars) == 2 * len(TASKS)
    adam = next(t for t in stars if t.legendgroup == "Adam" and t.xaxis == "x")
    assert list(adam.x) == [pytest.approx(0.01)]
    assert float(adam.y[0]) == pytest.approx(np.mean([loss("Adam", 0.01, "a", s) for s in SEEDS]), rel=1e-6)
    assert "best lr" in adam.text[0]
    assert not [t for t in stars if t.legendgroup == "Lion"]


def test_a_single_seed_has_no_error_bars_and_the_seed_column_is_optional(validated):
    final, rows = make_inputs(seeds=(0,))
    figure = validated(lr_sensitivity(final.drop(columns="seed"), rows, TASKS))
    adam = lines_of(figure)["Adam"]
    assert adam.error_y.array is None
    np.testing.assert_allclose(adam.y, [loss("Adam", lr, "a", 0) for lr in (0.001, 0.01, 0.1)], rtol=1e-6)


def test_no_finite_loss_gives_an_informative_empty_figure():
    final, rows = make_inputs()
    empty = lr_sensitivity(final.assign(val_loss=np.nan), rows, TASKS)
    assert not empty.data
    assert "validation loss" in empty.layout.annotations[0].text
    assert not lr_sensitivity(final.iloc[0:0], rows, TASKS).data


def test_missing_columns_raise():
    final, rows = make_inputs()
    with pytest.raises(ValueError, match="expected columns run, configuration, lr in rows"):
        lr_sensitivity(final, rows.drop(columns="lr"), TASKS)


def test_a_partly_diverged_point_has_its_own_marker_and_no_error_bar_from_one_survivor(validated):
    """lr=1: two of three seeds diverged; the survivor's loss is no mean ± 0 but "1 of 3 seeds", circled."""
    final = pd.DataFrame(
        [("SGD lr=0.1", seed, "a", 0.1 + 0.01 * seed) for seed in SEEDS]
        + [("SGD lr=1", seed, "a", np.nan if seed < 2 else 62.92) for seed in SEEDS]
        + [("SGD lr=10", seed, "a", np.nan) for seed in SEEDS],
        columns=["run", "seed", "task", "val_loss"],
    )
    rows = pd.DataFrame(
        [("SGD lr=0.1", "SGD", 0.1), ("SGD lr=1", "SGD", 1.0), ("SGD lr=10", "SGD", 10.0)],
        columns=["run", "configuration", "lr"],
    )
    figure = validated(lr_sensitivity(final, rows, ("a",)))
    (partly,) = [t for t in figure.data if t.name == "SGD partly diverged"]
    assert partly.marker.symbol == "circle-open" and list(partly.x) == [1.0]
    assert partly.text == ("1 of 3 seeds",)
    assert "mean of 1 of 3 seeds (2 diverged)" in partly.hovertext[0] and "±" not in partly.hovertext[0]
    line = lines_of(figure)["SGD"]
    assert list(line.error_y.array) == [pytest.approx(np.std([0.1, 0.11, 0.12]), rel=1e-5), 0.0]
    (wholly,) = [t for t in figure.data if t.name == "SGD diverged"]
    assert wholly.marker.symbol == "x" and list(wholly.x) == [10.0]
    keys = {t.name for t in figure.data if t.showlegend and t.legendgroup.startswith("key ")}
    assert keys == {"partly diverged: mean of the seeds that did not diverge", "every seed diverged (at the top)"}


def test_a_configuration_takes_the_colour_of_its_first_run_in_the_other_charts():
    final, rows = make_inputs()
    colors = {label("Adam", 0.001): "#111111", label("SGD", 0.1): "#222222", label("Lion", 3e-4): "#333333"}
    colors[label("Adam", 0.1)] = "#999999"
    lines = lines_of(lr_sensitivity(final, rows, TASKS, colors=colors))
    # rows list Adam's lrs as 0.1, 0.001, ...: its first run is lr=0.1
    assert (lines["Adam"].line.color, lines["SGD"].line.color, lines["Lion"].line.color) == (
        "#999999",
        "#222222",
        "#333333",
    )
