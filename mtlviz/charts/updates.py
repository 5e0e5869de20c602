"""The Updates view: per-layer update statistics over time, one panel per layer."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.colors import run_colors
from mtlviz.charts.figure import Panel, build_figure, empty_figure, panel_grid, set_axes
from mtlviz.charts.lines import check_x, line_traces
from mtlviz.charts.seeds import aggregate_seeds
from mtlviz.records import CATALOGUE, EFFECTIVE_LR, MEASURED_STEP, SHARED

# metric -> (menu title, y-axis title), in menu order; the titles are the metric catalogue's.
LAYER_CHARTS = {
    metric: (CATALOGUE[metric].title, CATALOGUE[metric].axis)
    for metric in ("update_ratio", "grad_norm", EFFECTIVE_LR, "update_norm", "weight_decay_norm", "param_norm")
}
# The effective step size chart draws each row's step size as the engine recorded it: the
# closed form where its optimizer's rule is exact, else measured (drawn dotted).
STEP_SIZE_KINDS = {EFFECTIVE_LR: "closed form", MEASURED_STEP: "measured"}


def chart_metrics(metric: str) -> list[str]:
    """The record metrics the chart of `metric` reads (the step size: both kinds, with their percentiles)."""
    if metric != EFFECTIVE_LR:
        return [metric]
    return [f"{kind}{suffix}" for kind in STEP_SIZE_KINDS for suffix in ("", "_p10", "_p90")]


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
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """One panel per layer, one line per configuration.

    update_ratio is drawn as log10 (the 1e-3 rule of thumb reads as -3); the
    effective step size as its median with a 10-90 percentile band; the other
    norms on a log axis. A configuration with several seeds is drawn as its mean
    over seeds, with `band` ("std", "minmax" or None) around it; the effective
    step size keeps its percentile band (averaged over seeds) instead.

    The effective step size of each row is the kind the engine recorded for it:
    effective_lr (closed form, solid) or measured_step (|Δθ| / |g|, dotted); the
    legend, the hover and the axis title say which.
    """
    if metric not in LAYER_CHARTS:
        raise ValueError(f"metric must be one of {', '.join(LAYER_CHARTS)}; found {metric!r}")
    x_title = check_x(x)
    shown = records[records["run"].isin(runs)]
    kinds = [k for k in STEP_SIZE_KINDS if (shown["metric"] == k).any()] if metric == EFFECTIVE_LR else [metric]
    data = shown[shown["metric"].isin(kinds)]
    if data.empty or not layers:
        return empty_figure("No update statistics yet (they are recorded every stats_every steps).")
    colors = run_colors(runs, colors)
    if len(kinds) > 1:  # two short lines: a long axis title is clipped at the panel's height
        y_title = f"{CATALOGUE[EFFECTIVE_LR].axis}, solid<br>or {CATALOGUE[MEASURED_STEP].axis}, dotted"
    else:
        y_title = CATALOGUE[kinds[0]].axis
    layout, panels = panel_grid(
        list(layers),
        cols=2 if len(layers) <= 4 else 3,
        row_height=260,
        x_title=x_title,
        y_title=y_title,
    )
    if metric == EFFECTIVE_LR:
        traces = _step_size_traces(records, kinds, runs, layers, panels, colors, x)
    else:
        # Every metric drawn here is a positive norm or ratio (on a log axis, or as log10).
        summary = aggregate_seeds(data, "layer", band, positive=True)
        traces = line_traces(
            summary.mean,
            runs,
            layers,
            "layer",
            panels,
            colors,
            set(),
            band=summary.band,
            transform=_log10 if metric == "update_ratio" else None,
            label=LAYER_CHARTS[metric][0],
            x=x,
            seeds=summary.seeds,
        )
    if metric != "update_ratio":
        set_axes(layout, "y", type="log", dtick=1)
    layout["legend"] = {"x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = f"layers-{metric}"
    return build_figure(traces, layout)


def _step_size_traces(
    records: pd.DataFrame,
    kinds: list[str],
    runs: list[str] | tuple[str, ...],
    layers: list[str] | tuple[str, ...],
    panels: list[Panel],
    colors: dict[str, str],
    x: str,
) -> list[dict]:
    """Each kind's median lines with their 10-90 percentile bands (averaged over seeds),
    named and hovered with their kind; measured lines dotted."""
    traces = []
    for kind in kinds:
        summary = aggregate_seeds(records[records["metric"] == kind], "layer", None)
        percentiles = (records[records["metric"] == f"{kind}_{p}"] for p in ("p10", "p90"))
        low, high = (aggregate_seeds(rows, "layer", None).mean for rows in percentiles)
        lines = line_traces(
            summary.mean,
            runs,
            layers,
            "layer",
            panels,
            colors,
            set(),  # a row of RAdam can be measured first and closed form later: a legend entry per kind
            dash="dot" if kind == MEASURED_STEP else None,
            label=CATALOGUE[kind].axis,
            band=(low, high),
            x=x,
            seeds=summary.seeds,
        )
        for trace in lines:
            trace["name"] = f"{trace['name']} ({STEP_SIZE_KINDS[kind]})"
        traces += lines
    return traces


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)
