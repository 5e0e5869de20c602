"""Line traces: one per (panel, configuration), downsampled, in plain-dict form."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from mtlviz.charts.downsample import downsample, ema
from mtlviz.charts.figure import Panel, compact


def group_series(frame: pd.DataFrame, facet_column: str) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(facet, run) -> (steps, values), in step order.

    One stable argsort over integer codes instead of a pandas groupby: on a
    live refresh with hundreds of thousands of rows this is most of the cost.
    """
    if frame.empty:
        return {}
    facet_codes, facets = _codes(frame[facet_column])
    run_codes, runs = _codes(frame["run"])
    steps = frame["step"].to_numpy()
    values = frame["value"].to_numpy()
    key = facet_codes.astype(np.int64) * (len(runs) + 1) + run_codes
    order = np.lexsort((steps, key))  # by series, then by step
    key, steps, values = key[order], steps[order], values[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    series = {}
    for start, end in zip(starts, ends):
        facet, run = divmod(int(key[start]), len(runs) + 1)
        series[(str(facets[facet]), str(runs[run]))] = (steps[start:end], values[start:end])
    return series


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
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
) -> list[dict]:
    """Traces of one metric: for each facet (panel) a line per run.

    `band`, when given, holds (low, high) rows of the same shape, drawn as a
    translucent area behind each line (e.g. the 10-90 percentile range).
    """
    series = group_series(frame, facet_column)
    lows = group_series(band[0], facet_column) if band else {}
    highs = group_series(band[1], facet_column) if band else {}
    traces: list[dict] = []
    for facet, panel in zip(facets, panels):
        for run in runs:
            if (facet, run) not in series:
                continue
            x, y = series[(facet, run)]
            if smoothing:
                y = ema(y, smoothing)
            if transform is not None:
                y = transform(y)
            x, y = downsample(x, y)
            if band and (facet, run) in lows and (facet, run) in highs:
                traces += _band(lows[(facet, run)], highs[(facet, run)], panel, colors[run], run, transform)
            show = run not in legend_shown
            legend_shown.add(run)
            traces.append(
                {
                    "type": "scatter",
                    "x": compact(x),
                    "y": compact(y),
                    "xaxis": panel.xaxis,
                    "yaxis": panel.yaxis,
                    "mode": "lines+markers" if markers else "lines",
                    "name": run,
                    "legendgroup": run,  # one legend entry toggles a configuration everywhere
                    "showlegend": show,
                    "line": {"color": colors[run], "width": 1.6, "dash": dash or "solid"},
                    "marker": {"size": 4},
                    "hovertemplate": f"{run}<br>step %{{x}}<br>{label or facet} %{{y:.4g}}<extra></extra>",
                }
            )
    return traces


def _band(low: tuple, high: tuple, panel: Panel, color: str, run: str, transform) -> list[dict]:
    x_low, y_low = downsample(*low)
    x_high, y_high = downsample(*high)
    if transform is not None:
        y_low, y_high = transform(y_low), transform(y_high)
    x = np.concatenate([x_low, x_high[::-1]])
    y = np.concatenate([y_low, y_high[::-1]])
    return [
        {
            "type": "scatter",
            "x": compact(x),
            "y": compact(y),
            "xaxis": panel.xaxis,
            "yaxis": panel.yaxis,
            "fill": "toself",
            "fillcolor": _translucent(color),
            "line": {"width": 0},
            "hoverinfo": "skip",
            "legendgroup": run,
            "showlegend": False,
        }
    ]


def _translucent(color: str, alpha: float = 0.18) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"
