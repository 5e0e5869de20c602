"""The isolation view (the Deep Learning Tuning Playbook): each trial's validation objective against each searched knob.

Offered for runs that searched hyperparameters. It draws from the protocol
report (mtlviz/protocol.py), the same one the summary's "chosen on validation,
reported on test" table reads (Derived.protocol).
"""

from __future__ import annotations

import streamlit as st

from mtlviz.charts.isolation import isolation_plot
from mtlviz.config import ExperimentConfig
from mtlviz.ui.text import escape_markdown
from mtlviz.ui.views.common import View, chart
from mtlviz.ui.views.results import Derived, Results


def available(results: Results) -> bool:
    """Trials with searched hyperparameters, and a test split to report the chosen ones on (an lr swept
    without one is the LR sensitivity view's)."""
    metadata = results.metadata
    return metadata is not None and bool(metadata.test_examples) and any(r.hyperparameters for r in metadata.rows)


def search_scales(config: ExperimentConfig) -> dict[str, str]:
    """Knob -> "log" when some configuration searched it on a log range or distribution, else "linear";
    knobs searched only from listed values have no scale (the chart decides from their values)."""
    scales: dict[str, set[str]] = {}
    for optimizer in config.optimizers:
        for knob, space in optimizer.spaces:
            if space.kind != "values":
                scales.setdefault(knob, set()).add(space.scale)
    return {knob: "log" if "log" in found else "linear" for knob, found in scales.items()}


def draw(results: Results, derived: Derived) -> None:
    report = derived.protocol
    if report is None:
        st.info(
            "The isolation plots read the protocol report, which needs the test results measured once when "
            "training ends; this run has none: it is still training, or it was stopped before the end."
        )
        return
    st.caption(
        "Each point is one trial: its final validation objective (the weighted sum of task losses, mean ± std "
        "over seeds) against one searched hyperparameter, the others varying as they were searched. The star is "
        "the trial chosen for its configuration (lowest validation objective of its feasible trials); an x at the "
        "top, an infeasible trial (a seed diverged). The first panel compares the chosen trials on validation and "
        "on the test split, read once after the choice."
    )
    chart(isolation_plot(report, search_scales(results.config), derived.colors), "isolation_chart")
    for warning in [w for choice in report.choices for w in choice.warnings] + list(report.notes):
        st.caption(f"⚠️ {escape_markdown(warning)}")


VIEW = View("Isolation", draw, available)
