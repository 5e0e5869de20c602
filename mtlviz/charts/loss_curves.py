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
    for run, step in (diverged or {}).items():
        if run in colors:
            traces += _divergence_markers(data, run, step, tasks, panels, colors[run])
    if log_y:
        # dtick=1 on a log axis: one labelled tick per decade, not the cluttered 2s and 5s.
        set_axes(layout, "y", type="log", dtick=1)
    layout["legend"] = {"title": {"text": "solid: train<br>dashed: validation"}, "x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = "loss_curves"  # keeps legend toggles across live refreshes
    return build_figure(traces, layout)


def _divergence_markers(
    records: pd.DataFrame, run: str, step: int, tasks, panels: list[Panel], color: str
) -> list[dict]:
    traces = []
    rows = records[(records["run"] == run) & (records["metric"] == "train_loss")]
    for task, panel in zip(tasks, panels):
        last = rows[rows["task"] == task]
        if last.empty:
            continue
        traces.append(
            {
                "type": "scatter",
                "x": compact(np.array([step])),
                "y": compact(np.array([last["value"].iloc[-1]])),
                "xaxis": panel.xaxis,
                "yaxis": panel.yaxis,
                "mode": "markers+text",
                "marker": {"symbol": "x", "size": 12, "color": color},
                "text": [f"diverged at step {step}"],
                "textposition": "top center",
                "showlegend": False,
                "legendgroup": run,
                "hovertemplate": f"{run} diverged at step {step}<extra></extra>",
            }
        )
    return traces
