"""The Updates view: per-layer update statistics (update/weight ratio, norms, effective step size)."""

from __future__ import annotations

import streamlit as st

from mtlviz.charts.updates import LAYER_CHARTS, chart_metrics, layer_chart, layer_names
from mtlviz.records import CATALOGUE, EFFECTIVE_LR, MEASURED_STEP
from mtlviz.ui.state import UPDATES_LAYERS, UPDATES_METRIC
from mtlviz.ui.views.common import View, chart, chart_controls
from mtlviz.ui.views.results import Derived, Results


def draw(results: Results, derived: Derived) -> None:
    layers = layer_names(results.frame(["grad_norm"]))
    if not layers:
        every = results.config.train.stats_every
        st.info(
            f"Update statistics are recorded every {every} steps; none yet."
            if every
            else "Update statistics are off for this run (stats_every = 0)."
        )
        return
    choices = chart_controls(results, derived)
    metric_col, layers_col = st.columns([1, 2])
    metric = metric_col.selectbox(
        "Statistic", list(LAYER_CHARTS), format_func=lambda m: LAYER_CHARTS[m][0], key=UPDATES_METRIC
    )
    default = [name for name in layers if name.endswith("weight")] or layers
    if st.session_state.get(UPDATES_LAYERS) and not set(st.session_state[UPDATES_LAYERS]) <= set(layers):
        del st.session_state[UPDATES_LAYERS]  # another run's layers
    chosen = layers_col.multiselect("Layers", layers, default=default, key=UPDATES_LAYERS)
    if metric == EFFECTIVE_LR:
        st.caption(
            f"Solid lines, **closed form**: {CATALOGUE[EFFECTIVE_LR].help} "
            f"Dotted lines, **measured**: {CATALOGUE[MEASURED_STEP].help}"
        )
    else:
        st.caption(CATALOGUE[metric].help)
    records = results.frame(chart_metrics(metric))
    figure = layer_chart(records, choices.runs, chosen, metric, x=choices.x, band=choices.band, colors=derived.colors)
    chart(figure, "updates_chart")


VIEW = View("Updates", draw)
