"""What every view shares: the View spec, chart drawing with its exports, the chart controls.

Each chart can be exported as PNG or interactive HTML; in the presenter view
the controls are hidden and the charts enlarged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st

from mtlviz.charts.figure import with_font_size
from mtlviz.export import ExportError, figure_html, figure_png, find_chrome
from mtlviz.ui.state import CHART_BAND, CHART_BEST_LR, CHART_X, PRESENTER
from mtlviz.ui.views.results import Derived, Results

X_LABELS = {"step": "Step", "seconds": "Seconds"}
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

    x: str  # "step" or "seconds"
    band: str | None  # the seed band: "std", "minmax", or None (one seed, or "mean only")
    runs: tuple[str, ...]  # the runs to draw


def presenting() -> bool:
    return bool(st.session_state.get(PRESENTER))


def chart_controls(results: Results, derived: Derived, time_axis: bool = True) -> ChartChoices:
    """Axis, band and filter choices shared by the views (hidden in the presenter view).

    time_axis=False: the view has no step or seconds axis (Loss space), so no switch for it."""
    state = st.session_state
    state.setdefault(CHART_X, "step")
    state.setdefault(CHART_BAND, "std")
    state.setdefault(CHART_BEST_LR, False)
    seeds = results.config.train.seeds > 1
    swept = bool(derived.swept)
    if not presenting():
        cols = st.columns([1, 1, 1])
        if time_axis:
            cols[0].segmented_control("x-axis", list(X_LABELS), format_func=X_LABELS.get, key=CHART_X, required=True)
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
    return ChartChoices(x=state[CHART_X] or "step", band=None if band == "none" else band, runs=runs)


def chart(figure: go.Figure, key: str) -> None:
    """Draw a figure, enlarged in the presenter view, with PNG and HTML exports under it."""
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
