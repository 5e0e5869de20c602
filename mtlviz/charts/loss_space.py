"""Loss space: one task's loss against the other's, and the toy2d landscape with the paths taken.

`loss_space_chart` draws any two-task experiment as trajectories in the
(L_a, L_b) plane, one per configuration, with the Pareto front when it is
known. `toy2d_contour_chart` draws the toy2d problem in its own parameter
space: the mean loss as a contour map, the Pareto set, and the path of each
configuration's point. Both are pure: records in, figure out.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import get_colorscale

from mtlviz.charts.colors import run_colors
from mtlviz.charts.downsample import MAX_POINTS
from mtlviz.charts.figure import AXIS, TEMPLATE_LAYOUT, build_figure, compact, empty_figure
from mtlviz.charts.lines import group_series
from mtlviz.charts.seeds import aggregate_seeds
from mtlviz.charts.text import plotly_text, template_text
from mtlviz.data.toy2d import COORDINATES, X_RANGE, pareto_set, toy2d_losses_np
from mtlviz.records import POSITION, TRAIN_LOSS

FRONT_COLOR = "#8c8c8c"
PARETO_SET_COLOR = "rgba(235, 235, 235, 0.85)"  # light, to stand out on the dark low end of the colour scale
MAX_RESOLUTION = 1000
# Points per path on the contour map: each is drawn twice (with its outline) on a map some 500
# pixels across, so half the usual budget is still finer than a pixel and keeps the figure light.
PATH_POINTS = MAX_POINTS // 2
# Spelled out: figures skip validation, which is what turns a name like "Plasma" into colours.
PLASMA = get_colorscale("Plasma")

Trajectory = tuple[np.ndarray, np.ndarray, np.ndarray]  # (steps, a, b), in step order


def loss_space_chart(
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    tasks: list[str] | tuple[str, ...] = ("L1", "L2"),
    front: np.ndarray | None = None,
    log: bool = False,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Train loss of tasks[0] (x) against tasks[1] (y), one trajectory per configuration.

    Each trajectory runs through the configuration's train losses in step order
    (the mean over seeds at each step, when it has several), from a circle at
    its first step to a star at its last. `front`, an (n, 2) array of loss
    pairs, is drawn as a grey line. `log` makes both axes logarithmic when every
    drawn loss is positive; otherwise they stay linear (toy2d's losses go below zero).
    """
    tasks = tuple(tasks)
    if len(tasks) != 2:
        return empty_figure(f"Loss space needs exactly two tasks; this experiment has {len(tasks)}.")
    if front is not None:
        front = np.asarray(front, dtype=np.float64)
        if front.ndim != 2 or front.shape[1] != 2:
            raise ValueError(f"expected a front of shape (n, 2), found shape {front.shape}")
    rows = records[(records["metric"] == TRAIN_LOSS) & records["task"].isin(tasks) & records["run"].isin(runs)]
    paths, seeds = _paths(rows, "task", tasks, runs)
    if not paths:
        return empty_figure(f"No train loss of both {plotly_text(tasks[0])} and {plotly_text(tasks[1])} recorded yet.")

    drawn = [np.concatenate([a, b]) for _, a, b in paths.values()]
    if front is not None:
        drawn.append(front.ravel())
    log = log and bool((np.concatenate(drawn) > 0).all())
    traces: list[dict] = []
    if front is not None:
        traces.append(
            {
                "type": "scatter",
                "x": compact(front[:, 0]),
                "y": compact(front[:, 1]),
                "mode": "lines",
                "name": "Pareto front",
                "line": {"color": FRONT_COLOR, "width": 6},
                "opacity": 0.6,
                "hovertemplate": f"Pareto front<br>{template_text(tasks[0])} %{{x:.4g}}"
                f"<br>{template_text(tasks[1])} %{{y:.4g}}<extra></extra>",
            }
        )
    colors = run_colors(runs, colors)
    labels = {"x": tasks[0], "y": tasks[1]}
    for run, path in paths.items():
        traces += _trajectory(run, path, colors[run], seeds.get(run, 1), labels, log)

    axis = {**AXIS, "type": "log"} if log else dict(AXIS)
    layout = {
        **TEMPLATE_LAYOUT,
        "height": 480,
        "xaxis": {**axis, "title": {"text": f"{plotly_text(tasks[0])} train loss"}},
        "yaxis": {**axis, "title": {"text": f"{plotly_text(tasks[1])} train loss"}},
        "legend": {"title": {"text": "● first step  ★ last step"}, "x": 1.01, "y": 1, "yanchor": "top"},
        "uirevision": "loss_space",  # keeps zoom and legend toggles across live refreshes
    }
    return build_figure(traces, layout)


