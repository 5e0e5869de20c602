"""The Conflict view: how the tasks' gradients on the shared parameters agree or fight."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.colors import run_colors
from mtlviz.charts.facets import facet_lines
from mtlviz.charts.figure import Panel, build_figure, compact, empty_figure, panel_grid, set_axes
from mtlviz.charts.seeds import aggregate_seeds
from mtlviz.charts.text import escape_markdown, plotly_text
from mtlviz.records import CONFLICT_DEAD_ZONE, GRAD_COSINE, PAIR_SEPARATOR, TASK_GRAD_NORM

NO_SHARED = "This sharing strategy has no shared parameters, so the tasks' gradients never meet: nothing to conflict."
ZONE = f"{CONFLICT_DEAD_ZONE:g}"
# How each share is read out, with the bounds of the dead zone (records.CONFLICT_DEAD_ZONE).
CONFLICTING = f"opposite directions (cos < −{ZONE})"
NEAR_ORTHOGONAL = f"near orthogonal (|cos| ≤ {ZONE})"
ALIGNED = f"aligned (cos > {ZONE})"
SHARE_COLUMNS = ("conflicting", "near orthogonal", "aligned")


def pair_names(records: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(records.loc[records["metric"] == GRAD_COSINE, "task"]))


def cosine_chart(
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    x: str = "step",
    band: str | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Cosine between each pair of task gradients over time: one panel per pair.

    A configuration with several seeds is drawn as its mean cosine over seeds,
    with `band` ("std", "minmax" or None) around it.
    """
    data = records[records["metric"] == GRAD_COSINE]
    pairs = pair_names(records)
    if data.empty:
        return empty_figure("No gradient-conflict measurements yet.")
    layout, traces = facet_lines(data, runs, pairs, y_title="cosine", label="cosine", x=x, band=band, colors=colors)
    set_axes(layout, "y", range=[-1.05, 1.05], zeroline=True, zerolinecolor="#888888", zerolinewidth=1.5)
    layout["shapes"] = dead_zone_bands(_panels(layout, len(pairs)))
    layout["uirevision"] = "cosines"
    return build_figure(traces, layout)


def _panels(layout: dict, n: int) -> list[Panel]:
    """The first n panels of a panel_grid layout (their axis references)."""
    return [Panel("x" if i == 0 else f"x{i + 1}", "y" if i == 0 else f"y{i + 1}", 0, 0) for i in range(n)]


def dead_zone_bands(panels: list[Panel]) -> list[dict]:
    """A grey band over |cos| <= CONFLICT_DEAD_ZONE across each panel, behind the data; one legend entry."""
    return [
        {
            "type": "rect",
            "xref": f"{panel.xaxis} domain",
            "yref": panel.yaxis,
            "x0": 0,
            "x1": 1,
            "y0": -CONFLICT_DEAD_ZONE,
            "y1": CONFLICT_DEAD_ZONE,
            "fillcolor": "rgba(120, 120, 120, 0.18)",
            "line": {"width": 0},
            "layer": "below",
            "name": f"near orthogonal, |cos| ≤ {ZONE}: not conflict",
            "showlegend": i == 0,
        }
        for i, panel in enumerate(panels)
    ]


def _step_cosines(records: pd.DataFrame) -> pd.DataFrame:
    """The cosine rows, one per (pair, run, step): with several seeds the mean over seeds at that step."""
    data = records[records["metric"] == GRAD_COSINE]
    return aggregate_seeds(data, "task", None).mean if not data.empty else data


def _shares(values: np.ndarray) -> tuple[float, float, float]:
    """(conflicting, near orthogonal, aligned) shares of the cosines, split by the dead zone."""
    conflicting = float((values < -CONFLICT_DEAD_ZONE).mean())
    aligned = float((values > CONFLICT_DEAD_ZONE).mean())
    return conflicting, 1.0 - conflicting - aligned, aligned


