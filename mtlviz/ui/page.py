"""The dashboard page: sidebar configuration, Start / Stop, live panel, summary, saved runs.

The current configuration is mirrored into the page URL (`?config=...`), so a
copied link opens the same experiment; a classroom preset sets every control at
once and its explanation stays next to the charts; the presenter view hides the
controls and enlarges the charts for a projector.
"""

from __future__ import annotations

import functools
import logging
import threading

import plotly.graph_objects as go
import plotly.io
import streamlit as st

from mtlviz.budget import Estimate, Limits, check_run, estimate_run
from mtlviz.charts import loss_curves
from mtlviz.config import ExperimentConfig, TableTasks
from mtlviz.data import TaskSet
from mtlviz.errors import BudgetError, ConfigError
from mtlviz.jobs import WORKERS, JobRegistry
from mtlviz.presets import PACES, PRESETS, warm_up_config
from mtlviz.run import run_experiment
from mtlviz.share import QUERY_KEY, decode_config, encode_config
from mtlviz.store import runs_dir
from mtlviz.ui.data_panel import data_panel
from mtlviz.ui.live import live_panel, summary_panel
from mtlviz.ui.restore import apply_config
from mtlviz.ui.runs import remember_saved, saved_runs_panel
from mtlviz.ui.sidebar import experiment_sidebar
from mtlviz.ui.state import (
    JOB_ID,
    PACE,
    PAUSE,
    PRESENTER,
    PRESET,
    RESULTS,
    START,
    START_REFUSED,
    STOP,
    UPLOAD_NEEDED,
    URL_APPLIED,
    client_address,
    session_jobs,
)
from mtlviz.ui.tasks import SOURCES, TaskChoice, source_key
from mtlviz.ui.text import escape_markdown

RESULT_PAGES = {"experiment": "Experiment", "saved": "Saved runs"}
FIRST_RECORDS_WAIT = 0.5  # seconds Start waits for a run's first records, so its first page has a chart
NO_PRESET = ""
# Our own constant CSS (never user text): the presenter view hides the sidebar.
PRESENTER_CSS = """
<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {display: none;}
.block-container {padding-top: 1.5rem; max-width: 100%;}
</style>
"""

log = logging.getLogger(__name__)


def main() -> None:
    st.set_page_config(page_title="mtlviz: optimizers on multi-task learning", page_icon="📉", layout="wide")
    warm_up()
    jobs = session_jobs()
    _apply_link()
    if st.session_state.get(PRESENTER):
        st.html(PRESENTER_CSS)
    # Drawn in the presenter view too (its sidebar is only hidden): a widget left undrawn
    # loses its value, and with it the preset and its explanation.
    _preset_picker()
    config, errors, choice = experiment_sidebar()
    if config is not None and not errors:
        errors = budget_problems(config, choice)
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
    _controls(jobs, config, errors, choice, running, presenting)
    if not presenting:
        data_panel(choice, expanded=job is None)
    if job is None:
        if presenting:
            st.info("Press **Start** to train.")
        else:
            st.info(
                "Choose tasks, a sharing strategy and optimizer configurations in the sidebar, then press **Start**."
            )
        _empty_chart()
        return
    paused = False
    if running and not presenting:
        paused = st.toggle(
            "Pause live updates",
            key=PAUSE,
            help="Training goes on; the charts stop refreshing so you can zoom and pan without them snapping back.",
        )
    live_panel(job, running=running, charts_live=not paused)
    if not running:
        remember_saved(job.saved)
        confirm = None if presenting else functools.partial(_confirm, jobs, choice)
        summary_panel(job, downloads=not presenting, confirm=confirm)


