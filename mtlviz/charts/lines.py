"""Line traces: one per (panel, configuration), downsampled, in plain-dict form."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from mtlviz.charts.downsample import MAX_POINTS, downsample_index, ema
from mtlviz.charts.figure import Panel, compact
from mtlviz.charts.text import plotly_text, template_text

# What a line can be drawn against, and its axis title.
X_AXES = {"step": "step", "seconds": "wall-clock time (s)"}

Series = tuple[np.ndarray, np.ndarray, np.ndarray]  # (steps, x, values), in step order


def check_x(x: str) -> str:
    if x not in X_AXES:
        raise ValueError(f"x must be one of {tuple(X_AXES)}, found {x!r}")
    return X_AXES[x]


def group_series(frame: pd.DataFrame, facet_column: str, x: str = "step") -> dict[tuple[str, str], Series]:
    """(facet, run) -> (steps, x values, values), in step order.

    One sort over integer codes instead of a pandas groupby (none when the rows
    are already in that order): on a live refresh with hundreds of thousands of
    rows this is most of the cost.
    The x values are the steps themselves unless x="seconds".
    """
    if frame.empty:
        return {}
    facet_codes, facets = label_codes(frame[facet_column])
    run_codes, runs = label_codes(frame["run"])
    steps = frame["step"].to_numpy()
    values = frame["value"].to_numpy()
    key = facet_codes.astype(np.int64) * (len(runs) + 1) + run_codes
    xs = steps if x == "step" else frame[x].to_numpy()
    if not _in_series_order(key, steps):
        order = np.lexsort((steps, key))  # by series, then by step
        key, steps, values = key[order], steps[order], values[order]
        xs = steps if x == "step" else xs[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    series = {}
    for start, end in zip(starts, ends):
        facet, run = divmod(int(key[start]), len(runs) + 1)
        series[(str(facets[facet]), str(runs[run]))] = (steps[start:end], xs[start:end], values[start:end])
    return series


def _in_series_order(key: np.ndarray, steps: np.ndarray) -> bool:
    """Whether rows already run series by series in step order (a seed summary does).

    A live log's rows are in step order across series: the look at the first
    rows fails at once, so the check costs little next to the sort it may save.
    """
    head = key[:4096]
    if not (head[1:] >= head[:-1]).all() or not (key[1:] >= key[:-1]).all():
        return False
    return bool(((key[1:] != key[:-1]) | (steps[1:] >= steps[:-1])).all())


def label_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(integer code of each row, the labels): a categorical's own codes, or factorized."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), np.asarray(column.cat.categories)
    codes, uniques = pd.factorize(column)
    return codes, np.asarray(uniques)


def line_traces(
    frame: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    facets: list[str] | tuple[str, ...],
    facet_column: str,
    panels: list[Panel],
    colors: dict[str, str],
    legend_shown: set[str],
    *,
    dash: str | None = None,
    markers: bool = False,
    smoothing: float = 0.0,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    label: str = "",
    band: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    x: str = "step",
    seeds: dict[str, int] | None = None,
    diverged: Mapping[str, Mapping[int, int]] | None = None,
) -> list[dict]:
    """Traces of one metric: for each facet (panel) a line per run.

    `band`, when given, holds (low, high) rows of the same shape, drawn as a
    translucent area behind each line (the 10-90 percentile range, or the
    spread over seeds); smoothing applies to its edges as to the line.
    `x` is the column drawn along the x axis ("step" or "seconds"); `seeds`
    (run -> number of seeds) makes the hover say the line is a mean;
    `diverged` (run -> {seed: step it diverged}, from the run's metadata) makes
    each point's hover, and the legend, say how many seeds the mean rests on
    after a seed stopped.
    """
    check_x(x)
    series = group_series(frame, facet_column, x)
    lows = group_series(band[0], facet_column, x) if band else {}
    highs = group_series(band[1], facet_column, x) if band else {}
    x_hover = "step %{x}" if x == "step" else "%{x:.4g} s"
    traces: list[dict] = []
    for facet, panel in zip(facets, panels):
        for run in runs:
            if (facet, run) not in series:
                continue
            steps, xs, y = series[(facet, run)]
            steps, xs, y = _prepared(steps, xs, y, smoothing, transform, with_steps=True)
            if band and (facet, run) in lows and (facet, run) in highs:
                # A quarter of the points per edge: a translucent area needs less detail than a line.
                low = _prepared(*lows[(facet, run)], smoothing, transform, MAX_POINTS // 4)
                high = _prepared(*highs[(facet, run)], smoothing, transform, MAX_POINTS // 4)
                traces.append(_band(low, high, panel, colors[run], run))
            show = run not in legend_shown
            legend_shown.add(run)
            n = (seeds or {}).get(run, 1)
            name = run if n == 1 else f"{run} (mean of {n} seeds)"
            stopped = (diverged or {}).get(run, {}) if n > 1 else {}
            traces.append(
                {
                    "type": "scatter",
                    "x": compact(xs),
                    "y": compact(y),
                    "xaxis": panel.xaxis,
                    "yaxis": panel.yaxis,
                    "mode": "lines+markers" if markers else "lines",
                    "name": plotly_text(run),
                    "legendgroup": run,  # one legend entry toggles a configuration everywhere
                    "showlegend": show,
                    "line": {"color": colors[run], "width": 1.6, "dash": dash or "solid"},
                    # Markers in the line's colour, not the default colour of the trace's position.
                    "marker": {"size": 4, "color": colors[run]} if markers else {"size": 4},
                    "hovertemplate": f"{template_text(name)}<br>{x_hover}<br>{template_text(label or facet)} %{{y:.4g}}"
                    "<extra></extra>",
                }
            )
            if stopped:
                traces[-1].update(_rests_on(run, steps, n, stopped, x_hover, label or facet))
    return traces


def _rests_on(run: str, steps: np.ndarray, seeds: int, stopped: Mapping[int, int], x_hover: str, label: str) -> dict:
    """Name and hover of a mean line some of whose seeds diverged: on how many seeds each point rests.

    A seed that diverged at step s has no finite loss from s on, so the points
    from s on are the mean of the others.
    """
    at = np.sort(np.fromiter(stopped.values(), dtype=np.int64))  # (diverged seeds,)
    gone = np.searchsorted(at, steps, side="right")  # (points,): seeds diverged at or before each point
    said = np.array(
        [f"mean of {seeds} seeds"]
        + [f"mean of {seeds - k} of {seeds} seeds ({k} diverged)" for k in range(1, seeds + 1)]
    )[np.minimum(gone, seeds)]
    left = seeds - min(len(at), seeds)
    return {
        "name": f"{plotly_text(run)} ({left} of {seeds} seeds after step {int(at[-1])})",
        "customdata": said,
        "hovertemplate": f"{template_text(run)}<br>{x_hover}<br>{template_text(label)} %{{y:.4g}}<br>%{{customdata}}"
        "<extra></extra>",
    }


def _prepared(
    steps: np.ndarray,
    xs: np.ndarray,
    y: np.ndarray,
    smoothing: float,
    transform,
    max_points: int = MAX_POINTS,
    with_steps: bool = False,
) -> tuple[np.ndarray, ...]:
    """(x, y) smoothed, transformed and downsampled, (steps, x, y) `with_steps`; points are chosen on the steps."""
    if smoothing:
        y = ema(y, smoothing)
    if transform is not None:
        y = transform(y)
    index = downsample_index(steps, y, max_points)
    if index is not None:
        steps, xs, y = steps[index], xs[index], y[index]
    return (steps, xs, y) if with_steps else (xs, y)


def _band(low: tuple, high: tuple, panel: Panel, color: str, run: str) -> dict:
    x_low, y_low = low
    x_high, y_high = high
    x = np.concatenate([x_low, x_high[::-1]])
    y = np.concatenate([y_low, y_high[::-1]])
    return {
        "type": "scatter",
        "x": compact(x),
        "y": compact(y),
        "xaxis": panel.xaxis,
        "yaxis": panel.yaxis,
        "fill": "toself",
        "fillcolor": _translucent(color),
        "line": {"width": 0},
        "hoverinfo": "skip",
        "name": plotly_text(run),
        "legendgroup": run,
        "showlegend": False,
    }


def _translucent(color: str, alpha: float = 0.18) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"
