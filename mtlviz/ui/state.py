"""Session-state keys and the per-session job registry."""

from __future__ import annotations

import streamlit as st

from mtlviz.jobs import JobRegistry

JOB_ID = "job_id"  # id of the session's current (or last) training job
OPTIMIZER_UIDS = "optimizer_uids"  # ids of the optimizer configurations shown in the sidebar
NEXT_UID = "next_optimizer_uid"

START = "start"
STOP = "stop"
CHART_SPLIT = "chart_split"
CHART_LOG = "chart_log"
CHART_SMOOTHING = "chart_smoothing"
VIEW = "view"
PAUSE = "pause_live"
UPDATES_METRIC = "updates_metric"
UPDATES_LAYERS = "updates_layers"


def _release(registry: JobRegistry) -> None:
    registry.stop_all()


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def session_jobs() -> JobRegistry:
    """This browser session's jobs; released (and stopped) shortly after the tab closes.

    A plain cache_resource would be shared by every user of the server.
    """
    return JobRegistry()


def init_default(key: str, value: object) -> None:
    if key not in st.session_state:
        st.session_state[key] = value
