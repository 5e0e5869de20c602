"""Loss-space and toy2d contour figures: one path per run, its ends, the Pareto front and set, seeds, size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from mtlviz.charts.colors import run_colors
from mtlviz.charts.downsample import MAX_POINTS
from mtlviz.charts.loss_space import loss_space_chart, path_index, toy2d_contour_chart
from mtlviz.data.toy2d import COORDINATES, pareto_front, pareto_set, toy2d_losses_np
from mtlviz.records import POSITION, TRAIN_LOSS, RecordSchema

RUNS = ("SGD", "Adam", "MGDA")
TASKS = ("L1", "L2")


def make_paths(steps: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(losses, positions), each (S, K, 2): a different curved path per row."""
    t = np.linspace(0, 1, steps)[:, None]  # (S, 1)
    k = np.arange(rows)[None, :]  # (1, K)
    losses = np.stack([8 - 20 * t + k, 6 * np.cos(4 * t) - 10 * t - k], axis=-1)
    positions = np.stack([-8.5 + 9 * t + k, 7.5 - 16 * t + np.sin(6 * t) * (k + 1)], axis=-1)
    return losses, positions


def make_records(
    steps: int = 300,
    runs: tuple[str, ...] = RUNS,
    seeds: tuple[int, ...] | None = None,
    tasks: tuple[str, ...] = TASKS,
    losses: np.ndarray | None = None,
) -> pd.DataFrame:
    """Records in the engine's own schema (categorical columns): train loss and position every step."""
    default_losses, positions = make_paths(steps, len(runs))
    losses = default_losses if losses is None else losses
    schema = RecordSchema(runs, tasks, COORDINATES, seeds)
    at = np.arange(steps)
    seconds = at / 100
    return pd.concat(
        [
            schema.grid(TRAIN_LOSS, losses, at, seconds, tasks),
            schema.grid(POSITION, positions, at, seconds, COORDINATES, axis="layer"),
        ],
        ignore_index=True,
    )


def lines(figure: go.Figure) -> dict[str, go.Scatter]:
    """The path of each run: the line trace named after it."""
    found: dict[str, go.Scatter] = {}
    for trace in figure.data:
        if trace.type == "scatter" and trace.mode == "lines" and trace.name in RUNS + ("A", "B"):
            assert trace.name not in found, f"two paths for {trace.name}"
            found[trace.name] = trace
    return found


def markers(figure: go.Figure, run: str) -> go.Scatter:
    (trace,) = [t for t in figure.data if t.type == "scatter" and t.mode == "markers" and t.legendgroup == run]
    return trace


def named(figure: go.Figure, name: str) -> list:
    return [t for t in figure.data if t.name == name]


# --------------------------------------------------------------------------- loss space


def test_one_path_per_run_from_first_to_last_step(validated):
    losses, _ = make_paths(300, len(RUNS))
    fig = validated(loss_space_chart(make_records(), RUNS, TASKS))
    paths = lines(fig)
    assert list(paths) == list(RUNS)
    colors = run_colors(RUNS)
    for k, run in enumerate(RUNS):
        path = paths[run]
        assert path.line.color == colors[run]
        np.testing.assert_allclose(path.x, losses[:, k, 0], rtol=1e-6)  # L1 along x, every step kept
        np.testing.assert_allclose(path.y, losses[:, k, 1], rtol=1e-6)
        assert path.customdata[0] == 0 and path.customdata[-1] == 299
        assert path.showlegend is not False


def test_first_step_is_a_circle_and_last_a_star():
    losses, _ = make_paths(300, len(RUNS))
    fig = loss_space_chart(make_records(), RUNS, TASKS)
    for k, run in enumerate(RUNS):
        ends = markers(fig, run)
        assert list(ends.marker.symbol) == ["circle", "star"]
        assert ends.marker.color == run_colors(RUNS)[run]
        np.testing.assert_allclose(ends.x, losses[[0, -1], k, 0], rtol=1e-6)
        np.testing.assert_allclose(ends.y, losses[[0, -1], k, 1], rtol=1e-6)
        assert list(ends.customdata) == [0, 299]
        assert ends.showlegend is False  # the run's line carries its legend entry


