"""The Conflict view: how the tasks' gradients on the shared parameters agree or pull apart."""

from __future__ import annotations

import streamlit as st

from mtlviz.charts.conflict import (
    ALIGNED,
    CONFLICTING,
    NEAR_ORTHOGONAL,
    NO_SHARED,
    SHARE_COLUMNS,
    conflict_reading,
    conflict_shares,
    cosine_chart,
    cosine_distribution,
    cosine_heatmaps,
    task_grad_norm_chart,
)
from mtlviz.export import neutralised
from mtlviz.records import GRAD_COSINE, TASK_GRAD_NORM
from mtlviz.ui.views.common import View, chart, chart_controls
from mtlviz.ui.views.results import Derived, Results


def draw(results: Results, derived: Derived) -> None:
    config = results.config
    every = config.train.conflict_every
    records = results.frame([GRAD_COSINE, TASK_GRAD_NORM])
    shared = derived.metadata.has_shared_parameters if derived.metadata is not None else None
    if shared is None and every:
        # A run saved before its metadata said so: cosines are recorded only where tasks share parameters.
        shared = bool((records["metric"] == GRAD_COSINE).any())
    if shared is False:
        st.info(NO_SHARED)
        return
    if not every:
        st.info("Gradient-conflict measurements are off for this run (conflict_every = 0).")
        return
    lines = conflict_reading(records)
    if not lines:
        st.info(f"Per-task gradients are measured every {every} steps; none yet.")
        return
    choices = chart_controls(results, derived)
    for line in lines:
        st.markdown(line)
    runs, tasks = choices.runs, config.tasks.task_names
    st.caption(
        f"Each measurement is one cosine between two tasks' gradients on the shared layers: {CONFLICTING} is "
        f"conflict, {NEAR_ORTHOGONAL} means they barely interact (the grey band), {ALIGNED} they agree."
    )
    shares = conflict_shares(records)
    shares = shares[shares["configuration"].isin(runs)]
    percent = {c: st.column_config.NumberColumn(c, format="percent") for c in SHARE_COLUMNS}
    st.dataframe(
        neutralised(shares),  # configuration labels are the user's: text, also in the CSV download
        hide_index=True,
        key="conflict_shares",
        column_config={**percent, "median cosine": st.column_config.NumberColumn(format="%+.3f")},
    )
    chart(cosine_chart(records, runs, x=choices.x, band=choices.band, colors=derived.colors), "cosine_chart")
    st.caption("Distribution of each configuration's cosines (box: median and quartiles) against the grey dead zone")
    chart(cosine_distribution(records, runs, colors=derived.colors), "cosine_distribution")
    heat_col, norm_col = st.columns(2)
    with heat_col:
        st.caption("Latest cosine between task gradients on the shared layers (red: conflict)")
        chart(cosine_heatmaps(records, runs, tasks), "cosine_heatmap")
    with norm_col:
        st.caption("Each task's gradient norm on the shared layers")
        chart(
            task_grad_norm_chart(records, runs, tasks, x=choices.x, band=choices.band, colors=derived.colors),
            "task_grad_norms",
        )


VIEW = View("Conflict", draw)
