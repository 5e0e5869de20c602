"""One panel per facet (a task, or a pair of tasks), one line per run, over seeds.

The shared shape of the per-task and per-pair charts: each run's mean over its
seeds, with an optional band ("std" or "minmax"), downsampled, against step or
seconds.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from mtlviz.charts.colors import run_colors
from mtlviz.charts.figure import panel_grid
from mtlviz.charts.lines import check_x, line_traces
from mtlviz.charts.seeds import aggregate_seeds


def facet_lines(
    data: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    facets: list[str] | tuple[str, ...],
    *,
    y_title: str,
    label: str,
    x: str = "step",
    band: str | None = None,
    row_height: int = 260,
    positive: bool = False,
    colors: Mapping[str, str] | None = None,
    diverged: Mapping[str, Mapping[int, int]] | None = None,
) -> tuple[dict, list[dict]]:
    """(layout, traces) for the rows of one metric in `data`, faceted by its task column.

    `positive`: the values go on a log axis, so a band never reaches below zero.
    `colors`: run -> colour, the same in every chart of the run (by default one
    per run drawn); `diverged`: run -> {seed: step it diverged}, so a mean line
    says on how many seeds it rests after some diverged.
    """
    layout, panels = panel_grid(
        list(facets), cols=2 if len(facets) <= 4 else 3, row_height=row_height, x_title=check_x(x), y_title=y_title
    )
    summary = aggregate_seeds(data, "task", band, positive=positive)
    traces = line_traces(
        summary.mean,
        runs,
        facets,
        "task",
        panels,
        {run: (colors or {}).get(run) or own for run, own in run_colors(runs).items()},
        set(),
        label=label,
        band=summary.band,
        x=x,
        seeds=summary.seeds,
        diverged=diverged,
    )
    layout["legend"] = {"x": 1.01, "y": 1, "yanchor": "top"}
    return layout, traces