def test_pareto_front_is_a_grey_line_when_given(validated):
    front = pareto_front(50)
    fig = validated(loss_space_chart(make_records(), RUNS, TASKS, front=front))
    (trace,) = named(fig, "Pareto front")
    np.testing.assert_allclose(trace.x, front[:, 0], rtol=1e-6)
    np.testing.assert_allclose(trace.y, front[:, 1], rtol=1e-6)
    assert trace.line.color.startswith("#8")
    assert fig.data[0].name == "Pareto front"  # drawn first, under the paths
    assert not named(loss_space_chart(make_records(), RUNS, TASKS), "Pareto front")
    with pytest.raises(ValueError, match=r"expected a front of shape \(n, 2\), found shape \(50,\)"):
        loss_space_chart(make_records(), RUNS, TASKS, front=front[:, 0])


def test_any_two_task_names_and_axis_titles(validated):
    tasks = ("price", "click")
    fig = validated(loss_space_chart(make_records(tasks=tasks), RUNS, tasks))
    assert len(lines(fig)) == len(RUNS)
    assert fig.layout.xaxis.title.text == "price train loss"
    assert fig.layout.yaxis.title.text == "click train loss"
    # The tasks' order picks the axes.
    swapped = loss_space_chart(make_records(tasks=tasks), RUNS, tasks[::-1])
    np.testing.assert_array_equal(lines(swapped)["Adam"].x, lines(fig)["Adam"].y)


@pytest.mark.parametrize("tasks", [("L1",), ("a", "b", "c")])
def test_not_two_tasks_gives_an_empty_figure(tasks):
    fig = loss_space_chart(make_records(tasks=tasks, losses=np.zeros((300, 3, len(tasks)))), RUNS, tasks)
    assert not fig.data
    assert f"exactly two tasks; this experiment has {len(tasks)}" in fig.layout.annotations[0].text


def test_no_data_gives_an_empty_figure():
    records = make_records()
    for frame, runs in [(records.iloc[0:0], RUNS), (records[records["metric"] == POSITION], RUNS), (records, ("?",))]:
        fig = loss_space_chart(frame, runs, TASKS, front=pareto_front(10))
        assert not fig.data
        assert "No train loss" in fig.layout.annotations[0].text


def test_only_requested_runs_in_their_order():
    fig = loss_space_chart(make_records(), ["MGDA", "SGD", "missing"], TASKS)
    assert list(lines(fig)) == ["MGDA", "SGD"]
    assert lines(fig)["MGDA"].line.color == run_colors(["MGDA", "SGD", "missing"])["MGDA"]


def test_steps_missing_one_task_are_left_out():
    records = make_records()
    gap = (records["task"] == "L2") & (records["step"] == 7) & (records["run"] == "Adam")
    fig = loss_space_chart(records[~gap], RUNS, TASKS)
    steps = np.asarray(lines(fig)["Adam"].customdata)
    assert 7 not in steps and len(steps) == 299
    assert len(lines(fig)["SGD"].customdata) == 300


def test_several_seeds_are_one_mean_path(validated):
    steps = 100
    losses = np.zeros((steps, 4, 2))
    base, _ = make_paths(steps, 1)
    losses[:, 0] = losses[:, 2] = base[:, 0]  # seed 0 of A and of B
    losses[:, 1] = base[:, 0] + 2.0  # seed 1 of A
    losses[:, 3] = base[:, 0] + 4.0  # seed 1 of B
    records = make_records(steps, runs=("A", "A", "B", "B"), seeds=(0, 1, 0, 1), losses=losses)
    fig = validated(loss_space_chart(records, ("A", "B"), TASKS))
    paths = lines(fig)
    assert list(paths) == ["A", "B"]
    np.testing.assert_allclose(paths["A"].x, base[:, 0, 0] + 1.0, rtol=1e-6)
    np.testing.assert_allclose(paths["B"].y, base[:, 0, 1] + 2.0, rtol=1e-6)
    assert "mean of 2 seeds" in paths["A"].hovertemplate


