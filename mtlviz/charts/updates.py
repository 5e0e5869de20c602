"""The Updates view: per-layer update statistics over time, one panel per layer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.colors import run_colors
from mtlviz.charts.figure import build_figure, empty_figure, panel_grid, set_axes
from mtlviz.charts.lines import check_x, line_traces
from mtlviz.charts.seeds import aggregate_seeds
from mtlviz.records import CATALOGUE, SHARED

# metric -> (menu title, y-axis title), in menu order; the titles are the metric catalogue's.
LAYER_CHARTS = {
    metric: (CATALOGUE[metric].title, CATALOGUE[metric].axis)
    for metric in ("update_ratio", "grad_norm", "effective_lr", "update_norm", "weight_decay_norm", "param_norm")
}


def layer_names(records: pd.DataFrame) -> list[str]:
    """Layers in model order (the order they were first recorded)."""
    rows = records.loc[~records["layer"].isin(["", SHARED]), "layer"]
    return list(dict.fromkeys(rows))


def layer_chart(
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    layers: list[str] | tuple[str, ...],
    metric: str = "update_ratio",
    x: str = "step",
    band: str | None = None,
) -> go.Figure:
    """One panel per layer, one line per configuration.

    update_ratio is drawn as log10 (the 1e-3 rule of thumb reads as -3); the
    effective step size as its median with a 10-90 percentile band; the other
    norms on a log axis. A configuration with several seeds is drawn as its mean
    over seeds, with `band` ("std", "minmax" or None) around it; the effective
    step size keeps its percentile band (averaged over seeds) instead.
    """
    if metric not in LAYER_CHARTS:
        raise ValueError(f"metric must be one of {', '.join(LAYER_CHARTS)}; found {metric!r}")
    x_title = check_x(x)
    data = records[records["metric"] == metric]
    if data.empty or not layers:
        return empty_figure("No update statistics yet (they are recorded every stats_every steps).")
    colors = run_colors(runs)
    layout, panels = panel_grid(
        list(layers),
        cols=2 if len(layers) <= 4 else 3,
        row_height=260,
        x_title=x_title,
        y_title=LAYER_CHARTS[metric][1],
    )
    if metric == "effective_lr":
        summary = aggregate_seeds(data, "layer", None)
        percentiles = (records[records["metric"] == f"{metric}_{p}"] for p in ("p10", "p90"))
        low, high = (aggregate_seeds(rows, "layer", None).mean for rows in percentiles)
        spread = (low, high)
    else:
        # Every metric drawn here is a positive norm or ratio (on a log axis, or as log10).
        summary = aggregate_seeds(data, "layer", band, positive=True)
        spread = summary.band
    transform = _log10 if metric == "update_ratio" else None
    traces = line_traces(
        summary.mean,
        runs,
        layers,
        "layer",
        panels,
        colors,
        set(),
        band=spread,
        transform=transform,
        label=LAYER_CHARTS[metric][0],
        x=x,
        seeds=summary.seeds,
    )
    if metric != "update_ratio":
        set_axes(layout, "y", type="log", dtick=1)
    layout["legend"] = {"x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = f"layers-{metric}"
    return build_figure(traces, layout)


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)
