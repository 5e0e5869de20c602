"""The dashboard page: sidebar configuration, Start / Stop, live panel, summary, saved runs.

The current configuration is mirrored into the page URL (`?config=...`), so a
copied link opens the same experiment; a classroom preset sets every control at
once and its explanation stays next to the charts; the presenter view hides the
controls and enlarges the charts for a projector.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from mtlviz.config import ExperimentConfig
from mtlviz.data import TaskSet
from mtlviz.data.table import build_table_taskset
from mtlviz.errors import ConfigError
from mtlviz.jobs import JobRegistry
from mtlviz.presets import PRESETS
from mtlviz.share import QUERY_KEY, decode_config, encode_config
from mtlviz.store import runs_dir
from mtlviz.ui.data_panel import data_panel
from mtlviz.ui.live import live_panel, summary_panel
from mtlviz.ui.restore import apply_config
from mtlviz.ui.runs import remember_saved, saved_runs_panel
from mtlviz.ui.sidebar import experiment_sidebar
from mtlviz.ui.state import (
    JOB_ID,
    PAUSE,
    PRESENTER,
    PRESET,
    RESULTS,
    START,
    STOP,
    UPLOAD_NEEDED,
    URL_APPLIED,
    session_jobs,
)
from mtlviz.ui.tasks import SOURCES, TaskChoice, source_key

RESULT_PAGES = {"experiment": "Experiment", "saved": "Saved runs"}
NO_PRESET = ""
# Our own constant CSS (never user text): the presenter view hides the sidebar.
PRESENTER_CSS = """
<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {display: none;}
.block-container {padding-top: 1.5rem; max-width: 100%;}
</style>
"""


def main() -> None:
    st.set_page_config(page_title="mtlviz: optimizers on multi-task learning", page_icon="📉", layout="wide")
    jobs = session_jobs()
    _apply_link()
    if st.session_state.get(PRESENTER):
        st.html(PRESENTER_CSS)
    else:
        _preset_picker()
    config, errors, choice = experiment_sidebar()
    _mirror_to_link(config)

    title_col, presenter_col = st.columns([5, 1], vertical_alignment="bottom")
    title_col.title("mtlviz")
    presenter_col.toggle(
        "Presenter view", key=PRESENTER, help="Hide the controls and enlarge the charts, for a projector."
    )
    presenting = bool(st.session_state.get(PRESENTER))
    if not presenting:
        st.caption(
            "Train several optimizer configurations side by side on one multi-task problem: "
            "same initial weights, same mini-batches, one batched model."
        )
        st.session_state.setdefault(RESULTS, "experiment")  # "Load these settings" switches it back
        page = st.segmented_control(
            "Show", list(RESULT_PAGES), format_func=RESULT_PAGES.get, key=RESULTS, required=True
        )
        if page == "saved":
            saved_runs_panel()
            return
    _preset_explanation(config)
    job = jobs.get(st.session_state.get(JOB_ID))
    running = job is not None and not job.ended  # one snapshot for the whole page run
    if not presenting:
        _controls(jobs, config, errors, choice, running)
        data_panel(choice, expanded=job is None)
    if job is None:
        st.info("Choose tasks, a sharing strategy and optimizer configurations in the sidebar, then press **Start**.")
        return
    paused = False
    if running and not presenting:
        paused = st.toggle(
            "Pause live updates",
            key=PAUSE,
            help="Training goes on; the charts stop refreshing so you can zoom and pan without them snapping back.",
        )
    live_panel(job, live=running and not paused)
    if not running:
        remember_saved(job.saved)
        if not presenting:
            summary_panel(job)


def _controls(
    jobs: JobRegistry, config: ExperimentConfig | None, errors: list[str], choice: TaskChoice, running: bool
) -> None:
    # Start and Stop act in on_click callbacks, which run before the page is drawn:
    # the buttons below then already show the new state (and while training only
    # the live fragment reruns, so they would not be redrawn otherwise).
    start_col, stop_col, info_col = st.columns([1, 1, 6], vertical_alignment="center")
    start_col.button(
        "Start",
        key=START,
        type="primary",
        icon=":material/play_arrow:",
        disabled=running or config is None,
        on_click=_start,
        args=(jobs, config, choice),
        width="stretch",
    )
    stop_col.button(
        "Stop", key=STOP, icon=":material/stop:", disabled=not running, on_click=_stop, args=(jobs,), width="stretch"
    )
    if st.session_state.get(UPLOAD_NEEDED) and choice.table is None:
        info_col.info(
            f"This experiment was made with an uploaded file, {st.session_state[UPLOAD_NEEDED]!r}: upload it."
        )
    elif errors:
        info_col.error("Cannot start yet:\n\n" + "\n\n".join(f"- {e}" for e in errors))
    elif running:
        info_col.caption("Training. Changes in the sidebar apply to the next run.")
    elif config is not None:
        n, runs, t, s = len(config.optimizers), len(config.runs), len(config.tasks.targets), config.train.seeds
        what = f"{n} configuration{'s' if n != 1 else ''}" + (f" ({runs} runs)" if runs != n else "")
        seeds = f" × {s} seeds" if s > 1 else ""
        own_model = SOURCES[source_key(config.tasks)].own_model
        sharing = f"{own_model} as the model" if own_model else f"{config.model.sharing} sharing"
        info_col.caption(f"{what}{seeds} × {t} task{'s' if t != 1 else ''}, {sharing}, {config.train.steps:,} steps.")


def _data(config: ExperimentConfig, choice: TaskChoice) -> TaskSet | Callable[[int], TaskSet] | None:
    """The prepared table for the run: its own split for every extra seed."""
    if choice.taskset is None or config.train.seeds == 1:
        return choice.taskset
    table, spec, base, first = choice.table, config.tasks, choice.taskset, config.train.seed
    return lambda seed: base if seed == first else build_table_taskset(table, spec, seed)[0]


def _start(jobs: JobRegistry, config: ExperimentConfig | None, choice: TaskChoice) -> None:
    current = jobs.get(st.session_state.get(JOB_ID))
    if config is None or (current is not None and not current.ended):
        return  # a double click or a stale button: one session never trains two jobs at once
    st.session_state[JOB_ID] = jobs.submit(config, taskset=_data(config, choice), save_to=runs_dir()).id


def _stop(jobs: JobRegistry) -> None:
    job = jobs.get(st.session_state.get(JOB_ID))
    if job is not None:
        job.stop()


# ------------------------------------------------------------------ shared links


def _apply_link() -> None:
    """Once per session, set the controls from the link's ?config=..., or say why it cannot be read."""
    if st.session_state.get(URL_APPLIED):
        return
    st.session_state[URL_APPLIED] = True
    text = st.query_params.get(QUERY_KEY)
    if not text:
        return
    try:
        lost = apply_config(decode_config(text))
    except ConfigError as exc:
        st.session_state["link_error"] = f"This link's experiment could not be opened: {exc}"
        return
    if lost:
        st.session_state["link_error"] = "Opened the linked experiment; not restored: " + ", ".join(lost)


