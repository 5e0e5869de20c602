"""Session-state keys and the per-session job registry."""

from __future__ import annotations

import streamlit as st

from mtlviz.jobs import JobRegistry

JOB_ID = "job_id"  # id of the session's current (or last) training job
OPTIMIZER_UIDS = "optimizer_uids"  # ids of the optimizer configurations shown in the sidebar
NEXT_UID = "next_optimizer_uid"
UPLOAD_NEEDED = "restore_upload_needed"  # the file name an opened experiment's uploaded table had
PENDING_TABLE = "restore_pending_table"  # an opened experiment's TableTasks, written once its table is read

START = "start"
START_REFUSED = "start_refused"  # why the last Start was refused (a budget or cap), shown once
STOP = "stop"
CHART_SPLIT = "chart_split"
CHART_LOG = "chart_log"
CHART_SMOOTHING = "chart_smoothing"
CHART_X = "chart_x"  # x-axis: step or seconds
CHART_BAND = "chart_band"  # seed band: std, minmax or none
CHART_BEST_LR = "chart_best_lr"  # only each configuration's best learning rate
PRESENTER = "presenter"  # presenter view: no controls, larger charts
PRESET = "preset"  # the classroom preset last applied
RESULTS = "results"  # what the main panel shows: the current experiment or saved runs
SAVED_RUNS_TABLE = "saved_runs_table"  # the saved-runs list (its row selection)
URL_APPLIED = "url_applied"  # the page's shared-link config was applied once
VIEW = "view"
PAUSE = "pause_live"
PACE = "pace"  # steps per second of the next run (0: full speed); a dashboard setting, not in the config
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


def client_address() -> str | None:
    """Who this session is, for the per-person job cap: the browser's address (None when unknown)."""
    try:
        return st.context.ip_address
    except Exception:  # no request behind the session (a script run outside the server)
        return None


def init_default(key: str, value: object) -> None:
    if key not in st.session_state:
        st.session_state[key] = value
