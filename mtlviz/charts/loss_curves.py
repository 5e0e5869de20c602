"""Per-task loss curves: one panel per task, one colour per run.

A log axis is used only where every drawn loss is positive (Toy 2D's losses go
below zero): otherwise the figure is linear and says why (`log_scale_note`). A
log axis spanning under two decades gets explicit tick labels, so it never
shows one number or none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mtlviz.charts.colors import run_colors
from mtlviz.charts.figure import Panel, build_figure, compact, panel_grid, set_axes
from mtlviz.charts.lines import check_x, line_traces
from mtlviz.charts.seeds import aggregate_seeds
from mtlviz.charts.text import plotly_text, template_text
from mtlviz.records import TRAIN_LOSS, VAL_LOSS, Divergence

SPLITS = ("train", "validation", "both")


def loss_curves(
    records: pd.DataFrame,
    runs: list[str] | tuple[str, ...],
    tasks: list[str] | tuple[str, ...],
    split: str = "both",
    log_y: bool = True,
    smoothing: float = 0.0,
    divergences: Mapping[str, Divergence] | None = None,
    step_range: tuple[int, int] | None = None,
    band: str | None = "std",
    x: str = "step",
    diverged_seeds: Mapping[str, Mapping[int, int]] | None = None,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Loss against step (or wall-clock seconds) per task.

    Train loss is a solid line (EMA-smoothed by `smoothing`), validation loss a
    dashed line with markers. `divergences` maps a run to its (first) divergence
    event, from the run's metadata: the run ends in an x marked "diverged at step
    N", each panel labelled with the event's loss for that panel's task. A
    configuration run with several seeds is drawn as its mean over seeds, inside
    a band: mean ± std (band="std"), the seeds' min-max (band="minmax"), or none
    (band=None); see charts/seeds.py.
    With x="seconds" the lines run against the mean wall-clock time of each step.
    `diverged_seeds` (run -> {seed: step}, from the metadata) makes a mean line
    say on how many seeds it rests after some diverged. `colors` maps runs to
    their colours (the same in every chart of the run); by default one each.
    log_y asks for a log axis; it is used only when every drawn loss is positive.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, found {split!r}")
    x_title = check_x(x)
    colors = {run: (colors or {}).get(run) or own for run, own in run_colors(runs).items()}
    layout, panels = panel_grid(list(tasks), cols=2 if len(tasks) <= 4 else 3, x_title=x_title, y_title="loss")
    data = records if step_range is None else records[records["step"].between(*step_range)]
    lowest = _lowest_drawn(data, runs, tasks, split)
    log_off = None
    if log_y and lowest is not None and lowest <= 0:
        log_y = False
        log_off = (
            f"Log scale is off: some losses are ≤ 0 (the lowest is {lowest:.4g}), and a log axis cannot show them."
        )
    diverged = {run: event for run, event in (divergences or {}).items() if run in colors}
    shown: set[str] = set()
    traces: list[dict] = []
    train_rows = data[data["metric"] == TRAIN_LOSS] if split != "validation" or diverged else None
    train = None
    if split in ("train", "both"):
        train = aggregate_seeds(train_rows, "task", band, positive=log_y)
        traces += line_traces(
            train.mean,
            runs,
            tasks,
            "task",
            panels,
            colors,
            shown,
            smoothing=smoothing,
            label="train loss",
            band=train.band,
            x=x,
            seeds=train.seeds,
            diverged=diverged_seeds,
        )
    if split in ("validation", "both"):
        val = aggregate_seeds(data[data["metric"] == VAL_LOSS], "task", band, positive=log_y)
        traces += line_traces(
            val.mean,
            runs,
            tasks,
            "task",
            panels,
            colors,
            shown,
            dash="dash",
            markers=True,
            label="val loss",
            band=val.band,
            x=x,
            seeds=val.seeds,
            diverged=diverged_seeds,
        )
    # A diverged configuration's loss can reach 1e25: scale the axes to the healthy
    # ones, and pin its marker to the top edge (the marker's text has the real loss).
    healthy = [t for t in traces if t["legendgroup"] not in diverged]
    low, high = _value_range(healthy or traces, log_y)
    top = high if diverged and healthy else None
    ceiling = None if top is None else (10**top if log_y else top)  # in data units
    if diverged:
        if train is None:
            train = aggregate_seeds(train_rows, "task", None)
        last_x = float(data[x].max()) if not data.empty else 0.0
        for run, event in diverged.items():
            traces += _divergence_markers(
                train_rows, train.mean, run, event, tasks, panels, colors[run], ceiling, last_x, x
            )
    if log_y:
        axis = {"type": "log"}
        if top is not None:
            margin = 0.05 * (high - low or 1)
            axis["range"] = [low - margin, high + 3 * margin]
        set_axes(layout, "y", **axis)
        for panel in panels:
            # Each panel's own range: one labelled tick per decade, or explicit ticks under two decades.
            name = "yaxis" + panel.yaxis.removeprefix("y")
            own = [t for t in (healthy or traces) if t["yaxis"] == panel.yaxis]
            layout[name] = {**layout[name], **_log_ticks(*_value_range(own, True))}
    elif top is not None:
        margin = 0.05 * (high - low or 1)
        set_axes(layout, "y", range=[low - margin, high + 3 * margin])
    layout["legend"] = {"title": {"text": "solid: train<br>dashed: validation"}, "x": 1.01, "y": 1, "yanchor": "top"}
    layout["uirevision"] = "loss_curves"  # keeps legend toggles across live refreshes
    if log_off:
        layout["meta"] = {"log_scale_off": log_off}
    return build_figure(traces, layout)


def log_scale_note(figure: go.Figure) -> str | None:
    """Why a loss_curves figure asked for a log axis is linear, or None when it is not."""
    meta = figure.layout.meta
    return meta.get("log_scale_off") if isinstance(meta, dict) else None


def _lowest_drawn(data: pd.DataFrame, runs, tasks, split: str) -> float | None:
    """The lowest loss the figure draws (the split's metrics, these runs and tasks); None with none."""
    metrics = {"train": [TRAIN_LOSS], "validation": [VAL_LOSS], "both": [TRAIN_LOSS, VAL_LOSS]}[split]
    drawn = data["metric"].isin(metrics) & data["run"].isin(list(runs)) & data["task"].isin(list(tasks))
    values = data.loc[drawn, "value"].to_numpy(dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.min()) if len(values) else None


def _log_ticks(low: float | None, high: float | None) -> dict:
    """Tick settings of a log axis whose values span log10 units [low, high].

    Two decades or more: one labelled tick per decade. Less: explicit ticks,
    1-2-5 or every digit per decade, or evenly spaced when even that gives fewer
    than three, each labelled with three significant digits.
    """
    if low is None or high is None:
        return {}
    if high - low >= 2:
        return {"dtick": 1} if high - low <= 6 else {}
    bottom, top = 10**low, 10**high
    decades = range(math.floor(low) - 1, math.ceil(high) + 1)
    ticks: list[float] = []
    for digits in ((1, 2, 5), tuple(range(1, 10))):
        ticks = [d * 10.0**e for e in decades for d in digits if bottom * (1 - 1e-6) <= d * 10.0**e <= top * (1 + 1e-6)]
        if len(ticks) >= 3:
            break
    if len(ticks) < 3 and top > bottom:
        step = _nice((top - bottom) / 4)
        ticks = [float(v) for v in np.arange(math.ceil(bottom / step - 1e-6) * step, top * (1 + 1e-6), step)]
    if not ticks:
        ticks = [bottom]
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [f"{v:.3g}" for v in ticks]}