def conflict_shares(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (pair, configuration): the shares of its measurements that conflict, are
    near orthogonal and are aligned, its median cosine and how many measurements there were.

    With several seeds a measurement is the mean cosine over seeds at one step.
    """
    data = _step_cosines(records)
    columns = ["pair", "configuration", *SHARE_COLUMNS, "median cosine", "measurements"]
    rows = []
    for (pair, run), group in data.groupby(["task", "run"], sort=False, observed=True):
        values = group["value"].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            rows.append((str(pair), str(run), *_shares(values), float(np.median(values)), len(values)))
    return pd.DataFrame(rows, columns=columns)


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
                "x": [plotly_text(task) for task in tasks],
                "y": [plotly_text(task) for task in tasks],
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
    colors: Mapping[str, str] | None = None,
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
        colors=colors,
    )
    set_axes(layout, "y", type="log", dtick=1)
    layout["uirevision"] = "task-grad-norms"
    return build_figure(traces, layout)


def cosine_distribution(
    records: pd.DataFrame, runs: list[str] | tuple[str, ...], colors: Mapping[str, str] | None = None
) -> go.Figure:
    """Every measured cosine of each configuration as a box (median, quartiles, whiskers):
    one panel per pair, the dead zone drawn behind, so "mostly near zero" reads at a glance."""
    data = _step_cosines(records)
    pairs = pair_names(records)
    if data.empty:
        return empty_figure("No gradient-conflict measurements yet.")
    layout, panels = panel_grid(pairs, cols=2 if len(pairs) <= 4 else 3, row_height=260, x_title="", y_title="cosine")
    colors = run_colors(runs, colors)
    traces = []
    for pair, panel in zip(pairs, panels):
        rows = data[data["task"] == pair]
        for run in runs:
            values = rows.loc[rows["run"] == run, "value"].to_numpy(dtype=float)
            if not len(values):
                continue
            traces.append(
                {
                    "type": "box",
                    "y": compact(values),
                    "name": plotly_text(run),
                    "xaxis": panel.xaxis,
                    "yaxis": panel.yaxis,
                    "marker": {"color": colors[run], "size": 3},
                    "line": {"color": colors[run]},
                    "boxpoints": "outliers",
                    "legendgroup": run,
                    "showlegend": False,  # the configuration's name is under its box
                    "hoverinfo": "y+name",
                }
            )
    set_axes(layout, "y", range=[-1.05, 1.05], zeroline=True, zerolinecolor="#888888", zerolinewidth=1.5)
    layout["shapes"] = dead_zone_bands(panels)
    layout["legend"] = {"x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = "cosine-distribution"
    return build_figure(traces, layout)


def _signed(value: float) -> str:
    """+0.250, −0.014: three decimals, the sign always shown (a near-zero median reads as one)."""
    return f"{value:+.3f}".replace("-", "−")


def conflict_reading(records: pd.DataFrame, limit: int = 3) -> list[str]:
    """Plain-language sentences: how often each pair of tasks pulls the shared layers apart.

    A cosine within ±CONFLICT_DEAD_ZONE is near orthogonal, not conflict. Pairs are
    ranked by their share of conflicting measurements; each sentence says what most
    measurements were, the three shares and the median cosine, and, where the
    configurations differ, under which the pair conflicted most and least. With
    several seeds a measurement is the mean cosine over seeds at one step, so a
    share reads the same however many seeds ran.
    """
    data = _step_cosines(records)
    if data.empty:
        return []
    per_run = conflict_shares(records)
    lines = []
    overall = {
        pair: (*_shares(values), float(np.median(values)))
        for pair, values in (
            (str(p), g["value"].to_numpy(dtype=float)) for p, g in data.groupby("task", sort=False, observed=True)
        )
    }
    ranked = sorted(overall.items(), key=lambda item: (-item[1][0], item[1][3]))
    for pair, (conflicting, orthogonal, aligned, median) in ranked[:limit]:
        a, b = pair.split(PAIR_SEPARATOR)
        verdict = {
            0: "mostly pull the shared layers in opposite directions",
            1: "are mostly near orthogonal (their gradients barely interact)",
            2: "mostly pull the shared layers the same way",
        }
        shares = (conflicting, orthogonal, aligned)
        largest = int(np.argmax(shares))
        head = verdict[largest] if shares[largest] > 0.5 else "are mixed"
        opposite = (
            f"never in {CONFLICTING}" if conflicting == 0 else f"in {CONFLICTING} **{conflicting:.0%}** of the time"
        )
        text = (
            f"Tasks **{escape_markdown(a)}** and **{escape_markdown(b)}** {head}: {opposite}, "
            f"{NEAR_ORTHOGONAL} **{orthogonal:.0%}**, {ALIGNED} **{aligned:.0%}**; median cosine {_signed(median)}."
        )
        runs = per_run[per_run["pair"] == pair].set_index("configuration")
        if len(runs) > 1 and runs["conflicting"].max() - runs["conflicting"].min() >= 0.1:
            # Ties go to the configuration whose median cosine is lower (resp. higher).
            order = runs.sort_values(["conflicting", "median cosine"], ascending=[False, True]).index
            text += f" Most under {_describe(runs, order[0])}, least under {_describe(runs, order[-1])}."
        lines.append(text)
    return lines


def _describe(runs: pd.DataFrame, run: str) -> str:
    row = runs.loc[run]
    return (
        f"{escape_markdown(run)} ({row['conflicting']:.0%} opposite, {row['near orthogonal']:.0%} near orthogonal, "
        f"median {_signed(row['median cosine'])})"
    )