def toy2d_contour_chart(
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    start: tuple[float, float] | None = None,
    resolution: int = 200,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """The toy2d landscape in (x1, x2): mean loss contours, the Pareto set, and each configuration's path.

    The contour map is (L1 + L2) / 2 on a resolution x resolution grid over
    [-10, 10]^2; when a path or `start` leaves it, over the paths, the start and
    the Pareto set (with a little room, rounded out to whole numbers) instead;
    paths come from the `position` records (mean over seeds) and run from a
    circle at the first step to a star at the last; `start`, when given, marks
    the configured start point (shown before any step is recorded).
    Both axes have the same scale, so the landscape is not stretched.
    """
    if not 2 <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"expected a resolution in [2, {MAX_RESOLUTION}], found {resolution}")
    rows = records[(records["metric"] == POSITION) & records["layer"].isin(COORDINATES) & records["run"].isin(runs)]
    paths, seeds = _paths(rows, "layer", COORDINATES, runs)
    pareto = pareto_set(200)
    x_values = [pareto[:, 0]] + [a for _, a, _ in paths.values()]
    y_values = [pareto[:, 1]] + [b for _, _, b in paths.values()]
    if start is not None:
        x_values.append(np.array([start[0]], dtype=np.float64))
        y_values.append(np.array([start[1]], dtype=np.float64))
    if _within(x_values, X_RANGE) and _within(y_values, X_RANGE):
        x_bounds = y_bounds = X_RANGE  # the papers' square, when everything is in it
    else:  # fitted to the paths and the Pareto set: a path far out does not squeeze them into a corner
        x_bounds, y_bounds = _bounds(x_values), _bounds(y_values)

    x_grid, y_grid, mean = _landscape(resolution, x_bounds, y_bounds)
    # Colours and contour levels span the square's values: a widened map reaches losses of 70
    # and more far out, which would wash out the valleys the paths are in.
    square = _landscape(resolution, X_RANGE, X_RANGE)[2]
    size = _level_step(float(square.max() - square.min()))
    # Levels on round numbers (-16, -15, ...), so the colour bar's ticks read cleanly.
    low, high = np.floor(square.min() / size) * size, np.ceil(square.max() / size) * size
    low, high = float(low), float(high)
    traces: list[dict] = [
        {
            "type": "contour",
            "x": x_grid,
            "y": y_grid,
            "z": mean,
            "colorscale": PLASMA,
            "zmin": low,
            "zmax": high,
            "autocontour": False,
            "contours": {"start": low, "end": high, "size": size, "coloring": "heatmap"},
            "line": {"width": 0.5, "color": "rgba(255, 255, 255, 0.4)"},
            "colorbar": {"title": {"text": "(L1 + L2) / 2"}},
            "name": "mean loss",
            "showlegend": False,
            "hovertemplate": "x1 %{x:.3g}<br>x2 %{y:.3g}<br>(L1 + L2) / 2 %{z:.4g}<extra></extra>",
        }
    ]
    traces.append(
        {
            "type": "scatter",
            "x": compact(pareto[:, 0]),
            "y": compact(pareto[:, 1]),
            "mode": "lines",
            "name": "Pareto set",
            "line": {"color": PARETO_SET_COLOR, "width": 7},
            "hovertemplate": "Pareto set<br>x1 %{x:.3g}<br>x2 %{y:.4g}<extra></extra>",
        }
    )
    if start is not None:
        traces.append(
            {
                "type": "scatter",
                "x": compact(np.array([start[0]], dtype=np.float64)),
                "y": compact(np.array([start[1]], dtype=np.float64)),
                "mode": "markers",
                "name": "start",
                "marker": {"symbol": "circle-open", "size": 16, "color": "black", "line": {"width": 2.5}},
                "hovertemplate": f"start ({start[0]:g}, {start[1]:g})<extra></extra>",
            }
        )
    colors = run_colors(runs, colors)
    labels = {"x": "x1", "y": "x2"}
    for run, path in paths.items():
        traces += _trajectory(run, path, colors[run], seeds.get(run, 1), labels, False, True, PATH_POINTS)

    layout = {
        **TEMPLATE_LAYOUT,
        "height": 560,
        "xaxis": {**AXIS, "range": list(x_bounds), "title": {"text": "x1"}, "constrain": "domain"},
        # Equal scaling: one unit of x2 is as long as one unit of x1.
        # constrain "domain" on both: equal scaling shrinks the plot area, never widens a range past the map.
        "yaxis": {
            **AXIS,
            "range": list(y_bounds),
            "title": {"text": "x2"},
            "scaleanchor": "x",
            "scaleratio": 1,
            "constrain": "domain",
        },
        # Below the map: the colour bar takes the right-hand side.
        "legend": {"title": {"text": "● first step  ★ last step"}, "orientation": "h", "y": -0.12, "yanchor": "top"},
        "uirevision": "toy2d_contour",
    }
    return build_figure(traces, layout)