def _nice(step: float) -> float:
    """The 1, 2 or 5 times a power of ten nearest above `step`."""
    power = 10.0 ** math.floor(math.log10(step))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= step)


def _value_range(traces: list[dict], log_y: bool) -> tuple[float | None, float | None]:
    """(low, high) of the traces' y values, in log10 units on a log axis."""
    values = [np.asarray(t["y"], dtype=np.float64) for t in traces if len(t["y"])]
    if not values:
        return None, None
    y = np.concatenate(values)
    y = y[np.isfinite(y) & (y > 0)] if log_y else y[np.isfinite(y)]
    if not len(y):
        return None, None
    if log_y:
        y = np.log10(y)
    return float(y.min()), float(y.max())


def _divergence_markers(
    rows: pd.DataFrame,
    mean: pd.DataFrame,
    run: str,
    event: Divergence,
    tasks,
    panels: list[Panel],
    color: str,
    ceiling: float | None,
    last_x: float,
    x: str,
) -> list[dict]:
    """An x where the run diverged, labelled with its loss; at the top edge when off-scale.

    The label is the event's train loss of the panel's task at that step: the
    engine's own number, the one the live banner gives for the task that tripped
    ("not finite" where it was NaN or infinite). The x sits at that loss or, when
    it is not finite or not known (a run saved before events held every task's
    loss), at the run's last recorded train loss. With x="seconds" the marker sits
    at the seconds of that step, extrapolated at the run's pace when the step
    itself has no row (a non-finite loss is not recorded).
    """
    traces = []
    step = event.step
    rows = rows[rows["run"] == run]
    mean = mean[mean["run"] == run]
    for task, panel in zip(tasks, panels):
        in_panel = rows[rows["task"] == task]
        if in_panel.empty:
            continue
        known, loss = _event_loss(event, task)
        placed = loss if loss is not None else _loss_at(in_panel, step)
        shown = placed if ceiling is None else min(placed, ceiling)
        at = float(step) if x == "step" else _seconds_at(mean[mean["task"] == task], step)
        label = f"{plotly_text(run)} diverged at step {step}"
        if known:
            label += f" (loss {'not finite' if loss is None else f'{loss:.3g}'})"
        traces.append(
            {
                "type": "scatter",
                "x": compact(np.array([at])) if x == "seconds" else compact(np.array([step])),
                "y": compact(np.array([shown])),
                "xaxis": panel.xaxis,
                "yaxis": panel.yaxis,
                "mode": "markers+text",
                "marker": {"symbol": "x", "size": 12, "color": color},
                "text": [label],
                # Text away from the nearer edge, so it is never cut off.
                "textposition": "bottom right" if last_x <= 0 or at < 0.6 * last_x else "bottom left",
                "showlegend": False,
                "legendgroup": run,
                "hovertemplate": f"{template_text(run)} diverged at step {step}<extra></extra>",
            }
        )
    return traces


