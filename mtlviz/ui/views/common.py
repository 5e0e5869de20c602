"""What every view shares: the View spec, chart drawing with its exports, the chart controls.

Each chart can be exported as PNG or interactive HTML; in the presenter view
the controls are hidden and the charts enlarged.

The x-axis switch offers steps and seconds, which the figure builders draw
against, and, where the run's metadata knows its batch size, examples seen and
epochs. Those are steps in other units (step x batch_size, and that over the
training split's rows): a chart is built against steps and `in_step_units`
rescales its step axis, the one place the conversion is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mtlviz.charts.figure import compact, with_font_size
from mtlviz.charts.lines import X_AXES
from mtlviz.export import ExportError, figure_html, figure_png, find_chrome
from mtlviz.records import RunMetadata
from mtlviz.ui.state import CHART_BAND, CHART_BEST_LR, CHART_X, PRESENTER
from mtlviz.ui.views.results import Derived, Results

# What the figure builders draw against (the saved-runs overlay offers these alone).
X_LABELS = {"step": "Step", "seconds": "Seconds"}


@dataclass(frozen=True)
class StepUnit:
    """Steps counted in another unit: `per_step(metadata)` of it per step (0: the run does not say)."""

    label: str  # in the x-axis switch
    title: str  # the axis title
    hover: str  # an x value in the hover text
    per_step: Callable[[RunMetadata], float]


STEP_UNITS = {
    "examples": StepUnit("Examples", "examples seen", "%{x:,.0f} examples", lambda m: float(m.batch_size)),
    "epochs": StepUnit(
        "Epochs", "epochs", "epoch %{x:.3g}", lambda m: m.batch_size / m.train_examples if m.train_examples else 0.0
    ),
}
STEP_HOVER = "step %{x}"  # how the line traces (charts/lines.py) say a step in their hover text
# Session state: (unit, its per_step) the chart controls chose for the charts drawn after them; None: steps.
CHART_STEP_UNIT = "chart_step_unit"
BAND_LABELS = {"std": "mean ± std", "minmax": "min – max", "none": "mean only"}
PLOTLY_CONFIG = {"displaylogo": False}
PRESENTER_FONT = 18  # px, the smallest label in the presenter view: readable from the back of a room


def always(results: Results) -> bool:
    return True


@dataclass(frozen=True)
class View:
    """One view of a run's results: its name in the picker, whether it applies to a run, how it draws."""

    name: str
    draw: Callable[[Results, Derived], None]
    available: Callable[[Results], bool] = always


@dataclass(frozen=True)
class ChartChoices:
    """The chart controls' choices, for the view's figure builders."""

    x: str  # what the figure builders draw against: "step" or "seconds"
    band: str | None  # the seed band: "std", "minmax", or None (one seed, or "mean only")
    runs: tuple[str, ...]  # the runs to draw
    unit: str = ""  # a STEP_UNITS key: the step axis is shown in that unit (`in_step_units`); "": in steps
    per_step: float = 1.0  # of that unit per step


def presenting() -> bool:
    return bool(st.session_state.get(PRESENTER))


def x_axes(metadata: RunMetadata | None, chosen: str = "") -> dict[str, str]:
    """The x-axes a run's charts can show, key -> label: steps in another unit only where the metadata
    gives how many of it a step is (not Toy 2D's, not a run saved before it was recorded). Before the
    metadata exists, `chosen` stays offered, so a new run keeps the axis the last one had."""
    axes = dict(X_LABELS)
    for key, unit in STEP_UNITS.items():
        if (metadata is None and key == chosen) or (metadata is not None and unit.per_step(metadata) > 0):
            axes[key] = unit.label
    return axes


def in_step_units(figure: go.Figure, unit: str, per_step: float) -> go.Figure:
    """`figure`, drawn against steps, with its step axis in `unit` (a STEP_UNITS key): every x value times
    `per_step`, the axis titles and hover texts in that unit. Another figure (seconds, learning rates,
    loss space) is left as it is. Changes `figure` in place and returns it.

    Examples and epochs are proportional to steps, so the lines, their downsampled points and the
    divergence markers are exactly where a builder drawing against them would put them."""
    spec = STEP_UNITS[unit]
    axes = list(figure.select_xaxes())
    if not any(axis.title.text == X_AXES["step"] for axis in axes):
        return figure
    for axis in axes:
        if axis.title.text == X_AXES["step"]:
            axis.title.text = spec.title
        if axis.range is not None:
            axis.range = [bound * per_step for bound in axis.range]
    for trace in figure.data:
        x = getattr(trace, "x", None)
        if x is None or not np.issubdtype(np.asarray(x).dtype, np.number):
            continue
        trace.x = compact(np.asarray(x, dtype=np.float64) * per_step)
        if isinstance(getattr(trace, "hovertemplate", None), str):
            trace.hovertemplate = trace.hovertemplate.replace(STEP_HOVER, spec.hover)
    return figure