def _level_step(span: float, levels: int = 25) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about `levels` contour levels over `span`."""
    raw = span / levels if span > 0 else 1.0
    power = 10 ** np.floor(np.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _bounds(values: list[np.ndarray]) -> tuple[float, float]:
    """(low, high) covering all values with a little room for the markers, rounded out to whole numbers
    so the cached map is reused."""
    joined = np.concatenate(values)
    low, high = float(joined.min()), float(joined.max())
    room = max(0.5, 0.03 * (high - low))
    return float(np.floor(low - room)), float(np.ceil(high + room))


def _within(values: list[np.ndarray], square: tuple[float, float]) -> bool:
    joined = np.concatenate(values)
    return bool(square[0] <= joined.min() and joined.max() <= square[1])


@lru_cache(maxsize=8)
def _landscape(
    resolution: int, x_bounds: tuple[float, float], y_bounds: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x1 grid, x2 grid, mean loss) of the contour map, float32; cached, as live refreshes redraw the same map."""
    x_grid = np.linspace(*x_bounds, resolution)
    y_grid = np.linspace(*y_bounds, resolution)
    x1, x2 = np.meshgrid(x_grid, y_grid)  # z[i, j] is at (x_grid[j], y_grid[i]): rows run along x2, as Plotly expects
    l1, l2 = toy2d_losses_np(x1, x2)
    arrays = compact(x_grid), compact(y_grid), compact((l1 + l2) / 2)
    for array in arrays:
        array.flags.writeable = False  # shared by every figure drawn from the cache
    return arrays


def _paths(
    rows: pd.DataFrame, facet_column: str, names: tuple[str, str], runs: list[str] | tuple[str, ...]
) -> tuple[dict[str, Trajectory], dict[str, int]]:
    """run -> (steps, value of names[0], value of names[1]) at the steps both have; and seeds per run.

    Each configuration's seeds are averaged step by step first, so a run with
    several seeds is one path.
    """
    if rows.empty:
        return {}, {}
    summary = aggregate_seeds(rows, facet_column, band=None)
    series = group_series(summary.mean, facet_column)
    paths = {}
    for run in runs:
        if (names[0], run) not in series or (names[1], run) not in series:
            continue
        steps_a, _, a = series[(names[0], run)]
        steps_b, _, b = series[(names[1], run)]
        steps, at_a, at_b = np.intersect1d(steps_a, steps_b, return_indices=True)
        if len(steps):
            paths[run] = (steps, a[at_a], b[at_b])
    return paths, summary.seeds


