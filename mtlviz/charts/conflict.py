"""The Conflict view: how the tasks' gradients on the shared parameters agree or fight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.facets import facet_lines
from mtlviz.charts.figure import build_figure, compact, empty_figure, panel_grid, set_axes
from mtlviz.charts.seeds import aggregate_seeds
from mtlviz.records import GRAD_COSINE, PAIR_SEPARATOR, TASK_GRAD_NORM

NO_SHARED = "This sharing strategy has no shared parameters, so the tasks' gradients never meet: nothing to conflict."


def pair_names(records: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(records.loc[records["metric"] == GRAD_COSINE, "task"]))


def cosine_chart(
    records: pd.DataFrame, runs: list[str] | tuple[str, ...], x: str = "step", band: str | None = None
) -> go.Figure:
    """Cosine between each pair of task gradients over time: one panel per pair.

    A configuration with several seeds is drawn as its mean cosine over seeds,
    with `band` ("std", "minmax" or None) around it.
    """
    data = records[records["metric"] == GRAD_COSINE]
    pairs = pair_names(records)
    if data.empty:
        return empty_figure("No gradient-conflict measurements yet.")
    layout, traces = facet_lines(data, runs, pairs, y_title="cosine", label="cosine", x=x, band=band)
    set_axes(layout, "y", range=[-1.05, 1.05], zeroline=True, zerolinecolor="#888888", zerolinewidth=1.5)
    layout["uirevision"] = "cosines"
    return build_figure(traces, layout)


def latest_cosines(records: pd.DataFrame, run: str, tasks: list[str] | tuple[str, ...]) -> tuple[int, np.ndarray]:
    """(step, T x T matrix) of the run's latest measurement; NaN where unmeasured.

    With several seeds each cosine is the mean over the seeds measured at that step.
    """
    rows = records[(records["metric"] == GRAD_COSINE) & (records["run"] == run)]
    step, matrix, _ = _latest(rows, tasks)
    return step, matrix


def _latest(rows: pd.DataFrame, tasks: list[str] | tuple[str, ...]) -> tuple[int, np.ndarray, int]:
    """(step, matrix, seeds) from one run's cosine rows: see latest_cosines."""
    matrix = np.full((len(tasks), len(tasks)), np.nan)
    if rows.empty:
        return -1, matrix, 0
    step = int(rows["step"].max())
    np.fill_diagonal(matrix, 1.0)
    index = {task: i for i, task in enumerate(tasks)}
    latest = rows.loc[rows["step"] == step]
    means = latest.groupby(latest["task"].astype(str), sort=False)["value"].mean()
    for pair, value in means.items():
        a, b = pair.split(PAIR_SEPARATOR)
        matrix[index[a], index[b]] = matrix[index[b], index[a]] = value
    seeds = int(latest["seed"].nunique()) if "seed" in latest.columns else 1
    return step, matrix, seeds


def cosine_heatmaps(
    records: pd.DataFrame, runs: list[str] | tuple[str, ...], tasks: list[str] | tuple[str, ...]
) -> go.Figure:
    """The latest cosine matrix of each configuration (red: conflict, blue: agreement)."""
    data = records[records["metric"] == GRAD_COSINE]
    if data.empty:
        return empty_figure("No gradient-conflict measurements yet.")
    titles, matrices = [], []
    for run in runs:
        step, matrix, seeds = _latest(data[data["run"] == run], tasks)
        if step < 0:
            titles.append(f"{run} (no data)")
        else:
            titles.append(f"{run} (step {step}, mean of {seeds} seeds)" if seeds > 1 else f"{run} (step {step})")
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
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    tasks: list[str] | tuple[str, ...],
    x: str = "step",
    band: str | None = None,
) -> go.Figure:
    """Norm of each task's gradient on the shared parameters: one panel per task.

    A configuration with several seeds is drawn as its mean over seeds, with
    `band` ("std", "minmax" or None) around it.
    """
    data = records[records["metric"] == TASK_GRAD_NORM]
    if data.empty:
        return empty_figure("No gradient-conflict measurements yet.")
    layout, traces = facet_lines(
        data,
        runs,
        tasks,
        y_title="‖task gradient‖ (shared)",
        label="gradient norm",
        x=x,
        band=band,
        row_height=240,
        positive=True,
    )
    set_axes(layout, "y", type="log", dtick=1)
    layout["uirevision"] = "task-grad-norms"
    return build_figure(traces, layout)


def conflict_reading(records: pd.DataFrame, limit: int = 3) -> list[str]:
    """Plain-language sentences: how often each pair of tasks pulls the shared layers apart.

    Pairs are ranked by their share of measurements with a negative cosine; each
    sentence names the configuration under which the pair conflicted most and least.
    With several seeds a measurement is the mean cosine over seeds at one step,
    so a share reads the same however many seeds ran.
    """
    data = records[records["metric"] == GRAD_COSINE]
    if data.empty:
        return []
    data = aggregate_seeds(data, "task", None).mean
    lines = []
    by_pair = data.groupby("task", sort=False, observed=True)["value"]
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
        per_run = rows.groupby("run", sort=False, observed=True)["value"].apply(lambda v: float((v < 0).mean()))
        if len(per_run) > 1 and per_run.max() - per_run.min() >= 0.1:
            most, least = per_run.idxmax(), per_run.idxmin()
            text += f" Most under {most} ({per_run[most]:.0%}), least under {least} ({per_run[least]:.0%})."
        lines.append(text)
    return lines
