"""The Task weights view: the weight each run's method put on every task, over time."""

from __future__ import annotations

import streamlit as st

from mtlviz.charts.task_weights import task_weight_chart
from mtlviz.methods import METHODS
from mtlviz.records import TASK_WEIGHT
from mtlviz.ui.views.common import View, chart, chart_controls
from mtlviz.ui.views.results import Derived, Results


def available(results: Results) -> bool:
    """Only where some method's weights change during training (fixed weights make flat lines)."""
    return any(METHODS[m.name].adapts_weights for m in results.config.methods)


def draw(results: Results, derived: Derived) -> None:
    config = results.config
    st.caption(
        "The weight each run's method put on every task: on its loss for weightings, on its gradient for "
        "PCGrad, MGDA and CAGrad (the coefficients c_t of their direction sum_t c_t g_t). Recorded every "
        f"{config.train.stats_every or 'stats_every'} steps."
    )
    choices = chart_controls(results, derived)
    figure = task_weight_chart(
        results.frame([TASK_WEIGHT]),
        choices.runs,
        config.tasks.task_names,
        x=choices.x,
        band=choices.band,
        colors=derived.colors,
        diverged_seeds=derived.diverged_runs,
    )
    chart(figure, "task_weight_chart")


VIEW = View("Task weights", draw, available)