def path_index(a: np.ndarray, b: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray | None:
    """Positions of at most `max_points` points of the path (a, b) to draw, in path order; None keeps all.

    A path is a curve in the plane, not a function of x, so x-sorted schemes
    (MinMaxLTTB) do not apply. Half the points are spread evenly over the
    steps and half evenly over the path's length (each axis scaled by its
    span): a path that jumps early and then crawls keeps both its jump and its
    crawl. The first and last points are always kept.
    """
    n = len(a)
    if n <= max_points:
        return None
    by_step = np.linspace(0, n - 1, max_points // 2).round().astype(np.int64)
    steps_a = np.diff(a) / (np.ptp(a) or 1.0)
    steps_b = np.diff(b) / (np.ptp(b) or 1.0)
    length = np.concatenate([[0.0], np.cumsum(np.hypot(steps_a, steps_b))])
    targets = np.linspace(0.0, length[-1], max_points - max_points // 2)
    by_length = np.minimum(np.searchsorted(length, targets), n - 1)
    return np.unique(np.concatenate([by_step, by_length, [0, n - 1]]))


def _trajectory(
    run: str,
    path: Trajectory,
    color: str,
    seeds: int,
    labels: dict[str, str],
    log: bool,
    outline: bool = False,
    max_points: int = MAX_POINTS,
) -> list[dict]:
    """A configuration's path as a line, and a marker trace with its first (circle) and last (star) point.

    `outline` draws the line over a wider one in a contrasting shade, for a
    path over a coloured map, where an orange line on the map's yellow end or a
    blue one on its dark end would vanish.
    """
    steps, a, b = path
    # Chosen on log values on log axes, where a decade is as long at 1e-3 as at 1.
    index = path_index(np.log10(a), np.log10(b), max_points) if log else path_index(a, b, max_points)
    if index is not None:
        steps, a, b = steps[index], a[index], b[index]
    x, y, at = compact(a), compact(b), compact(steps)
    name = run if seeds == 1 else f"{run} (mean of {seeds} seeds)"
    x_label, y_label = template_text(labels["x"]), template_text(labels["y"])
    hover = (
        f"{template_text(name)}<br>step %{{customdata}}<br>{x_label} %{{x:.4g}}<br>{y_label} %{{y:.4g}}<extra></extra>"
    )
    edge = _contrast(color) if outline else "white"
    traces = []
    if outline:
        traces.append(
            {
                "type": "scatter",
                "x": x,
                "y": y,
                "mode": "lines",
                "name": f"{plotly_text(run)}: outline",
                "legendgroup": run,
                "showlegend": False,
                "line": {"color": edge, "width": 4.5},
                "hoverinfo": "skip",
            }
        )
    traces.append(
        {
            "type": "scatter",
            "x": x,
            "y": y,
            "customdata": at,
            "mode": "lines",
            "name": plotly_text(run),
            "legendgroup": run,  # one legend entry toggles the path, its outline and its markers
            "line": {"color": color, "width": 2},
            "hovertemplate": hover,
        }
    )
    ends = [0, len(a) - 1]
    traces.append(
        {
            "type": "scatter",
            "x": x[ends],
            "y": y[ends],
            "customdata": at[ends],
            "mode": "markers",
            "name": f"{plotly_text(run)}: first and last step",
            "legendgroup": run,
            "showlegend": False,
            "marker": {
                "symbol": ["circle", "star"],
                "size": [10, 16],
                "color": color,
                "line": {"color": edge, "width": 1.5},
            },
            "hovertemplate": hover,
        }
    )
    return traces


def _contrast(color: str) -> str:
    """A translucent black outline for a light "#rrggbb" colour, white for a dark one."""
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    light = 0.299 * r + 0.587 * g + 0.114 * b > 0.5  # perceived brightness (ITU-R BT.601 weights)
    return "rgba(0, 0, 0, 0.7)" if light else "rgba(255, 255, 255, 0.85)"