def _empty_chart() -> None:
    """Where the loss curves will be. Drawn before the first Start, it also has the browser load
    Plotly while the person reads the page, not after Start: measured, the first chart then came
    4.6 s after Start though the server had sent it after 0.9 s."""
    figure = go.Figure()
    figure.update_layout(
        height=220,
        margin={"l": 50, "r": 20, "t": 10, "b": 40},
        xaxis={"title": "step", "range": [0, 1], "showticklabels": False},
        yaxis={"title": "loss", "range": [0, 1], "showticklabels": False},
        annotations=[{"text": "Loss curves appear here as the run trains", "showarrow": False, "x": 0.5, "y": 0.5}],
    )
    st.plotly_chart(figure, key="empty_chart", config={"displaylogo": False, "staticPlot": True})


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per server, at the first page load: a warm worker process, and a tiny run here.

    The first run in a fresh process pays for torch's lazy imports, kernel and
    allocator set-up: measured at 17 steps/s at first instead of ~260, and the
    first chart at step 725 of 800 (5.3 s). Jobs train in worker processes, which
    warm themselves up before they take a job (mtlviz/worker.py); the tiny run here
    warms what the server itself does, drawing and encoding a chart. Paid while the
    person reads the page, the first Start draws its chart sooner
    (benchmarks/first_chart.py measures it).
    """
    WORKERS.warm()  # the first job's worker process: torch imported and warmed up before Start
    thread = threading.Thread(target=_warm, args=(warm_up_config(),), name="mtlviz-warm-up", daemon=True)
    thread.start()
    return thread


def _warm(config: ExperimentConfig) -> None:
    """Estimate a run, as every page render does (the first estimate in a process loads torch's
    tracing machinery: about 1.3 s), train, then draw and encode a loss chart, as a first live
    refresh does (Plotly loads lazily too).

    Only a speed-up: a failure here is logged and changes nothing for the users' runs."""
    try:
        estimate_run(config)
        result = run_experiment(config, threads=1)
        figure = loss_curves(result.records, config.runs, config.tasks.task_names)
        plotly.io.to_json(figure, validate=False)
    except Exception:
        log.exception("warm-up run failed; the first run will be slower")


def _controls(
    jobs: JobRegistry,
    config: ExperimentConfig | None,
    errors: list[str],
    choice: TaskChoice,
    running: bool,
    presenting: bool,
) -> None:
    # Start and Stop act in on_click callbacks, which run before the page is drawn:
    # the buttons below then already show the new state (and while training only
    # the live fragment reruns, so they would not be redrawn otherwise).
    start_col, stop_col, pace_col, info_col = st.columns([1, 1, 1.2, 4.8], vertical_alignment="bottom")
    start_col.button(
        "Start",
        key=START,
        type="primary",
        icon=":material/play_arrow:",
        disabled=running or config is None or bool(errors),
        on_click=_start,
        args=(jobs, config, choice),
        width="stretch",
    )
    stop_col.button(
        "Stop", key=STOP, icon=":material/stop:", disabled=not running, on_click=_stop, args=(jobs,), width="stretch"
    )
    st.session_state.setdefault(PACE, 0)
    pace_col.selectbox(
        "Pace",
        PACES,
        format_func=lambda pace: f"{pace} steps/s" if pace else "full speed",
        key=PACE,
        disabled=running,
        help="Slow the run down so the curves form while you watch; the numbers are the same at any pace.",
    )
    if refused := st.session_state.pop(START_REFUSED, None):
        info_col.error(f"Not started: {escape_markdown(refused)}")
        return
    if presenting:
        if errors:
            info_col.error(_cannot_start(errors))
        return
    if st.session_state.get(UPLOAD_NEEDED) and choice.table is None:
        upload = escape_markdown(repr(st.session_state[UPLOAD_NEEDED]))
        info_col.info(f"This experiment was made with an uploaded file, {upload}: upload it.")
    elif errors:
        info_col.error(_cannot_start(errors))
    elif running:
        info_col.caption("Training. Changes in the sidebar apply to the next run.")
    elif config is not None:
        n, runs, t, s = len(config.optimizers), len(config.runs), len(config.tasks.targets), config.train.seeds
        what = f"{n} configuration{'s' if n != 1 else ''}" + (f" ({runs} runs)" if runs != n else "")
        seeds = f" × {s} seeds" if s > 1 else ""
        own_model = SOURCES[source_key(config.tasks)].own_model
        sharing = f"{own_model} as the model" if own_model else f"{config.model.sharing} sharing"
        info_col.caption(f"{what}{seeds} × {t} task{'s' if t != 1 else ''}, {sharing}, {config.train.steps:,} steps.")


