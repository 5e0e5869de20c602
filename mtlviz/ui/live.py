"""The live panel: progress and loss charts, redrawn from a fragment while a job trains.

The fragment only reads a snapshot of the job's MetricLog; the job's thread
never touches Streamlit. When the job ends by itself, the fragment reruns the
whole app once, which stops its timer and lets the page show the summary.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mtlviz.charts import loss_curves
from mtlviz.charts.conflict import NO_SHARED, conflict_reading, cosine_chart, cosine_heatmaps, task_grad_norm_chart
from mtlviz.charts.updates import LAYER_CHARTS, layer_chart, layer_names
from mtlviz.engine.records import GRAD_COSINE, TASK_GRAD_NORM, TRAIN_LOSS, VAL_LOSS
from mtlviz.export import parquet_bytes, safe_csv
from mtlviz.jobs import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, TrainingJob
from mtlviz.summary import summary_table
from mtlviz.ui.state import CHART_LOG, CHART_SMOOTHING, CHART_SPLIT, PAUSE, UPDATES_LAYERS, UPDATES_METRIC, VIEW

REFRESH_SECONDS = 0.5
SPLIT_LABELS = {"train": "Train", "validation": "Validation", "both": "Both"}
VIEWS = ("Loss", "Updates", "Conflict")
PLOTLY_CONFIG = {"displaylogo": False}


def live_panel(job: TrainingJob, live: bool) -> None:
    """Draw the job's panel; refreshes itself every REFRESH_SECONDS while `live`."""
    st.fragment(run_every=REFRESH_SECONDS if live else None)(_panel)(job, live)


def _panel(job: TrainingJob, live: bool) -> None:
    if live and job.ended:
        st.rerun(scope="app")  # stops the timer; the page redraws with the summary
    _status(job)
    view = st.segmented_control("View", VIEWS, default="Loss", key=VIEW, required=True, label_visibility="collapsed")
    if job.log.version == 0:
        st.info("Waiting for the first steps…" if not job.ended else "This run recorded no steps.")
        return
    # Each view takes a snapshot of only the metrics it draws; the worker only appends.
    if view == "Updates":
        _updates_view(job)
    elif view == "Conflict":
        _conflict_view(job, job.log.frame([GRAD_COSINE, TASK_GRAD_NORM]))
    else:
        _loss_view(job, job.log.frame([TRAIN_LOSS, VAL_LOSS]))


def _loss_view(job: TrainingJob, records: pd.DataFrame) -> None:
    controls = st.columns([2, 1, 2])
    split = controls[0].segmented_control(
        "Loss", list(SPLIT_LABELS), format_func=SPLIT_LABELS.get, default="both", key=CHART_SPLIT, required=True
    )
    log_y = controls[1].toggle("Log scale", value=True, key=CHART_LOG)
    smoothing = controls[2].slider("Smoothing (train loss)", 0.0, 0.99, 0.6, 0.01, key=CHART_SMOOTHING)
    figure = loss_curves(
        records,
        job.config.labels,
        job.config.tasks.task_names,
        split=split or "both",
        log_y=log_y,
        smoothing=smoothing,
        diverged=job.diverged,
    )
    st.plotly_chart(figure, key="loss_chart", config=PLOTLY_CONFIG)


def _updates_view(job: TrainingJob) -> None:
    layers = layer_names(job.log.frame(["grad_norm"]))
    if not layers:
        every = job.config.train.stats_every
        st.info(
            f"Update statistics are recorded every {every} steps; none yet."
            if every
            else "Update statistics are off for this run (stats_every = 0)."
        )
        return
    metric_col, layers_col = st.columns([1, 2])
    metric = metric_col.selectbox(
        "Statistic", list(LAYER_CHARTS), format_func=lambda m: LAYER_CHARTS[m][0], key=UPDATES_METRIC
    )
    default = [name for name in layers if name.endswith("weight")] or layers
    chosen = layers_col.multiselect("Layers", layers, default=default, key=UPDATES_LAYERS)
    st.caption(_UPDATES_HELP[metric])
    wanted = [metric, "effective_lr_p10", "effective_lr_p90"] if metric == "effective_lr" else [metric]
    figure = layer_chart(job.log.frame(wanted), job.config.labels, chosen, metric)
    st.plotly_chart(figure, key="updates_chart", config=PLOTLY_CONFIG)


_UPDATES_HELP = {
    "update_ratio": "How far each step moves a layer relative to its size; around -3 (1e-3) is a common healthy value.",
    "grad_norm": "Norm of the gradient each optimizer stepped with, per layer.",
    "effective_lr": "Per-element step size from the optimizer's own state (median, 10-90% band); SGD's is its lr.",
    "update_norm": "Norm of the actual parameter change of each step, measured around optimizer.step().",
    "weight_decay_norm": "The part of each step that comes from weight decay: decoupled (AdamW) or L2 (SGD, Adam).",
    "param_norm": "Norm of each layer's weights.",
}


