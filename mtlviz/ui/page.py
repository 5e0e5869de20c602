"""The dashboard page: sidebar configuration, Start / Stop, live panel, summary."""

from __future__ import annotations

import streamlit as st

from mtlviz.config import ExperimentConfig
from mtlviz.data import TaskSet
from mtlviz.jobs import JobRegistry
from mtlviz.ui.data_panel import data_panel
from mtlviz.ui.live import live_panel, summary_panel
from mtlviz.ui.sidebar import experiment_sidebar
from mtlviz.ui.state import JOB_ID, PAUSE, START, STOP, session_jobs


def main() -> None:
    st.set_page_config(page_title="mtlviz: optimizers on multi-task learning", page_icon="📉", layout="wide")
    jobs = session_jobs()
    config, errors, choice = experiment_sidebar()

    st.title("mtlviz")
    st.caption(
        "Train several optimizer configurations side by side on one multi-task problem: "
        "same initial weights, same mini-batches, one batched model."
    )
    # Start and Stop act in on_click callbacks, which run before the page is drawn:
    # the buttons below then already show the new state (and while training only
    # the live fragment reruns, so they would not be redrawn otherwise).
    job = jobs.get(st.session_state.get(JOB_ID))
    running = job is not None and not job.ended  # one snapshot for the whole page run
    start_col, stop_col, info_col = st.columns([1, 1, 6], vertical_alignment="center")
    start_col.button(
        "Start",
        key=START,
        type="primary",
        icon=":material/play_arrow:",
        disabled=running or config is None,
        on_click=_start,
        args=(jobs, config, choice.taskset),
        width="stretch",
    )
    stop_col.button(
        "Stop", key=STOP, icon=":material/stop:", disabled=not running, on_click=_stop, args=(jobs,), width="stretch"
    )
    if errors:
        info_col.error("Cannot start yet:\n\n" + "\n\n".join(f"- {e}" for e in errors))
    elif running:
        info_col.caption("Training. Changes in the sidebar apply to the next run.")
    elif config is not None:
        n, t = len(config.optimizers), len(config.tasks.targets)
        info_col.caption(
            f"{n} configuration{'s' if n != 1 else ''} × {t} task{'s' if t != 1 else ''}, "
            f"{config.model.sharing} sharing, {config.train.steps:,} steps."
        )

    data_panel(choice, expanded=job is None)
    if job is None:
        st.info("Choose tasks, a sharing strategy and optimizer configurations in the sidebar, then press **Start**.")
        return
    paused = False
    if running:
        paused = st.toggle(
            "Pause live updates",
            key=PAUSE,
            help="Training goes on; the charts stop refreshing so you can zoom and pan without them snapping back.",
        )
    live_panel(job, live=running and not paused)
    if not running:
        summary_panel(job)


def _start(jobs: JobRegistry, config: ExperimentConfig | None, taskset: TaskSet | None) -> None:
    current = jobs.get(st.session_state.get(JOB_ID))
    if config is None or (current is not None and not current.ended):
        return  # a double click or a stale button: one session never trains two jobs at once
    st.session_state[JOB_ID] = jobs.submit(config, taskset=taskset).id


def _stop(jobs: JobRegistry) -> None:
    job = jobs.get(st.session_state.get(JOB_ID))
    if job is not None:
        job.stop()
