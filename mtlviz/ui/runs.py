"""Saved runs: list the runs directory, open one, or overlay two for comparison.

Every finished or stopped run of the dashboard (and of the CLI) is kept in the
runs directory (mtlviz/store.py). Opening one shows the same views as a live
run; overlaying two draws their loss curves on one chart, each run's
configurations prefixed by the run's number, with both summaries below.

The runs folder may be a classroom server's, shared by everyone: a run is named
by its folder alone, never the server's path; a run that cannot be read says why
instead of raising; and the runs table is neutralised like every CSV download,
since the table's toolbar downloads it as CSV exactly as shown.
"""

from __future__ import annotations

import os
from collections import Counter
from functools import cached_property
from pathlib import Path

import pandas as pd
import streamlit as st

from mtlviz.charts import loss_curves
from mtlviz.config import ExperimentConfig
from mtlviz.errors import MtlvizError
from mtlviz.export import neutralise
from mtlviz.records import TRAIN_LOSS, VAL_LOSS, RunMetadata
from mtlviz.store import RunInfo, describe_differences, list_runs, load_metadata, load_run, runs_dir
from mtlviz.ui.live import summary_section, summary_table_element
from mtlviz.ui.restore import apply_config
from mtlviz.ui.state import CHART_X, RESULTS, SAVED_RUNS_TABLE
from mtlviz.ui.text import escape_markdown
from mtlviz.ui.views import Derived, views
from mtlviz.ui.views.common import X_LABELS, chart

LOADED = "loaded_runs"  # session state: path -> SavedRun (the ones open now)
# "all": every run in the directory is listed (one person's machine); "session":
# only the runs this browser session saved (a shared classroom server).
VISIBILITY_ENV = "MTLVIZ_RUNS_VISIBLE"
OWN_RUNS = "own_runs"  # session state: directories this session saved
OPEN_RUNS = "open_runs"  # the multiselect of runs to open (paths)


