"""Per-task loss curves: one panel per task, one colour per configuration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.colors import run_colors
from mtlviz.charts.figure import Panel, build_figure, compact, panel_grid, set_axes
from mtlviz.charts.lines import line_traces

SPLITS = ("train", "validation", "both")


def loss_curves(
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    tasks: list[str] | tuple[str, ...],
    split: str = "both",
    log_y: bool = True,
    smoothing: float = 0.0,
    diverged: dict[str, int] | None = None,
    step_range: tuple[int, int] | None = None,
) -> go.Figure:
    """Loss against step per task.

    Train loss is a solid line (EMA-smoothed by `smoothing`), validation loss a
    dashed line with markers; a configuration that diverged ends in an x marked
    "diverged at step N".
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, found {split!r}")
    colors = run_colors(runs)
    layout, panels = panel_grid(list(tasks), cols=2 if len(tasks) <= 4 else 3, y_title="loss")
    data = records if step_range is None else records[records["step"].between(*step_range)]
    shown: set[str] = set()
    traces: list[dict] = []
    if split in ("train", "both"):
        train = data[data["metric"] == "train_loss"]
        traces += line_traces(
            train, runs, tasks, "task", panels, colors, shown, smoothing=smoothing, label="train loss"
        )
    if split in ("validation", "both"):
        val = data[data["metric"] == "val_loss"]
        traces += line_traces(
            val, runs, tasks, "task", panels, colors, shown, dash="dash", markers=True, label="val loss"
        )
    diverged = {run: step for run, step in (diverged or {}).items() if run in colors}
    # A diverged configuration's loss can reach 1e25: scale the axes to the healthy
    # ones, and pin its marker to the top edge (the marker's text has the real loss).
    healthy = [t for t in traces if t["name"] not in diverged]
    low, high = _value_range(healthy or traces, log_y)
    top = high if diverged and healthy else None
    ceiling = None if top is None else (10**top if log_y else top)  # in data units
    last_step = int(data["step"].max()) if not data.empty else 0
    for run, step in diverged.items():
        traces += _divergence_markers(data, run, step, tasks, panels, colors[run], ceiling, last_step)
    if log_y:
        axis = {"type": "log"}
        if low is not None and high - low <= 6:
            # A short range: one labelled tick per decade, not the cluttered 2s and 5s.
            axis["dtick"] = 1
        if top is not None:
            margin = 0.05 * (high - low or 1)
            axis["range"] = [low - margin, high + 3 * margin]
        set_axes(layout, "y", **axis)
    elif top is not None:
        margin = 0.05 * (high - low or 1)
        set_axes(layout, "y", range=[low - margin, high + 3 * margin])
    layout["legend"] = {"title": {"text": "solid: train<br>dashed: validation"}, "x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = "loss_curves"  # keeps legend toggles across live refreshes
    return build_figure(traces, layout)


def _value_range(traces: list[dict], log_y: bool) -> tuple[float | None, float | None]:
    """(low, high) of the traces' y values, in log10 units on a log axis."""
    values = [np.asarray(t["y"], dtype=np.float64) for t in traces if len(t["y"])]
    if not values:
        return None, None
    y = np.concatenate(values)
    y = y[np.isfinite(y) & (y > 0)] if log_y else y[np.isfinite(y)]
    if not len(y):
        return None, None
    if log_y:
        y = np.log10(y)
    return float(y.min()), float(y.max())


def _divergence_markers(
    records: pd.DataFrame,
    run: str,
    step: int,
    tasks,
    panels: list[Panel],
    color: str,
    ceiling: float | None,
    last_step: int,
) -> list[dict]:
    """An x where the run diverged, labelled with its loss; at the top edge when off-scale."""
    traces = []
    rows = records[(records["run"] == run) & (records["metric"] == "train_loss")]
    for task, panel in zip(tasks, panels):
        last = rows[rows["task"] == task]
        if last.empty:
            continue
        loss = float(last["value"].iloc[-1])
        shown = loss if ceiling is None else min(loss, ceiling)
        traces.append(
            {
                "type": "scatter",
                "x": compact(np.array([step])),
                "y": compact(np.array([shown])),
                "xaxis": panel.xaxis,
                "yaxis": panel.yaxis,
                "mode": "markers+text",
                "marker": {"symbol": "x", "size": 12, "color": color},
                "text": [f"{run} diverged at step {step} (loss {loss:.3g})"],
                # Text away from the nearer edge, so it is never cut off.
                "textposition": "bottom right" if step < 0.6 * max(last_step, 1) else "bottom left",
                "showlegend": False,
                "legendgroup": run,
                "hovertemplate": f"{run} diverged at step {step}<extra></extra>",
            }
        )
    return traces
