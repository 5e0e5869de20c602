"""Isolation plots (the Deep Learning Tuning Playbook): each trial's validation objective against one searched knob.

A search trains each configuration at several settings of its nuisance
hyperparameters (mtlviz/search.py); the protocol report (mtlviz/protocol.py)
then chooses each configuration's best trial on validation. These panels show
what that choice rests on: one panel per searched numeric knob (lr,
weight_decay, momentum, schedule.warmup_steps, clip_norm, each position of a
pair such as betas that varies), each trial a point at its value of the knob
and its final validation objective (the mean over seeds of sum_t w_t L_t, with
its std). A chosen trial near the edge of what was tried, or a sharp valley,
says the search space or budget should change before the comparison is read.

The first panel is the comparison itself: each configuration's chosen trial,
its validation objective and its test objective. An infeasible trial (a seed
diverged) is an x at the top of its panels: it could not be chosen.

Every number comes from the Report: nothing is chosen or averaged here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.colors import configuration_colors
from mtlviz.charts.figure import build_figure, empty_figure, legend_key, panel_grid
from mtlviz.charts.text import plotly_text, template_text
from mtlviz.protocol import Figure, Report

TRIAL_COLUMNS = ("configuration", "run", "hyperparameters", "objective", "std", "seeds", "of", "feasible", "chosen")
CHOSEN_PANEL = "chosen trials: validation (●) and test (◆) objective"
Y_TITLE = "final objective (Σ w·loss)"
DECADE = 10.0  # values spanning more than this ratio read better on a log axis
OFFSET = 0.15  # the validation and test markers of one configuration, either side of its tick


@dataclass(frozen=True)
class Knob:
    """One panel: a searched knob, or one position of a searched pair (betas[0])."""

    name: str  # the knob, as in the trial's hyperparameters
    index: int | None  # the position in a pair; None for a number

    @property
    def label(self) -> str:
        return self.name if self.index is None else f"{self.name}[{self.index}]"

    def value(self, hyperparameters: Mapping[str, Any]) -> float:
        """This knob's value in a trial; NaN where the trial's configuration does not search it."""
        value = hyperparameters.get(self.name)
        if self.index is not None:
            value = value[self.index] if isinstance(value, list | tuple) and len(value) > self.index else None
        return float(value) if _number(value) else math.nan


def isolation_plot(
    report: Report, scales: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None
) -> go.Figure:
    """The chosen trials, then one panel per searched numeric knob: each trial's validation objective.

    scales: knob -> "log" or "linear", the scale its search space was given on
    (a knob searched from listed values has none): a log space gets a log axis,
    a linear one a linear axis, and listed values a log axis when they are all
    positive and span more than a decade. colors maps runs to their colours (as
    in the run's other charts): a configuration takes its first run's.
    """
    trials = report.trials
    missing = [c for c in TRIAL_COLUMNS if c not in trials.columns]
    if missing:
        raise ValueError(f"expected trial columns {', '.join(TRIAL_COLUMNS)}, missing {', '.join(missing)}")
    if not report.choices:
        return empty_figure("No configuration has a feasible trial: every trial diverged in some seed.")
    configurations = list(dict.fromkeys(trials["configuration"].astype(str)))
    colors = configuration_colors(trials[["run", "configuration"]].astype(str), configurations, colors)
    knobs = searched_knobs(trials)
    layout, panels = panel_grid(
        [CHOSEN_PANEL, *(f"validation objective against {k.label}" for k in knobs)],
        cols=2 if len(knobs) < 4 else 3,
        y_title=Y_TITLE,
    )
    log_y, y_range, top = _y_axis(report)
    traces = _chosen_panel(report, colors, panels[0], layout)
    shown: set[str] = {c.configuration for c in report.choices}  # named in the first panel's legend entries
    kinds: set[str] = set()
    for knob, panel in zip(knobs, panels[1:]):
        values = np.array([knob.value(h) for h in trials["hyperparameters"]], dtype=np.float64)
        axis = "xaxis" + panel.xaxis.removeprefix("x")
        log_x = _log_x(values[np.isfinite(values)], (scales or {}).get(knob.name))
        layout[axis] = {
            **layout[axis],
            "title": {"text": plotly_text(knob.label)},
            "type": "log" if log_x else "linear",
        }
        for configuration in configurations:
            mine = (trials["configuration"].astype(str) == configuration).to_numpy() & np.isfinite(values)
            if not mine.any():
                continue
            rows = trials[mine].assign(x=values[mine])
            color = colors[configuration]
            feasible = rows[rows["feasible"].astype(bool)]
            if not feasible.empty:
                traces.append(_trials_trace(feasible, knob, configuration, color, panel, configuration not in shown))
                shown.add(configuration)
                chosen = feasible[feasible["chosen"].astype(bool)]
                if not chosen.empty:
                    traces.append(_chosen_trace(chosen, knob, configuration, color, panel))
                    kinds.add("chosen")
            infeasible = rows[~rows["feasible"].astype(bool)]
            if not infeasible.empty:
                traces.append(_infeasible_trace(infeasible, knob, configuration, color, panel, top))
                kinds.add("infeasible")
    traces += [_key(kind) for kind in ("chosen", "infeasible") if kind in kinds]
    for key in [k for k in layout if k.startswith("yaxis")]:
        layout[key] = {**layout[key], "type": "log" if log_y else "linear", "range": y_range}
    layout["legend"] = {"title": {"text": "configuration"}, "x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = "isolation"
    return build_figure(traces, layout)


def searched_knobs(trials: pd.DataFrame) -> list[Knob]:
    """The knobs the trials searched that have a number per trial; a pair gives each position that varies."""
    knobs: list[Knob] = []
    names = list(dict.fromkeys(k for h in trials["hyperparameters"] for k in h))
    for name in names:
        values = [h[name] for h in trials["hyperparameters"] if name in h]
        if all(_number(v) for v in values):
            knobs.append(Knob(name, None))
        elif all(isinstance(v, list | tuple) and v and all(_number(p) for p in v) for v in values):
            width = min(len(v) for v in values)
            knobs += [Knob(name, i) for i in range(width) if len({float(v[i]) for v in values}) > 1]
    return knobs


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _log_x(values: np.ndarray, scale: str | None) -> bool:
    """A log axis for a log space, or for listed values that are positive and span more than a decade."""
    if len(values) == 0 or (values <= 0).any():
        return False
    if scale is not None:
        return scale == "log"
    return float(values.max()) / float(values.min()) > DECADE


def _y_axis(report: Report) -> tuple[bool, list[float], float]:
    """(log axis?, the axis range, where the infeasible markers sit), shared by every panel."""
    trials = report.trials
    feasible = trials[trials["feasible"].astype(bool)]
    means = [
        *feasible["objective"],
        *(c.validation.mean for c in report.choices),
        *(c.test.mean for c in report.choices),
    ]
    stds = [*feasible["std"], *(c.validation.std for c in report.choices), *(c.test.std for c in report.choices)]
    pairs = [(float(m), float(s) if math.isfinite(s) else 0.0) for m, s in zip(means, stds) if math.isfinite(m)]
    highs = [m + s for m, s in pairs]
    # On a log axis an error bar reaching zero or below is clipped at the bottom: its mean sets the range.
    lows = [m - s if m - s > 0 else m for m, s in pairs]
    log = bool(pairs) and min(m for m, _ in pairs) > 0 and max(highs) / min(lows) > DECADE
    if log:
        low, high = math.log10(min(lows)), math.log10(max(highs))
    else:
        low, high = (min(lows), max(highs)) if pairs else (0.0, 1.0)
    span = (high - low) or 1.0
    marker = high + 0.08 * span  # above every point: where the infeasible trials are marked
    axis = [low - 0.05 * span, high + 0.15 * span]
    return log, axis, 10**marker if log else marker


def _figure_text(row: pd.Series) -> str:
    return Figure(float(row["objective"]), float(row["std"]), int(row["seeds"]), int(row["of"])).text()


def _settings(hyperparameters: Mapping[str, Any]) -> str:
    parts = []
    for knob, value in hyperparameters.items():
        shown = "(" + ", ".join(f"{v:g}" for v in value) + ")" if isinstance(value, list | tuple) else f"{value:g}"
        parts.append(f"{plotly_text(knob)}={shown}")
    return ", ".join(parts)


def _hover(rows: pd.DataFrame) -> list[str]:
    text = []
    for _, row in rows.iterrows():
        line = f"{plotly_text(row['run'])}: {_settings(row['hyperparameters'])}"
        if row["feasible"]:
            line += f"<br>validation objective {_figure_text(row)}"
        else:
            failed = int(row["of"]) - int(row["seeds"])
            line += f"<br>infeasible: diverged in {failed} of {int(row['of'])} seeds; it could not be chosen"
        if row["chosen"]:
            line += "<br>chosen: the lowest validation objective of its configuration's feasible trials"
        text.append(line)
    return text


def _trials_trace(rows: pd.DataFrame, knob: Knob, configuration: str, color: str, panel, show: bool) -> dict:
    trace = _points(rows, rows["objective"], knob, configuration, panel, {"size": 9, "color": color, "opacity": 0.85})
    trace.update(name=plotly_text(configuration), showlegend=show)
    if (rows["seeds"] > 1).any():
        trace["error_y"] = {
            "type": "data",
            "array": rows["std"].fillna(0).to_numpy(dtype=np.float64),
            "color": color,
            "thickness": 1.2,
            "width": 3,
        }
    return trace


def _chosen_trace(rows: pd.DataFrame, knob: Knob, configuration: str, color: str, panel) -> dict:
    marker = {"symbol": "star", "size": 18, "color": color, "line": {"color": "black", "width": 1}}
    trace = _points(rows, rows["objective"], knob, configuration, panel, marker)
    trace["name"] = f"{plotly_text(configuration)} chosen"
    return trace


def _infeasible_trace(rows: pd.DataFrame, knob: Knob, configuration: str, color: str, panel, top: float) -> dict:
    """An x at the top of the panel for each trial with a diverged seed: it has no objective to place it by."""
    at_top = pd.Series(np.full(len(rows), top))
    trace = _points(rows, at_top, knob, configuration, panel, {"symbol": "x", "size": 11, "color": color})
    trace["name"] = f"{plotly_text(configuration)} infeasible"
    return trace


def _points(rows: pd.DataFrame, y: pd.Series, knob: Knob, configuration: str, panel, marker: dict) -> dict:
    """Trials as markers at (their value of the knob, y), with their hover."""
    return {
        "type": "scatter",
        "x": rows["x"].to_numpy(dtype=np.float64),
        "y": y.to_numpy(dtype=np.float64),
        "xaxis": panel.xaxis,
        "yaxis": panel.yaxis,
        "mode": "markers",
        "legendgroup": configuration,
        "showlegend": False,
        "marker": marker,
        "text": _hover(rows),
        "hovertemplate": (
            f"<b>{template_text(configuration)}</b><br>{template_text(knob.label)} %{{x:.4g}}"
            "<br>%{text}<extra></extra>"
        ),
    }


def _chosen_panel(report: Report, colors: Mapping[str, str], panel, layout: dict) -> list[dict]:
    """Per configuration with a feasible trial: its chosen trial's validation (●) and test (◆) objective."""
    traces = []
    for i, choice in enumerate(report.choices):
        color = colors[choice.configuration]
        for offset, figure, what, symbol in (
            (-OFFSET, choice.validation, "validation", "circle"),
            (OFFSET, choice.test, "test", "diamond"),
        ):
            if figure.seeds == 0 or not math.isfinite(figure.mean):
                continue
            trace = {
                "type": "scatter",
                "x": [i + offset],
                "y": [figure.mean],
                "xaxis": panel.xaxis,
                "yaxis": panel.yaxis,
                "mode": "markers",
                "name": plotly_text(choice.configuration),
                "legendgroup": choice.configuration,
                "showlegend": what == "validation",
                "marker": {"symbol": symbol, "size": 12, "color": color},
                "text": [
                    f"chosen trial {plotly_text(choice.run)} (best of {choice.feasible} feasible of {choice.trials} "
                    f"trials)<br>{what} objective {figure.text()}"
                ],
                "hovertemplate": f"<b>{template_text(choice.configuration)}</b><br>%{{text}}<extra></extra>",
            }
            if figure.seeds > 1 and math.isfinite(figure.std):
                trace["error_y"] = {"type": "data", "array": [figure.std], "color": color, "thickness": 1.2, "width": 4}
            traces.append(trace)
    axis = "xaxis" + panel.xaxis.removeprefix("x")
    layout[axis] = {
        **layout[axis],
        "title": {"text": ""},
        "tickmode": "array",
        "tickvals": list(range(len(report.choices))),
        "ticktext": [plotly_text(c.configuration) for c in report.choices],
        "range": [-0.5, len(report.choices) - 0.5],
        "showgrid": False,
        "zeroline": False,  # x = 0 is the first configuration's tick, not a zero
    }
    return traces


KEYS = {
    "chosen": ("star", "chosen: lowest validation objective of its configuration"),
    "infeasible": ("x", "infeasible: a seed diverged (drawn at the top)"),
}


def _key(kind: str) -> dict:
    """A legend entry (no data) that says what a marker means."""
    return legend_key(kind, *KEYS[kind])
