"""The LR sensitivity view: final validation loss against the learning rate of each swept configuration."""

from __future__ import annotations

import streamlit as st

from mtlviz.charts.sensitivity import lr_sensitivity
from mtlviz.records import VAL_LOSS
from mtlviz.summary import final_losses
from mtlviz.ui.views.common import View, chart
from mtlviz.ui.views.results import Derived, Results


def available(results: Results) -> bool:
    """Some configuration sweeps its learning rate and nothing else: a line against lr says what it means.
    (Where other knobs vary too, trials at one lr differ in them: the Isolation view draws those.)"""
    return any(o.is_sweep and {knob for knob, _ in o.spaces} == {"lr"} for o in results.config.optimizers)


def draw(results: Results, derived: Derived) -> None:
    st.caption(
        "Final validation loss per task against the learning rate: one line per configuration, the mean over "
        "seeds with their standard deviation. The star marks each configuration's best learning rate (lowest "
        "final validation objective, the weighted sum of task losses). An open circle is the mean of only the "
        "seeds that did not diverge (its hover says how many); an x at the top, a learning rate at which every "
        "seed diverged."
    )
    final = final_losses(results.frame([VAL_LOSS]), derived.diverged_runs)
    figure = lr_sensitivity(
        final, derived.run_table, results.config.tasks.task_names, derived.best_runs, colors=derived.colors
    )
    chart(figure, "sensitivity_chart")


VIEW = View("LR sensitivity", draw, available)
