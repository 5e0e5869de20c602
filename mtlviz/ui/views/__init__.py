"""The chart views of a run's results, a registry with one file per view.

They draw from any `Results` (a live training job, a saved run) and share one
`Derived` per refresh. The picker lists the views that apply to the run, in
registry order. Adding a view: a module with a `VIEW = View(name, draw,
available)` and its line below.
"""

from __future__ import annotations

import streamlit as st

from mtlviz.records import TRAIN_LOSS, VAL_LOSS
from mtlviz.ui import state
from mtlviz.ui.views import conflict, isolation, loss, loss_space, sensitivity, task_weights, updates
from mtlviz.ui.views.common import View, chart
from mtlviz.ui.views.results import Derived, Results

VIEWS: tuple[View, ...] = (
    loss.VIEW,
    updates.VIEW,
    conflict.VIEW,
    sensitivity.VIEW,
    isolation.VIEW,
    task_weights.VIEW,
    loss_space.VIEW,
)
WAITING = "Waiting for the first steps…"

__all__ = ["VIEWS", "Derived", "Results", "View", "chart", "views"]


def views(results: Results, derived: Derived, empty: str = WAITING) -> None:
    """The view picker and the chosen view; `empty` is said while the run has no loss yet."""
    shown = {view.name: view for view in VIEWS if view.available(results)}
    if st.session_state.get(state.VIEW) not in shown:
        st.session_state[state.VIEW] = next(iter(shown))
    name = st.segmented_control("View", list(shown), key=state.VIEW, required=True, label_visibility="collapsed")
    if results.frame([TRAIN_LOSS, VAL_LOSS]).empty:
        st.info(empty)
        return
    shown[name or next(iter(shown))].draw(results, derived)
