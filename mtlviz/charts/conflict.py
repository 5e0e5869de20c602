"""The Conflict view: how the tasks' gradients on the shared parameters agree or fight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.colors import run_colors
from mtlviz.charts.figure import build_figure, compact, empty_figure, panel_grid, set_axes
from mtlviz.charts.lines import line_traces
from mtlviz.engine.records import GRAD_COSINE, PAIR_SEPARATOR, TASK_GRAD_NORM

NO_SHARED = "This sharing strategy has no shared parameters, so the tasks' gradients never meet: nothing to conflict."


def pair_names(records: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(records.loc[records["metric"] == GRAD_COSINE, "task"]))


def cosine_chart(records: pd.DataFrame, runs: list[str] | tuple[str, ...]) -> go.Figure:
    """Cosine between each pair of task gradients over time: one panel per pair."""
    data = records[records["metric"] == GRAD_COSINE]
    pairs = pair_names(records)
    if data.empty:
        return empty_figure("No gradient-conflict measurements yet.")
    layout, panels = panel_grid(pairs, cols=2 if len(pairs) <= 4 else 3, row_height=260, y_title="cosine")
    traces = line_traces(data, runs, pairs, "task", panels, run_colors(runs), set(), label="cosine")
    set_axes(layout, "y", range=[-1.05, 1.05], zeroline=True, zerolinecolor="#888888", zerolinewidth=1.5)
    layout["legend"] = {"x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = "cosines"
    return build_figure(traces, layout)


def latest_cosines(records: pd.DataFrame, run: str, tasks: list[str] | tuple[str, ...]) -> tuple[int, np.ndarray]:
    """(step, T x T matrix) of the run's latest measurement; NaN where unmeasured."""
    rows = records[(records["metric"] == GRAD_COSINE) & (records["run"] == run)]
    matrix = np.full((len(tasks), len(tasks)), np.nan)
    if rows.empty:
        return -1, matrix
    step = int(rows["step"].max())
    np.fill_diagonal(matrix, 1.0)
    index = {task: i for i, task in enumerate(tasks)}
    for pair, value in rows.loc[rows["step"] == step, ["task", "value"]].itertuples(index=False):
        a, b = pair.split(PAIR_SEPARATOR)
        matrix[index[a], index[b]] = matrix[index[b], index[a]] = value
    return step, matrix


def cosine_heatmaps(
    records: pd.DataFrame, runs: list[str] | tuple[str, ...], tasks: list[str] | tuple[str, ...]
) -> go.Figure:
    """The latest cosine matrix of each configuration (red: conflict, blue: agreement)."""
    if records[records["metric"] == GRAD_COSINE].empty:
        return empty_figure("No gradient-conflict measurements yet.")
    titles, matrices = [], []
    for run in runs:
        step, matrix = latest_cosines(records, run, tasks)
        titles.append(f"{run} (step {step})" if step >= 0 else f"{run} (no data)")
        matrices.append(matrix)
    cols = min(len(runs), 4)
    layout, panels = panel_grid(titles, cols=cols, row_height=240 + 12 * len(tasks), x_title="")
    traces = []
    for i, (matrix, panel) in enumerate(zip(matrices, panels)):
        traces.append(
            {
                "type": "heatmap",
                "z": compact(matrix),
                "x": list(tasks),
                "y": list(tasks),
                "xaxis": panel.xaxis,
                "yaxis": panel.yaxis,
                "zmin": -1,
                "zmax": 1,
                "colorscale": "RdBu",
                "reversescale": True,  # Plotly's RdBu runs blue-to-red; conflict (negative) should be red
                "showscale": i == 0,
                "colorbar": {"title": {"text": "cosine"}, "len": 0.8},
                "texttemplate": "%{z:.2f}",
                "hovertemplate": "%{y} · %{x}: %{z:.3f}<extra></extra>",
            }
        )
    set_axes(layout, "y", autorange="reversed", showgrid=False, title={"text": ""})
    set_axes(layout, "x", showgrid=False, title={"text": ""})
    for panel in panels:
        if panel.col > 1:  # task names once per row, not over the neighbouring panel
            axis = "yaxis" + panel.yaxis.removeprefix("y")
            layout[axis] = {**layout[axis], "showticklabels": False}
    return build_figure(traces, layout)


def task_grad_norm_chart(
    records: pd.DataFrame, runs: list[str] | tuple[str, ...], tasks: list[str] | tuple[str, ...]
) -> go.Figure:
    """Norm of each task's gradient on the shared parameters: one panel per task."""
    data = records[records["metric"] == TASK_GRAD_NORM]
    if data.empty:
        return empty_figure("No gradient-conflict measurements yet.")
    layout, panels = panel_grid(
        list(tasks), cols=2 if len(tasks) <= 4 else 3, row_height=240, y_title="‖task gradient‖ (shared)"
    )
    traces = line_traces(data, runs, tasks, "task", panels, run_colors(runs), set(), label="gradient norm")
    set_axes(layout, "y", type="log", dtick=1)
    layout["legend"] = {"x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = "task-grad-norms"
    return build_figure(traces, layout)


def conflict_reading(records: pd.DataFrame, limit: int = 3) -> list[str]:
    """Plain-language sentences: how often each pair of tasks pulls the shared layers apart.

    Pairs are ranked by their share of measurements with a negative cosine; each
    sentence names the configuration under which the pair conflicted most and least.
    """
    data = records[records["metric"] == GRAD_COSINE]
    if data.empty:
        return []
    lines = []
    by_pair = data.groupby("task", sort=False)["value"]
    share = by_pair.apply(lambda v: float((v < 0).mean())).sort_values(ascending=False)
    for pair, fraction in share.head(limit).items():
        a, b = pair.split(PAIR_SEPARATOR)
        rows = data[data["task"] == pair]
        mean = rows["value"].mean()
        if fraction == 0:
            text = (
                f"Tasks **{a}** and **{b}** never pulled the shared layers in opposite directions "
                f"(mean cosine {mean:.2f})."
            )
        else:
            text = (
                f"Tasks **{a}** and **{b}** pull the shared layers in opposite directions "
                f"**{fraction:.0%}** of the time (mean cosine {mean:.2f})."
            )
        per_run = rows.groupby("run", sort=False)["value"].apply(lambda v: float((v < 0).mean()))
        if len(per_run) > 1 and per_run.max() - per_run.min() >= 0.1:
            most, least = per_run.idxmax(), per_run.idxmin()
            text += f" Most under {most} ({per_run[most]:.0%}), least under {least} ({per_run[least]:.0%})."
        lines.append(text)
    return lines