def _event_loss(event: Divergence, task: str) -> tuple[bool, float | None]:
    """(known, loss): the event's train loss of `task`; None when it was not finite."""
    if task in event.losses:
        return True, event.losses[task]
    if task == event.task:
        return True, event.loss
    return False, None


def _loss_at(rows: pd.DataFrame, step: int) -> float:
    """Where to place a marker whose loss is not finite or not known: the highest
    over seeds of each seed's last train loss at or before `step`.

    The seed that blew up stops recording (a non-finite loss is dropped), so its
    last row can be a step or more before the others' last one.
    """
    before = rows[rows["step"] <= step]
    if before.empty:
        return float(rows.sort_values("step", kind="stable")["value"].iloc[0])
    before = before.sort_values("step", kind="stable")
    if "seed" not in before.columns:
        return float(before["value"].iloc[-1])
    return float(before.groupby("seed", sort=False)["value"].last().max())


def _seconds_at(mean: pd.DataFrame, step: int) -> float:
    steps = mean["step"].to_numpy(dtype=np.float64)
    seconds = mean["seconds"].to_numpy(dtype=np.float64)
    if not len(steps):
        return 0.0
    order = np.argsort(steps, kind="stable")
    steps, seconds = steps[order], seconds[order]
    if step <= steps[-1] or len(steps) == 1:
        return float(np.interp(step, steps, seconds))
    pace = (seconds[-1] - seconds[0]) / (steps[-1] - steps[0])
    return float(seconds[-1] + pace * (step - steps[-1]))