@pytest.mark.parametrize(("shift", "log"), [(30.0, True), (0.0, False)])
def test_log_axes_only_when_every_loss_is_positive(shift, log, validated):
    losses, _ = make_paths(300, len(RUNS))
    records = make_records(losses=losses + shift)  # the default paths cross zero
    fig = validated(loss_space_chart(records, RUNS, TASKS, log=True))
    assert (fig.layout.xaxis.type == "log") == log and (fig.layout.yaxis.type == "log") == log
    assert loss_space_chart(records, RUNS, TASKS).layout.xaxis.type != "log"
    # A front below zero keeps positive paths on linear axes too.
    assert loss_space_chart(records, RUNS, TASKS, front=pareto_front(5), log=True).layout.xaxis.type != "log"


def test_long_paths_are_downsampled_in_order_keeping_both_ends():
    steps = 20_000
    losses, _ = make_paths(steps, len(RUNS))
    fig = loss_space_chart(make_records(steps), RUNS, TASKS)
    for k, run in enumerate(RUNS):
        path = lines(fig)[run]
        drawn = np.asarray(path.customdata)
        assert len(path.x) == len(path.y) == len(drawn) <= MAX_POINTS
        assert len(drawn) > MAX_POINTS // 2
        assert drawn[0] == 0 and drawn[-1] == steps - 1
        assert (np.diff(drawn) > 0).all()  # in step order: the line is the path, not a zig-zag
        np.testing.assert_allclose(path.x, losses[drawn, k, 0], rtol=1e-6)
        np.testing.assert_allclose(path.y, losses[drawn, k, 1], rtol=1e-6)


def test_path_index_keeps_a_fast_start_and_a_slow_end():
    # The path covers nearly all its length in its first 20 steps, then crawls for 9,980 more.
    n = 10_000
    a = np.concatenate([np.linspace(0, 10, 20), 10 + np.linspace(0, 0.01, n - 20)])
    b = np.concatenate([np.linspace(0, -5, 20), np.full(n - 20, -5.0)])
    index = path_index(a, b, 200)
    assert len(index) <= 200 and index[0] == 0 and index[-1] == n - 1
    assert set(range(20)) <= set(index.tolist())  # every step of the jump
    assert (index > 5_000).sum() >= 40  # and the crawl, evenly over its steps
    assert (np.diff(index) > 0).all()
    assert path_index(a[:200], b[:200], 200) is None


# --------------------------------------------------------------------------- toy2d contour


def contour(fig: go.Figure) -> go.Contour:
    (trace,) = [t for t in fig.data if t.type == "contour"]
    return trace