class SavedRun:
    """A run read back from disk, with the interface the views read (mtlviz.ui.views.Results)."""

    def __init__(self, path: Path, config: ExperimentConfig, records: pd.DataFrame, metadata: RunMetadata | None):
        self.path = path
        self.config = config
        self.records = records
        self.metadata = metadata  # saved with the run: its divergences, whether it shares parameters, ...
        self._parts: dict[tuple[str, ...] | None, pd.DataFrame] = {}

    @cached_property
    def derived(self) -> Derived:
        """Its summary, run table and best learning rates: a saved run never changes, so computed once."""
        return Derived(self)

    @property
    def runs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.records["run"].astype(str)))

    def frame(self, metrics: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
        key = None if metrics is None else tuple(metrics)
        if key not in self._parts:
            rows = self.records if key is None else self.records[self.records["metric"].isin(key)]
            self._parts[key] = rows.reset_index(drop=True)
        return self._parts[key]


def remember_saved(path: Path | None) -> None:
    """Note a run this session saved (listed even when only own runs are shown)."""
    if path is not None:
        own = st.session_state.setdefault(OWN_RUNS, [])
        if str(path) not in own:
            own.append(str(path))


def saved_at(info: RunInfo) -> str:
    """When a run was saved, as every caption and the table show it: "2026-12-02 09:58:01 UTC"."""
    return info.created.replace("T", " ")[:19] + " UTC"


def saved_runs_panel() -> None:
    root = runs_dir()
    keep = None
    if os.environ.get(VISIBILITY_ENV, "all") == "session":
        own = set(st.session_state.get(OWN_RUNS, []))
        # Chosen before the listing's limit: other people's newer runs never push this session's out.
        keep = lambda path: str(path) in own  # noqa: E731
    runs, notes = list_runs(root, keep=keep)
    if not runs:
        # The folder in words, not its path: on a shared server that path is nobody's business.
        st.info("No saved runs yet. Every finished or stopped run is kept in the runs folder (`MTLVIZ_RUNS_DIR`).")
        return
    plural = "s" if len(runs) != 1 else ""
    st.caption(f"{len(runs)} run{plural}, newest first.")
    table = pd.DataFrame(
        {
            "title": [r.title for r in runs],
            "tasks from": [r.describe("source") for r in runs],
            "sharing": [r.describe("sharing") for r in runs],
            "methods": [r.describe("methods") for r in runs],
            "seeds": [r.describe("seeds") for r in runs],
            "saved": [saved_at(r) for r in runs],
            "status": [r.status for r in runs],
            "steps": [r.steps for r in runs],
            "runs": [", ".join(r.runs) for r in runs],
            "tasks": [", ".join(r.tasks) for r in runs],
        }
    )
    # The toolbar's "Download as CSV" writes exactly these cells: a title like =HYPERLINK(...) gets its apostrophe.
    table = table.map(neutralise)
    st.dataframe(table, hide_index=True, key=SAVED_RUNS_TABLE, height=min(240, 38 + 35 * len(runs)))
    for note in notes:
        st.caption(escape_markdown(note))
    by_path = {str(r.path): r for r in runs}
    names = _option_names(runs)
    if OPEN_RUNS in st.session_state:  # a run deleted since, or hidden: drop it from the choice
        st.session_state[OPEN_RUNS] = [p for p in st.session_state[OPEN_RUNS] if p in by_path]
    picked = st.multiselect(
        "Open a run, or two to overlay them",
        list(by_path),
        format_func=names.get,
        max_selections=2,
        select_all=False,  # at most two runs open at once
        key=OPEN_RUNS,
    )
    chosen = [by_path[p] for p in picked]
    if not chosen:
        return
    loaded = []
    for info in chosen:
        run = _load(info)
        if isinstance(run, str):
            st.error(escape_markdown(run))
            return
        loaded.append(run)
    if len(loaded) == 1:
        _open(loaded[0], chosen[0])
    else:
        _overlay(loaded, chosen)


def _option_names(runs: list[RunInfo]) -> dict[str, str]:
    """Each run as the open-runs menu names it: title, what it trained on, when; its folder too where
    that text alone would name two runs (the menu could not tell them apart)."""
    names = {str(r.path): " · ".join(x for x in (r.title, r.describe("subtitle"), saved_at(r)) if x) for r in runs}
    counts = Counter(names.values())
    return {p: f"{text} · {Path(p).name}" if counts[text] > 1 else text for p, text in names.items()}


def _load(info: RunInfo) -> SavedRun | str:
    """The run, read once per session while it stays selected; or why it cannot be read ("Cannot open
    <folder> because ...", from mtlviz.store)."""
    cache = st.session_state.setdefault(LOADED, {})
    key = str(info.path)
    if key not in cache:
        if len(cache) >= 2:
            cache.clear()  # bounded memory: at most the two runs of an overlay
        try:
            config, records = load_run(info.path)
            cache[key] = SavedRun(info.path, config, records, load_metadata(info.path, config))
        except MtlvizError as exc:
            return str(exc)
    return cache[key]


def _open(run: SavedRun, info: RunInfo) -> None:
    st.subheader(escape_markdown(info.title))
    if info.describe("subtitle"):
        st.markdown(escape_markdown(info.describe("subtitle")))
    st.caption(f"{info.status}, {info.steps:,} steps, saved {saved_at(info)}. Folder: {escape_markdown(info.name)}")
    st.button(
        "Load these settings into the sidebar",
        key="load_saved_settings",
        on_click=_load_settings,
        args=(run.config,),
        icon=":material/settings_backup_restore:",
        help="Sets every control to this run's configuration, so Start trains it again.",
    )
    views(run, run.derived, "This run recorded no steps.")
    summary_section(run, run.derived)


def _load_settings(config: ExperimentConfig) -> None:
    apply_config(config)
    st.session_state[RESULTS] = "experiment"


def _overlay(runs: list[SavedRun], infos: list[RunInfo]) -> None:
    st.subheader("Two runs overlaid")
    for i, info in enumerate(infos, start=1):
        st.caption(
            f"Run {i}: {escape_markdown(info.title)} ({info.status}, {info.steps:,} steps, saved {saved_at(info)})"
        )
    differences = describe_differences(infos[0].description, infos[1].description)
    if differences:
        st.caption("What differs: " + "; ".join(escape_markdown(d) for d in differences) + ".")
    else:
        same = infos[0].describe("subtitle") or infos[0].title
        st.caption(f"Both runs are the same experiment: {escape_markdown(same)}.")
    tasks = [t for t in runs[0].config.tasks.task_names if t in runs[1].config.tasks.task_names]
    if not tasks:
        st.warning("These runs have no task in common, so there is nothing to overlay.")
        return
    left_out = sorted(set(runs[0].config.tasks.task_names) ^ set(runs[1].config.tasks.task_names))
    if left_out:
        st.caption("Only tasks in both runs are drawn; left out: " + ", ".join(escape_markdown(t) for t in left_out))
    frames, labels, divergences = [], [], {}
    for i, run in enumerate(runs, start=1):
        records = run.frame([TRAIN_LOSS, VAL_LOSS])
        renamed = records.assign(run=f"{i} · " + records["run"].astype(str))
        frames.append(renamed)
        labels += [f"{i} · {name}" for name in run.runs]
        divergences |= {f"{i} · {name}": event for name, event in run.derived.divergences.items()}
    st.segmented_control("x-axis", list(X_LABELS), format_func=X_LABELS.get, key=CHART_X, required=True)
    figure = loss_curves(
        pd.concat(frames, ignore_index=True),
        labels,
        tasks,
        smoothing=0.6,
        divergences=divergences,
        x=st.session_state.get(CHART_X) or "step",
    )
    chart(figure, "overlay_chart")
    for i, run in enumerate(runs, start=1):
        summary = run.derived.summary
        if not summary.empty:
            st.markdown(f"**Run {i}**")
            summary_table_element(summary, bool(run.config.val_targets), f"overlay_summary_{i}")