def _mirror_to_link(config: ExperimentConfig | None) -> None:
    if message := st.session_state.pop("link_error", None):
        st.toast(message, icon=":material/link_off:")
    if config is None:
        return
    try:
        text = encode_config(config)
    except ConfigError:
        return  # too long for a link: the URL keeps its last config
    if st.query_params.get(QUERY_KEY) != text:
        st.query_params[QUERY_KEY] = text


# ------------------------------------------------------------------ presets


def _preset_picker() -> None:
    with st.sidebar:
        st.selectbox(
            "Classroom preset",
            [NO_PRESET, *PRESETS],
            format_func=lambda key: PRESETS[key].title if key else "(choose one to set every control)",
            key=PRESET,
            on_change=_apply_preset,
            help="Ready-made experiments that each show one effect, with an explanation next to the charts.",
        )


def _apply_preset() -> None:
    key = st.session_state.get(PRESET)
    if key in PRESETS:
        apply_config(PRESETS[key].config)


def _preset_explanation(config: ExperimentConfig | None) -> None:
    preset = PRESETS.get(st.session_state.get(PRESET) or NO_PRESET)
    if preset is None:
        return
    changed = "" if config == preset.config else " *(You have changed the settings since choosing it.)*"
    st.info(f"**{preset.title}.** {preset.explanation}{changed}", icon=":material/school:")
