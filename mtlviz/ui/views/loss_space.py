"""The Loss space view (two tasks): each run's path, one task's loss against the other's.

On the toy2d problem it also draws the paths on the landscape of the point x,
with the Pareto set and front.
"""

from __future__ import annotations

import streamlit as st

from mtlviz.charts.loss_space import loss_space_chart, toy2d_contour_chart
from mtlviz.config import Toy2DTasks
from mtlviz.data.toy2d import pareto_front
from mtlviz.records import POSITION, TRAIN_LOSS
from mtlviz.ui.text import escape_markdown
from mtlviz.ui.views.common import View, chart, chart_controls
from mtlviz.ui.views.results import Derived, Results


def available(results: Results) -> bool:
    return len(results.config.tasks.task_names) == 2


def draw(results: Results, derived: Derived) -> None:
    config = results.config
    choices = chart_controls(results, derived, time_axis=False)  # paths in loss space: no step or seconds axis
    tasks = config.tasks.task_names
    if isinstance(config.tasks, Toy2DTasks):
        records = results.frame([TRAIN_LOSS, POSITION])
        st.caption(
            "Left: each run's path on the mean loss (L1 + L2) / 2, with the Pareto set (every point where no "
            "step can lower one loss without raising the other) as a white line. Right: the same paths in loss "
            "space, L1 against L2, with the Pareto front in grey."
        )
        left, right = st.columns(2)
        with left:
            chart(
                toy2d_contour_chart(records, choices.runs, start=config.tasks.start, colors=derived.colors),
                "toy2d_contour",
            )
        with right:
            chart(
                loss_space_chart(records, choices.runs, tasks, front=pareto_front(), colors=derived.colors),
                "loss_space_chart",
            )
        return
    first, second = escape_markdown(tasks[0]), escape_markdown(tasks[1])
    st.caption(
        f"Each run's training losses, {first} against {second}, from the start (circle) to the latest step "
        "(star): runs that end lower-left are better on both tasks."
    )
    chart(loss_space_chart(results.frame([TRAIN_LOSS]), choices.runs, tasks, colors=derived.colors), "loss_space_chart")


VIEW = View("Loss space", draw, available)
