"""Task-weight trajectories: the weight each run's multi-task method gave every task, over time."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.colors import run_colors
from mtlviz.charts.figure import build_figure, empty_figure, panel_grid
from mtlviz.charts.lines import check_x, line_traces
from mtlviz.charts.seeds import aggregate_seeds
from mtlviz.engine.records import TASK_WEIGHT


def task_weight_chart(
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    tasks: list[str] | tuple[str, ...],
    x: str = "step",
    band: str | None = None,
) -> go.Figure:
    """One panel per task, one line per run: the weight on that task's loss (or gradient).

    Static and equal weights are flat lines; uncertainty weighting shows exp(-s)
    (halved for regression), DWA and GradNorm their weights (summing to T), MGDA,
    CAGrad and PCGrad the coefficients c_t of their direction sum_t c_t g_t.
    """
    x_title = check_x(x)
    data = records[records["metric"] == TASK_WEIGHT]
    if data.empty:
        return empty_figure("No task weights recorded yet (every stats_every steps).")
    layout, panels = panel_grid(
        list(tasks), cols=2 if len(tasks) <= 4 else 3, row_height=260, x_title=x_title, y_title="weight"
    )
    summary = aggregate_seeds(data, "task", band)
    traces = line_traces(
        summary.mean,
        runs,
        tasks,
        "task",
        panels,
        run_colors(runs),
        set(),
        label="weight",
        band=summary.band,
        x=x,
        seeds=summary.seeds,
    )
    layout["uirevision"] = "task_weights"
    return build_figure(traces, layout)