def _cannot_start(errors: list[str]) -> str:
    """The reasons Start is disabled, a Markdown list; they quote labels and names, so each is escaped."""
    return "Cannot start yet:\n\n" + "\n\n".join(f"- {escape_markdown(e)}" for e in errors)


def _start(jobs: JobRegistry, config: ExperimentConfig | None, choice: TaskChoice) -> None:
    current = jobs.get(st.session_state.get(JOB_ID))
    if config is None or (current is not None and not current.ended):
        return  # a double click or a stale button: one session never trains two jobs at once
    pace = st.session_state.get(PACE) or None
    try:
        problems = budget_problems(config, choice)
        if problems:
            raise BudgetError("; ".join(problems))
        # A table trains from the table as read: the worker prepares every seed's split the way the page did.
        job = jobs.submit(
            config,
            save_to=runs_dir(),
            pace=pace,
            table_file=choice.upload,
            table=choice.table,
            limits=_limits(),
            client=client_address(),
        )
    except BudgetError as exc:
        st.session_state[START_REFUSED] = str(exc)
        return
    st.session_state[JOB_ID] = job.id
    # A warm worker has the first records (the losses at step 0) within about 0.1 s: waiting for
    # them here, the page drawn after this click already shows the chart, half a second sooner
    # than the first live refresh would.
    job.wait_for_records(FIRST_RECORDS_WAIT)


def _confirm(jobs: JobRegistry, choice: TaskChoice, config: ExperimentConfig) -> None:
    """Start `config`, a search's winners on fresh seeds (mtlviz.protocol.confirm_config), as Start does.

    It trains the ended run's tasks: the sidebar's data when it still holds them, else the tasks as
    configured (a table file is not kept by the page: it must be in the sidebar again)."""
    if choice.tasks != config.tasks:
        if isinstance(config.tasks, TableTasks) and config.tasks.path:
            st.session_state[START_REFUSED] = (
                "the winners trained on a table file that the sidebar no longer holds with the run's settings; "
                "upload it again with them to confirm the winners"
            )
            return
        choice = TaskChoice(tasks=config.tasks)
    _start(jobs, config, choice)


def budget_problems(config: ExperimentConfig, choice: TaskChoice) -> list[str]:
    """Why this server cannot train `config` (memory, records, projected time), before anything is built."""
    taskset = choice.taskset
    dims = None if taskset is None else _table_dims(taskset)
    try:
        check_run(config, _estimate(config, dims), _limits(), WORKERS.calibration)
    except BudgetError as exc:
        return [str(exc)]
    return []


def _estimate(config: ExperimentConfig, dims: tuple | None) -> Estimate:
    """Estimated once per config and data shape: every rerun of the page asks again."""
    key = (config.to_json(), dims)
    with _ESTIMATES_LOCK:
        found = _ESTIMATES.get(key)
    if found is not None:
        return found
    if dims is None:
        estimate = estimate_run(config)
    else:
        input_dim, output_dims, train_rows = dims
        estimate = estimate_run(config, input_dim=input_dim, output_dims=output_dims, train_rows=train_rows)
    with _ESTIMATES_LOCK:
        if len(_ESTIMATES) >= 256:
            _ESTIMATES.clear()
        _ESTIMATES[key] = estimate
    return estimate


_ESTIMATES: dict[tuple, Estimate] = {}
_ESTIMATES_LOCK = threading.Lock()


def _table_dims(taskset: TaskSet) -> tuple:
    return (taskset.input_dim, tuple(task.output_dim for task in taskset.tasks), len(taskset.x_train))


def _limits() -> Limits:
    return Limits.for_server()


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
        st.toast(escape_markdown(message), icon=":material/link_off:")
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
        st.session_state[PACE] = PRESETS[key].pace


def _preset_explanation(config: ExperimentConfig | None) -> None:
    preset = PRESETS.get(st.session_state.get(PRESET) or NO_PRESET)
    if preset is None:
        return
    changed = "" if config == preset.config else " *(You have changed the settings since choosing it.)*"
    st.info(f"**{preset.title}.** {preset.explanation}{changed}", icon=":material/school:")