def chart_controls(results: Results, derived: Derived, time_axis: bool = True) -> ChartChoices:
    """Axis, band and filter choices shared by the views (hidden in the presenter view).

    time_axis=False: the view has no step or seconds axis (Loss space), so no switch for it."""
    state = st.session_state
    state.setdefault(CHART_X, "step")
    state.setdefault(CHART_BAND, "std")
    state.setdefault(CHART_BEST_LR, False)
    seeds = results.config.train.seeds > 1
    swept = bool(derived.swept)
    axes = x_axes(derived.metadata, state[CHART_X] or "")
    if state[CHART_X] not in axes:
        state[CHART_X] = "step"  # an axis this run cannot show (the switch would show none chosen)
    if not presenting():
        cols = st.columns([1, 1, 1])
        if time_axis:
            cols[0].segmented_control("x-axis", list(axes), format_func=axes.get, key=CHART_X, required=True)
        else:
            state[CHART_X] = state[CHART_X]  # kept for the other views while this one does not draw it
        if seeds:
            cols[1].segmented_control(
                "Seed band", list(BAND_LABELS), format_func=BAND_LABELS.get, key=CHART_BAND, required=True
            )
        if swept:
            cols[2].toggle(
                "Best lr only",
                key=CHART_BEST_LR,
                help="Show only each configuration's best learning rate (lowest final validation objective).",
            )
    band = state[CHART_BAND] if seeds else None
    runs = tuple(results.runs)
    if swept and state[CHART_BEST_LR]:
        table = derived.run_table
        keep = set(table.loc[~table["configuration"].isin(derived.swept), "run"]) | set(derived.best_runs.values())
        runs = tuple(r for r in runs if r in keep)
    chosen = state[CHART_X] or "step"
    unit = chosen if chosen in STEP_UNITS and time_axis and derived.metadata is not None else ""
    per_step = STEP_UNITS[unit].per_step(derived.metadata) if unit else 1.0
    # For chart() below, which the views call with the figure alone.
    state[CHART_STEP_UNIT] = (unit, per_step) if unit else None
    x = "seconds" if chosen == "seconds" else "step"
    return ChartChoices(x=x, band=None if band == "none" else band, runs=runs, unit=unit, per_step=per_step)


def _step_unit() -> tuple[str, float] | None:
    """The unit the chart controls chose for the step axis, while the x-axis switch still says so (the
    saved-runs overlay draws its own switch, steps or seconds, with the same key)."""
    chosen = st.session_state.get(CHART_STEP_UNIT)
    return chosen if chosen is not None and st.session_state.get(CHART_X) == chosen[0] else None


def chart(figure: go.Figure, key: str) -> None:
    """Draw a figure, enlarged in the presenter view, with PNG and HTML exports under it; a figure drawn
    against steps shows them in the unit the x-axis switch chose (examples, epochs)."""
    if (unit := _step_unit()) is not None:
        in_step_units(figure, *unit)
    if presenting():
        height = figure.layout.height or 450
        figure.update_layout(height=int(height * 1.5))
        with_font_size(figure, PRESENTER_FONT)
        st.plotly_chart(figure, key=key, config=PLOTLY_CONFIG)
        return
    st.plotly_chart(figure, key=key, config=PLOTLY_CONFIG)
    with st.popover("Export chart", icon=":material/download:"):
        try:
            find_chrome()
            png_help, png_ok = "A 2400-pixel-wide image of the chart as shown.", True
        except ExportError as exc:
            png_help, png_ok = str(exc), False
        st.download_button(
            "PNG image",
            lambda: figure_png(figure),
            f"{key}.png",
            "image/png",
            key=f"{key}_png",
            on_click="ignore",
            disabled=not png_ok,
            help=png_help,
        )
        st.download_button(
            "Interactive HTML",
            lambda: figure_html(figure),
            f"{key}.html",
            "text/html",
            key=f"{key}_html",
            on_click="ignore",
            help="A standalone page that zooms and hovers like the dashboard, offline.",
        )
