"""The live panel: progress and loss charts, redrawn from a fragment while a job trains.

The fragment only reads a snapshot of the job's MetricLog; the job's thread
never touches Streamlit. When the job ends by itself, the fragment reruns the
whole app once, which stops its timer and lets the page show the summary.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mtlviz.charts import loss_curves
from mtlviz.jobs import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, TrainingJob
from mtlviz.summary import summary_table
from mtlviz.ui.state import CHART_LOG, CHART_SMOOTHING, CHART_SPLIT

REFRESH_SECONDS = 0.5
SPLIT_LABELS = {"train": "Train", "validation": "Validation", "both": "Both"}


def live_panel(job: TrainingJob) -> None:
    """Draw the job's panel; refreshes itself every REFRESH_SECONDS while the job runs."""
    live = not job.ended
    st.fragment(run_every=REFRESH_SECONDS if live else None)(_panel)(job, live)


def _panel(job: TrainingJob, live: bool) -> None:
    if live and job.ended:
        st.rerun(scope="app")  # stops the timer; the page redraws with the summary
    _status(job)
    records = job.log.frame()
    controls = st.columns([2, 1, 2])
    split = controls[0].segmented_control(
        "Loss", list(SPLIT_LABELS), format_func=SPLIT_LABELS.get, default="both", key=CHART_SPLIT, required=True
    )
    log_y = controls[1].toggle("Log scale", value=True, key=CHART_LOG)
    smoothing = controls[2].slider("Smoothing (train loss)", 0.0, 0.99, 0.6, 0.01, key=CHART_SMOOTHING)
    if records.empty:
        st.info("Waiting for the first steps…" if not job.ended else "This run recorded no steps.")
        return
    figure = loss_curves(
        records,
        job.config.labels,
        job.config.tasks.task_names,
        split=split or "both",
        log_y=log_y,
        smoothing=smoothing,
        diverged=job.diverged,
    )
    st.plotly_chart(figure, key="loss_chart", config={"displaylogo": False})


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
    if job.status == FAILED:
        st.error(f"Training failed: {job.error}")
    elif job.status == STOPPED:
        st.warning(f"Stopped at step {progress.step:,}.")
    for label, step in job.diverged.items():
        st.warning(f"{label} diverged at step {step:,} (non-finite loss); the other configurations kept training.")


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
    shown = summary.rename(columns={"val_loss": "val loss", "score": "accuracy / R²", "step": "at step"})
    styled = shown.style.apply(_highlight_best, axis=1).format({"val loss": "{:.4g}", "accuracy / R²": "{:.4f}"})
    st.dataframe(
        styled,
        hide_index=True,
        column_order=["task", "run", "at step", "val loss", "metric", "accuracy / R²", "status"],
        key="summary_table",
    )


def _highlight_best(row: pd.Series) -> list[str]:
    style = "background-color: rgba(0, 158, 115, 0.18); font-weight: 600" if row["best"] else ""
    return [style] * len(row)
