"""The Loss view: each task's train and validation loss, with divergences marked."""

from __future__ import annotations

import streamlit as st

from mtlviz.charts import loss_curves
from mtlviz.charts.loss_curves import log_scale_note
from mtlviz.records import TRAIN_LOSS, VAL_LOSS
from mtlviz.ui.state import CHART_LOG, CHART_SMOOTHING, CHART_SPLIT
from mtlviz.ui.text import escape_markdown
from mtlviz.ui.views.common import View, chart, chart_controls, presenting
from mtlviz.ui.views.results import Derived, Results

SPLIT_LABELS = {"train": "Train", "validation": "Validation", "both": "Both"}


def draw(results: Results, derived: Derived) -> None:
    records = results.frame([TRAIN_LOSS, VAL_LOSS])
    choices = chart_controls(results, derived)
    split, log_y, smoothing = "both", True, 0.6
    if not presenting():
        controls = st.columns([2, 1, 2])
        split = controls[0].segmented_control(
            "Loss", list(SPLIT_LABELS), format_func=SPLIT_LABELS.get, default="both", key=CHART_SPLIT, required=True
        )
        log_y = controls[1].toggle("Log scale", value=True, key=CHART_LOG)
        smoothing = controls[2].slider("Smoothing (train loss)", 0.0, 0.99, 0.6, 0.01, key=CHART_SMOOTHING)
    else:
        split = st.session_state.get(CHART_SPLIT, split)
        log_y = st.session_state.get(CHART_LOG, log_y)
        smoothing = st.session_state.get(CHART_SMOOTHING, smoothing)
    figure = loss_curves(
        records,
        choices.runs,
        results.config.tasks.task_names,
        split=split or "both",
        log_y=log_y,
        smoothing=smoothing,
        divergences=derived.divergences,
        band=choices.band,
        x=choices.x,
        diverged_seeds=derived.diverged_runs,
        colors=derived.colors,
    )
    note = log_scale_note(figure)
    if note:
        st.caption(note)
    for line in derived.coincidences:
        st.caption(escape_markdown(line))
    chart(figure, "loss_chart")


VIEW = View("Loss", draw)