def _conflict_view(job: TrainingJob, records: pd.DataFrame) -> None:
    if job.has_shared_parameters is False:
        st.info(NO_SHARED)
        return
    if not job.config.train.conflict_every:
        st.info("Gradient-conflict measurements are off for this run (conflict_every = 0).")
        return
    lines = conflict_reading(records)
    if not lines:
        st.info(f"Per-task gradients are measured every {job.config.train.conflict_every} steps; none yet.")
        return
    for line in lines:
        st.markdown(line)
    labels, tasks = job.config.labels, job.config.tasks.task_names
    st.plotly_chart(cosine_chart(records, labels), key="cosine_chart", config=PLOTLY_CONFIG)
    heat_col, norm_col = st.columns(2)
    with heat_col:
        st.caption("Latest cosine between task gradients on the shared layers (red: conflict)")
        st.plotly_chart(cosine_heatmaps(records, labels, tasks), key="cosine_heatmap", config=PLOTLY_CONFIG)
    with norm_col:
        st.caption("Each task's gradient norm on the shared layers")
        st.plotly_chart(task_grad_norm_chart(records, labels, tasks), key="task_grad_norms", config=PLOTLY_CONFIG)


def _status(job: TrainingJob) -> None:
    progress = job.progress()
    if job.status == QUEUED:
        position = job.queue_position
        st.info(f"Queued: the server is training other experiments. Position in queue: {position or '…'}.")
        return
    text = f"Step {progress.step:,} / {progress.total:,}"
    if progress.steps_per_second:
        text += f" · {progress.steps_per_second:,.0f} steps/s"
    if job.status == RUNNING and progress.eta_seconds is not None:
        text += f" · about {progress.eta_seconds:,.0f} s left"
    if job.device:
        text += f" · {job.device}"
    st.progress(min(progress.fraction, 1.0), text=text)
    if job.status == RUNNING and st.session_state.get(PAUSE):
        st.caption("Live updates paused: the charts show the run as it was when you paused.")
    if job.status == FAILED:
        st.error(f"Training failed: {job.error}")
    elif job.status == STOPPED:
        st.warning(f"Stopped at step {progress.step:,}.")
    for label, step in job.diverged.items():
        loss = job.diverged_loss.get(label, float("nan"))
        st.warning(f"{label} diverged at step {step:,} (loss = {loss:.3g}); the other configurations kept training.")


def summary_panel(job: TrainingJob) -> None:
    """Final validation loss and metric per task and configuration, best per task highlighted."""
    if job.status not in (FINISHED, STOPPED):
        return
    summary = summary_table(job.log.frame(), job.diverged)
    if summary.empty:
        return
    st.subheader("Summary")
    best = summary.loc[summary["best"]]
    if not best.empty:
        st.markdown(
            "Lowest validation loss: " + "; ".join(f"**{task}**: {run}" for task, run in zip(best["task"], best["run"]))
        )
    shown = summary.rename(
        columns={"val_loss": "val loss", "score": "accuracy / R²", "step": "at step", "rmse": "RMSE (units)"}
    )
    styled = shown.style.apply(_highlight_best, axis=1).format(
        {"val loss": "{:.4g}", "accuracy / R²": "{:.4f}", "RMSE (units)": "{:.4g}"}, na_rep="—"
    )
    st.dataframe(
        styled,
        hide_index=True,
        column_order=["task", "run", "at step", "val loss", "metric", "accuracy / R²", "RMSE (units)", "status"],
        key="summary_table",
    )
    _downloads(job)


def _downloads(job: TrainingJob) -> None:
    # Callables: the files are built only when clicked. Built eagerly they would be
    # rebuilt on every rerun of the page (a CSV of 2.4 M records takes ~18 s).
    csv_col, parquet_col, config_col = st.columns(3)
    csv_col.download_button(
        "Metrics (CSV)",
        lambda: safe_csv(job.log.frame()),
        "metrics.csv",
        "text/csv",
        key="download_csv",
        on_click="ignore",
        icon=":material/download:",
    )
    parquet_col.download_button(
        "Metrics (Parquet)",
        lambda: parquet_bytes(job.log.frame()),
        "metrics.parquet",
        "application/octet-stream",
        key="download_parquet",
        on_click="ignore",
        icon=":material/download:",
    )
    config_col.download_button(
        "Config (JSON, for the CLI)",
        job.config.to_json(),
        "config.json",
        "application/json",
        key="download_config",
        on_click="ignore",
        icon=":material/download:",
    )


def _highlight_best(row: pd.Series) -> list[str]:
    style = "background-color: rgba(0, 158, 115, 0.18); font-weight: 600" if row["best"] else ""
    return [style] * len(row)
