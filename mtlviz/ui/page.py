"""The dashboard page: sidebar configuration, Start / Stop, live panel, summary."""

from __future__ import annotations

import streamlit as st

from mtlviz.jobs import TrainingJob
from mtlviz.ui.live import live_panel, summary_panel
from mtlviz.ui.sidebar import experiment_sidebar
from mtlviz.ui.state import JOB_ID, START, STOP, session_jobs


def main() -> None:
    st.set_page_config(page_title="mtlviz: optimizers on multi-task learning", page_icon="📉", layout="wide")
    jobs = session_jobs()
    job = jobs.get(st.session_state.get(JOB_ID))
    config, errors = experiment_sidebar()

    st.title("mtlviz")
    st.caption(
        "Train several optimizer configurations side by side on one multi-task problem: "
        "same initial weights, same mini-batches, one batched model."
    )
    running = job is not None and not job.ended
    start_col, stop_col, info_col = st.columns([1, 1, 6], vertical_alignment="center")
    start = start_col.button(
        "Start",
        key=START,
        type="primary",
        icon=":material/play_arrow:",
        disabled=running or config is None,
        width="stretch",
    )
    stop_col.button(
        "Stop", key=STOP, icon=":material/stop:", disabled=not running, on_click=_stop, args=(job,), width="stretch"
    )
    if errors:
        info_col.error("Cannot start yet:\n\n" + "\n\n".join(f"- {e}" for e in errors))
    elif config is not None and not running:
        info_col.caption(
            f"{len(config.optimizers)} configurations × {len(config.tasks.targets)} tasks, "
            f"{config.model.sharing} sharing, {config.train.steps:,} steps."
        )
    if start and config is not None and not running:
        # The button is disabled while a job runs, and this check covers a rerun
        # racing the click: one session never trains two jobs at once.
        for other in jobs.active():
            other.stop()
        job = jobs.submit(config)
        st.session_state[JOB_ID] = job.id

    if job is None:
        st.info("Choose tasks, a sharing strategy and optimizer configurations in the sidebar, then press **Start**.")
        return
    live_panel(job)
    summary_panel(job)


def _stop(job: TrainingJob | None) -> None:
    if job is not None:
        job.stop()