@pytest.mark.parametrize("resolution", [40, 200])
def test_contour_of_the_mean_loss_at_the_requested_resolution(resolution, validated):
    fig = validated(toy2d_contour_chart(make_records(), RUNS, resolution=resolution))
    trace = contour(fig)
    x, y, z = np.asarray(trace.x), np.asarray(trace.y), np.asarray(trace.z)
    assert z.shape == (resolution, resolution) and len(x) == len(y) == resolution
    assert x[0] == y[0] == -10 and x[-1] == y[-1] == 10
    # Row i is x2 = y[i] and column j is x1 = x[j].
    for i, j in [(0, resolution - 1), (resolution // 3, 2), (resolution - 1, resolution // 2)]:
        l1, l2 = toy2d_losses_np(x[j], y[i])
        assert z[i, j] == pytest.approx((l1 + l2) / 2, rel=1e-5, abs=1e-5)
    assert trace.colorscale[0][1] == "#0d0887"  # plasma's dark end, spelled out
    assert trace.contours.coloring == "heatmap"


def test_one_position_path_per_run_with_its_ends(validated):
    _, positions = make_paths(300, len(RUNS))
    fig = validated(toy2d_contour_chart(make_records(), RUNS))
    paths = lines(fig)
    assert list(paths) == list(RUNS)
    for k, run in enumerate(RUNS):
        np.testing.assert_allclose(paths[run].x, positions[:, k, 0], rtol=1e-6)
        np.testing.assert_allclose(paths[run].y, positions[:, k, 1], rtol=1e-6)
        assert paths[run].line.color == run_colors(RUNS)[run]
        ends = markers(fig, run)
        assert list(ends.marker.symbol) == ["circle", "star"]
        np.testing.assert_allclose(ends.x, positions[[0, -1], k, 0], rtol=1e-6)
        np.testing.assert_allclose(ends.y, positions[[0, -1], k, 1], rtol=1e-6)
        # An outline under the line, toggled with it, so it shows on both ends of the colour scale.
        (outline,) = named(fig, f"{run}: outline")
        assert outline.legendgroup == run and outline.line.width > paths[run].line.width


def test_pareto_set_start_and_equal_axes():
    fig = toy2d_contour_chart(make_records(), RUNS, start=(-8.5, 7.5))
    (pareto,) = named(fig, "Pareto set")
    np.testing.assert_allclose(np.c_[pareto.x, pareto.y], pareto_set(200), rtol=1e-6)
    assert pareto.line.width >= 5
    (start,) = named(fig, "start")
    assert (start.x[0], start.y[0]) == (-8.5, 7.5)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert list(fig.layout.xaxis.range) == [-10, 10] and list(fig.layout.yaxis.range) == [-10, 10]


def test_before_any_step_the_map_and_pareto_set_show(validated):
    fig = validated(toy2d_contour_chart(make_records().iloc[0:0], RUNS, start=(9.0, 9.0)))
    assert np.isfinite(np.asarray(contour(fig).z, dtype=float)).all()
    assert named(fig, "Pareto set") and named(fig, "start")
    assert not lines(fig)


def test_a_path_leaving_the_square_widens_the_map_not_its_colours():
    records = make_records()
    square = contour(toy2d_contour_chart(records, RUNS, resolution=50))
    far = records.copy()
    far.loc[(far["layer"] == "x1") & (far["step"] == 299), "value"] = -27.4
    fig = toy2d_contour_chart(far, RUNS, resolution=50)
    wide = contour(fig)
    assert wide.x[0] == -29 and wide.x[-1] == 9  # the paths and the Pareto set, with room, not the square
    assert fig.layout.xaxis.range[0] == -29
    # Colours and levels stay those of the square, where the interesting valleys are.
    assert (wide.zmin, wide.zmax) == (square.zmin, square.zmax)
    assert np.asarray(wide.z).max() > wide.zmax + 20


def test_paths_far_from_the_square_get_the_axes_not_a_corner(validated):
    records = make_records()
    moved = records.copy()
    moved.loc[moved["layer"] == "x1", "value"] += 40  # every path far right of the square
    fig = validated(toy2d_contour_chart(moved, RUNS, start=(31.5, 7.5)))
    x_low, x_high = fig.layout.xaxis.range
    x1 = moved.loc[moved["layer"] == "x1", "value"]
    # From just left of the Pareto set (x1 >= -7) to just right of the paths: no empty square beside them.
    assert -9 <= x_low <= -7 and x1.max() < x_high <= x1.max() + 3
    y_low, y_high = fig.layout.yaxis.range
    assert y_low <= pareto_set(200)[:, 1].min() and y_high >= 7.5


def test_a_bad_resolution_raises():
    with pytest.raises(ValueError, match=r"expected a resolution in \[2, 1000\], found 1"):
        toy2d_contour_chart(make_records(), RUNS, resolution=1)


def test_figures_stay_light():
    runs = tuple(f"run {i}" for i in range(8))
    records = make_records(10_000, runs=runs)
    space = loss_space_chart(records, runs, TASKS, front=pareto_front())
    landscape = toy2d_contour_chart(records, runs, start=(-8.5, 7.5))
    assert len(space.to_json()) < 500_000
    assert len(landscape.to_json()) < 1_000_000
    # On the map each path is drawn twice (line and outline), from half the points.
    assert all(len(t.x) <= MAX_POINTS // 2 for t in landscape.data if t.type == "scatter")
    assert max(len(t.x) for t in landscape.data if t.type == "scatter") > MAX_POINTS // 4
