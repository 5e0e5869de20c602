"""The chart views of a run's results: Loss, Updates, Conflict and LR sensitivity.

They draw from any `Results`: a live training job, a saved run, or two saved
runs overlaid. Each chart can be exported as PNG or interactive HTML; in the
presenter view the controls are hidden and the charts enlarged.
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from mtlviz.charts import loss_curves
from mtlviz.charts.conflict import NO_SHARED, conflict_reading, cosine_chart, cosine_heatmaps, task_grad_norm_chart
from mtlviz.charts.loss_space import loss_space_chart, toy2d_contour_chart
from mtlviz.charts.sensitivity import lr_sensitivity
from mtlviz.charts.task_weights import task_weight_chart
from mtlviz.charts.updates import LAYER_CHARTS, layer_chart, layer_names
from mtlviz.config import ExperimentConfig
from mtlviz.data.toy2d import pareto_front
from mtlviz.engine.records import GRAD_COSINE, POSITION, TASK_GRAD_NORM, TASK_WEIGHT, TRAIN_LOSS, VAL_LOSS
from mtlviz.engine.rows import run_table
from mtlviz.export import ExportError, figure_html, figure_png, find_chrome
from mtlviz.summary import best_learning_rates, final_losses, summary_table
from mtlviz.ui.state import (
    CHART_BAND,
    CHART_BEST_LR,
    CHART_LOG,
    CHART_SMOOTHING,
    CHART_SPLIT,
    CHART_X,
    PRESENTER,
    UPDATES_LAYERS,
    UPDATES_METRIC,
    VIEW,
)

SPLIT_LABELS = {"train": "Train", "validation": "Validation", "both": "Both"}
BAND_LABELS = {"std": "mean ± std", "minmax": "min – max", "none": "mean only"}
X_LABELS = {"step": "Step", "seconds": "Seconds"}
SENSITIVITY = "LR sensitivity"
WEIGHTS = "Task weights"
LOSS_SPACE = "Loss space"
PLOTLY_CONFIG = {"displaylogo": False}


class Results(Protocol):
    """What the views read: a job while it trains, or a saved run."""

    config: ExperimentConfig
    has_shared_parameters: bool | None
    diverged_runs: dict[str, dict[int, int]]

    @property
    def runs(self) -> tuple[str, ...]: ...

    def frame(self, metrics: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame: ...


def presenting() -> bool:
    return bool(st.session_state.get(PRESENTER))


def views(results: Results, empty: str = "Waiting for the first steps…") -> None:
    """The view picker and the chosen view."""
    config = results.config
    swept = any(o.is_sweep for o in config.optimizers)
    weighted = any(m.name not in ("static", "equal") for m in config.methods)
    two_tasks = len(config.tasks.task_names) == 2
    names = ["Loss", "Updates", "Conflict"] + ([SENSITIVITY] if swept else [])
    names += ([WEIGHTS] if weighted else []) + ([LOSS_SPACE] if two_tasks else [])
    if st.session_state.get(VIEW) not in names:
        st.session_state[VIEW] = "Loss"
    view = st.segmented_control("View", names, key=VIEW, required=True, label_visibility="collapsed")
    if results.frame([TRAIN_LOSS, VAL_LOSS]).empty:
        st.info(empty)
        return
    if view == "Updates":
        _updates_view(results)
    elif view == "Conflict":
        _conflict_view(results)
    elif view == SENSITIVITY:
        _sensitivity_view(results)
    elif view == WEIGHTS:
        _weights_view(results)
    elif view == LOSS_SPACE:
        _loss_space_view(results)
    else:
        _loss_view(results)


def diverged_steps(results: Results) -> dict[str, int]:
    """run -> the first step any of its seeds diverged (where the chart marks it)."""
    return {run: min(seeds.values()) for run, seeds in results.diverged_runs.items() if seeds}


def best_runs(results: Results, summary: pd.DataFrame | None = None) -> dict[str, str]:
    """Configuration -> its best run (lowest final validation objective)."""
    config = results.config
    if summary is None:
        summary = summary_table(results.frame([VAL_LOSS]), results.diverged_runs)
    weights = {t.name: t.weight for t in config.tasks.targets}
    return best_learning_rates(summary, run_table(config), weights)


def _chart_controls(results: Results, seeds: bool, swept: bool) -> dict:
    """Axis, band and filter choices shared by the views (hidden in the presenter view)."""
    state = st.session_state
    state.setdefault(CHART_X, "step")
    state.setdefault(CHART_BAND, "std")
    state.setdefault(CHART_BEST_LR, False)
    if not presenting():
        cols = st.columns([1, 1, 1])
        cols[0].segmented_control("x-axis", list(X_LABELS), format_func=X_LABELS.get, key=CHART_X, required=True)
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
    runs = results.runs
    if swept and state[CHART_BEST_LR]:
        best = best_runs(results)
        swept_configs = {o.label for o in results.config.optimizers if o.is_sweep}
        table = run_table(results.config)
        keep = {r for r, c in zip(table["run"], table["configuration"]) if c not in swept_configs}
        keep |= set(best.values())
        runs = tuple(r for r in runs if r in keep)
    return {"x": state[CHART_X] or "step", "band": None if band == "none" else band, "runs": runs}


def _loss_view(results: Results) -> None:
    records = results.frame([TRAIN_LOSS, VAL_LOSS])
    config = results.config
    choices = _chart_controls(results, config.train.seeds > 1, any(o.is_sweep for o in config.optimizers))
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
        choices["runs"],
        config.tasks.task_names,
        split=split or "both",
        log_y=log_y,
        smoothing=smoothing,
        diverged=diverged_steps(results),
        band=choices["band"],
        x=choices["x"],
    )
    chart(figure, "loss_chart")


def _updates_view(results: Results) -> None:
    layers = layer_names(results.frame(["grad_norm"]))
    config = results.config
    if not layers:
        every = config.train.stats_every
        st.info(
            f"Update statistics are recorded every {every} steps; none yet."
            if every
            else "Update statistics are off for this run (stats_every = 0)."
        )
        return
    choices = _chart_controls(results, config.train.seeds > 1, any(o.is_sweep for o in config.optimizers))
    metric_col, layers_col = st.columns([1, 2])
    metric = metric_col.selectbox(
        "Statistic", list(LAYER_CHARTS), format_func=lambda m: LAYER_CHARTS[m][0], key=UPDATES_METRIC
    )
    default = [name for name in layers if name.endswith("weight")] or layers
    if st.session_state.get(UPDATES_LAYERS) and not set(st.session_state[UPDATES_LAYERS]) <= set(layers):
        del st.session_state[UPDATES_LAYERS]  # another run's layers
    chosen = layers_col.multiselect("Layers", layers, default=default, key=UPDATES_LAYERS)
    st.caption(_UPDATES_HELP[metric])
    wanted = [metric, "effective_lr_p10", "effective_lr_p90"] if metric == "effective_lr" else [metric]
    figure = layer_chart(results.frame(wanted), choices["runs"], chosen, metric, x=choices["x"], band=choices["band"])
    chart(figure, "updates_chart")


_UPDATES_HELP = {
    "update_ratio": "How far each step moves a layer relative to its size; around -3 (1e-3) is a common healthy value.",
    "grad_norm": "Norm of the gradient each optimizer stepped with, per layer.",
    "effective_lr": "Per-element step size from the optimizer's own state (median, 10-90% band); SGD's is its lr.",
    "update_norm": "Norm of the actual parameter change of each step, measured around optimizer.step().",
    "weight_decay_norm": "The part of each step that comes from weight decay: decoupled (AdamW) or L2 (SGD, Adam).",
    "param_norm": "Norm of each layer's weights.",
}


def _conflict_view(results: Results) -> None:
    config = results.config
    if results.has_shared_parameters is False:
        st.info(NO_SHARED)
        return
    if not config.train.conflict_every:
        st.info("Gradient-conflict measurements are off for this run (conflict_every = 0).")
        return
    records = results.frame([GRAD_COSINE, TASK_GRAD_NORM])
    lines = conflict_reading(records)
    if not lines:
        st.info(f"Per-task gradients are measured every {config.train.conflict_every} steps; none yet.")
        return
    choices = _chart_controls(results, config.train.seeds > 1, any(o.is_sweep for o in config.optimizers))
    for line in lines:
        st.markdown(line)
    runs, tasks = choices["runs"], config.tasks.task_names
    chart(cosine_chart(records, runs, x=choices["x"], band=choices["band"]), "cosine_chart")
    heat_col, norm_col = st.columns(2)
    with heat_col:
        st.caption("Latest cosine between task gradients on the shared layers (red: conflict)")
        chart(cosine_heatmaps(records, runs, tasks), "cosine_heatmap")
    with norm_col:
        st.caption("Each task's gradient norm on the shared layers")
        chart(task_grad_norm_chart(records, runs, tasks, x=choices["x"], band=choices["band"]), "task_grad_norms")


def _sensitivity_view(results: Results) -> None:
    config = results.config
    st.caption(
        "Final validation loss per task against the learning rate: one line per configuration, the mean over "
        "seeds with their standard deviation. The ring marks each configuration's best learning rate (lowest "
        "final validation objective, the weighted sum of task losses)."
    )
    records = results.frame([VAL_LOSS])
    final = final_losses(records, results.diverged_runs)
    summary = summary_table(records, results.diverged_runs)
    figure = lr_sensitivity(final, run_table(config), config.tasks.task_names, best_runs(results, summary))
    chart(figure, "sensitivity_chart")


def _weights_view(results: Results) -> None:
    config = results.config
    st.caption(
        "The weight each run's method put on every task: on its loss for weightings, on its gradient for "
        "PCGrad, MGDA and CAGrad (the coefficients c_t of their direction sum_t c_t g_t). Recorded every "
        f"{config.train.stats_every or 'stats_every'} steps."
    )
    choices = _chart_controls(results, config.train.seeds > 1, any(o.is_sweep for o in config.optimizers))
    figure = task_weight_chart(
        results.frame([TASK_WEIGHT]), choices["runs"], config.tasks.task_names, x=choices["x"], band=choices["band"]
    )
    chart(figure, "task_weight_chart")


def _loss_space_view(results: Results) -> None:
    config = results.config
    toy = config.tasks.source == "toy2d"
    choices = _chart_controls(results, config.train.seeds > 1, any(o.is_sweep for o in config.optimizers))
    records = results.frame([TRAIN_LOSS] if not toy else [TRAIN_LOSS, POSITION])
    tasks = config.tasks.task_names
    if toy:
        st.caption(
            "Left: each run's path on the mean loss (L1 + L2) / 2, with the Pareto set (every point where no "
            "step can lower one loss without raising the other) as a white line. Right: the same paths in loss "
            "space, L1 against L2, with the Pareto front in grey."
        )
        left, right = st.columns(2)
        with left:
            chart(toy2d_contour_chart(records, choices["runs"], start=config.tasks.start), "toy2d_contour")
        with right:
            chart(loss_space_chart(records, choices["runs"], tasks, front=pareto_front()), "loss_space_chart")
        return
    st.caption(
        f"Each run's training losses, {tasks[0]} against {tasks[1]}, from the start (circle) to the latest step "
        "(star): runs that end lower-left are better on both tasks."
    )
    chart(loss_space_chart(records, choices["runs"], tasks), "loss_space_chart")


def chart(figure: go.Figure, key: str) -> None:
    """Draw a figure, enlarged in the presenter view, with PNG and HTML exports under it."""
    if presenting():
        height = figure.layout.height or 450
        figure.update_layout(height=int(height * 1.5), font={"size": 17})
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
