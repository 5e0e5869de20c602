"""Task-weight trajectories: the weight each run's multi-task method gave every task, over time."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.facets import facet_lines
from mtlviz.charts.figure import build_figure, empty_figure
from mtlviz.records import TASK_WEIGHT


def task_weight_chart(
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    tasks: list[str] | tuple[str, ...],
    x: str = "step",
    band: str | None = None,
    colors: Mapping[str, str] | None = None,
    diverged_seeds: Mapping[str, Mapping[int, int]] | None = None,
) -> go.Figure:
    """One panel per task, one line per run: the weight on that task's loss (or gradient).

    Static and equal weights are flat lines; uncertainty weighting shows exp(-s)
    (halved for regression), DWA and GradNorm their weights (summing to T), MGDA,
    CAGrad and PCGrad the coefficients c_t of their direction sum_t c_t g_t.
    `colors` and `diverged_seeds` as in charts/facets.py.
    """
    data = records[records["metric"] == TASK_WEIGHT]
    if data.empty:
        return empty_figure("No task weights recorded yet (every stats_every steps).")
    layout, traces = facet_lines(
        data, runs, tasks, y_title="weight", label="weight", x=x, band=band, colors=colors, diverged=diverged_seeds
    )
    layout["uirevision"] = "task_weights"
    return build_figure(traces, layout)
