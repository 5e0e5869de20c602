"""The live panel: progress and loss charts, redrawn from fragments while a job trains.

Two fragments: the status (progress bar, messages) refreshes while the job
trains, the charts while it trains and live updates are not paused, so a paused
page still shows the progress move. Each has its own place on the page: what
the status shows never shifts the charts, so a drawn chart is updated in place
and never blanks. The fragments only read snapshots of the job's MetricLog; the
job's thread never touches Streamlit. When the job ends by itself, the status
fragment reruns the whole app once, which stops both timers and lets the page
show the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from mtlviz.config import CLIP, ExperimentConfig
from mtlviz.errors import ConfigError
from mtlviz.export import neutralised, parquet_bytes, safe_csv
from mtlviz.jobs import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, TrainingJob
from mtlviz.protocol import CONFIRM_SEEDS, Report, confirm_config
from mtlviz.records import CLIPPED_SHARE
from mtlviz.search import format_value
from mtlviz.summary import clipping_notes, seeds_texts
from mtlviz.ui.state import PAUSE
from mtlviz.ui.text import escape_markdown
from mtlviz.ui.views import Derived, Results, views

REFRESH_SECONDS = 0.5
# Session state: (the job's id, records version, status) and the Derived built for that state,
# so the live panel and the summary under it share one, and reruns of an ended job reuse it.
LIVE_DERIVED = "live_derived"
PROTOCOL_TITLE = "Chosen on validation, reported on test"
CONFIRM = "confirm_winners"  # the button that re-trains a search's winners on fresh seeds
# Starts a job with this config (the page's Start path: its budget check, its job registry).
Confirm = Callable[[ExperimentConfig], None]


def live_panel(job: TrainingJob, running: bool, charts_live: bool = True) -> None:
    """Draw the job's panel. While `running`, the status refreshes every REFRESH_SECONDS,
    and the charts too unless not `charts_live` (paused)."""
    with st.container(key="live_status"):
        st.fragment(run_every=REFRESH_SECONDS if running else None)(_status_panel)(job, running)
    with st.container(key="live_charts"):
        st.fragment(run_every=REFRESH_SECONDS if running and charts_live else None)(_charts_panel)(job)


def _status_panel(job: TrainingJob, running: bool) -> None:
    if running and job.ended:
        st.rerun(scope="app")  # stops the timers; the page redraws with the summary
    _status(job, derived_of(job))


def _charts_panel(job: TrainingJob) -> None:
    # Each view takes a snapshot of only the metrics it draws; the worker only appends.
    views(job, derived_of(job), "Waiting for the first steps…" if not job.ended else "This run recorded no steps.")


def derived_of(job: TrainingJob) -> Derived:
    """One Derived per state of the job: built again only when it has new records, metadata or status."""
    state = (job.id, job.log.version, job.status)
    cached = st.session_state.get(LIVE_DERIVED)
    if cached is None or cached[0] != state or cached[1].metadata is not job.metadata:
        cached = (state, Derived(job))
        st.session_state[LIVE_DERIVED] = cached
    return cached[1]


def _status(job: TrainingJob, derived: Derived) -> None:
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
    device = derived.metadata.device if derived.metadata is not None else ""
    if device:
        text += f" · {device}"
    st.progress(min(progress.fraction, 1.0), text=text)
    if job.status == RUNNING and st.session_state.get(PAUSE):
        st.caption("Live updates paused: the charts show the run as it was when you paused.")
    if job.status == FAILED:
        st.error(f"Training failed: {escape_markdown(job.error)}")
    elif job.status == STOPPED and job.stop_reason:
        # The server ended it (its time budget ran out): say so, or the page seems to have stopped by itself.
        st.warning(f"Stopped by the server at step {progress.step:,}: {escape_markdown(job.stop_reason)}.")
    elif job.status == STOPPED:
        st.warning(f"Stopped at step {progress.step:,}.")
    seeds = job.config.train.seeds
    for run, event in derived.divergences.items():
        # The first seed to diverge speaks for the run (the loss chart marks the same event); the others are counted.
        count = len(derived.diverged_runs[run])
        which = "" if seeds == 1 else f" in {count} of {seeds} seeds (first: seed {event.seed})"
        loss = f"{event.task} loss" if event.task else "loss"  # the task whose loss gave it away
        st.warning(
            f"{escape_markdown(run)} diverged at step {event.step:,}{which} "
            f"({escape_markdown(loss)}: {event.describe_loss()}); the other configurations kept training."
        )


def summary_panel(job: TrainingJob, downloads: bool = True, confirm: Confirm | None = None) -> None:
    """The summary of an ended job; with `downloads`, where it was saved and its downloads;
    with `confirm`, a button that has it train a search's winners again on fresh seeds."""
    if job.status not in (FINISHED, STOPPED):
        return
    summary_section(job, derived_of(job), confirm)
    if not downloads:
        return
    # The run's folder name only: where the server keeps its runs is the server's business.
    if job.saved is not None:
        st.caption(f"Saved in {escape_markdown(job.saved.name)} (listed under Saved runs).")
    elif job.save_error:
        error = job.save_error.replace(str(job.saved_to), "the runs folder") if job.saved_to else job.save_error
        st.warning(f"Not saved: {escape_markdown(error)}. The downloads below still work.")
    _downloads(job)


def summary_section(results: Results, derived: Derived, confirm: Confirm | None = None) -> None:
    """The protocol report of a run with a test split (and, with `confirm`, its button to confirm the
    winners), then final validation results per task and run, best per task highlighted, time to target."""
    config = results.config
    summary = derived.summary
    if summary.empty:
        return
    st.subheader("Summary")
    report = derived.protocol
    if report is not None:
        protocol_section(config, report, confirm)
    best = summary.loc[summary["best"]]
    if not best.empty:
        st.markdown(
            "Lowest validation loss: "
            + "; ".join(
                f"**{escape_markdown(task)}**: {escape_markdown(run)}" for task, run in zip(best["task"], best["run"])
            )
        )
    if derived.swept and report is None:  # with a report, its table says which trial won and on what
        picks = {c: r for c, r in derived.best_runs.items() if c in derived.swept}
        only_lr = all({k for k, _ in o.spaces} <= {"lr"} for o in config.optimizers)
        if picks:
            st.markdown(
                ("Best learning rate: " if only_lr else "Best trial (lowest validation objective): ")
                + "; ".join(f"**{escape_markdown(c)}**: {escape_markdown(r)}" for c, r in picks.items())
            )
    for note in derived.coincidences:
        st.caption(escape_markdown(note))
    if any(o.clip_norm is not None or CLIP in dict(o.search) for o in config.optimizers):
        for note in clipping_notes(results.frame([CLIPPED_SHARE])):
            st.caption(escape_markdown(note))
    summary_table_element(summary, bool(config.val_targets), "summary_table")
    if config.val_targets:
        seeds = " the mean over the seeds that reached it," if int(summary["seeds"].max()) > 1 else ""
        st.caption(
            f"Time to target:{seeds} in seconds of training charged to the run (its own optimizer steps and its "
            "share of the forward and backward passes all runs share)."
        )
    if (summary["seeds_used"] < summary["seeds"]).any():
        st.caption(
            'Seeds "1 of 3": the values are the mean of the seeds that did not diverge; '
            '"—": every seed diverged, so the run has no result.'
        )


def protocol_section(config: ExperimentConfig, report: Report, confirm: Confirm | None = None) -> None:
    """Each configuration's chosen trial with its validation and test results, the report's warnings,
    and with `confirm` the button that trains the winners again on fresh seeds."""
    st.markdown(f"**{PROTOCOL_TITLE}**")
    st.caption(
        "Per configuration, the trial with the lowest final validation objective (the weighted sum of task "
        "losses, mean over seeds; a trial with a diverged seed is infeasible), then its results on the test "
        "split, read once after the choice. Mean ± std over seeds."
    )
    if report.choices:
        # Labels, task names and knob values are the user's: formula-like text stays text in the CSV download.
        st.dataframe(neutralised(protocol_table(report)), hide_index=True, key="protocol_table")
    problems = [w for choice in report.choices for w in choice.warnings] + list(report.notes)
    if problems:
        st.warning("\n".join(f"- {escape_markdown(problem)}" for problem in problems))
    if confirm is not None:
        _confirm_button(config, report, confirm)


def protocol_table(report: Report) -> pd.DataFrame:
    """One row per configuration with a feasible trial: the chosen trial, its values, its figures as text."""
    rows = []
    for c in report.choices:
        row: dict[str, Any] = {
            "configuration": c.configuration,
            "chosen trial": c.run,
            "hyperparameters": ", ".join(f"{k}={format_value(v)}" for k, v in c.hyperparameters.items())
            or "nothing searched",
            "validation objective": c.validation.text(),
            "test objective": c.test.text(),
        }
        for task, figure in c.test_losses.items():
            row[f"{task}: test loss"] = figure.text()
            if task in c.test_scores:
                name, score = c.test_scores[task]
                row[f"{task}: test {name}"] = score.text()
        row["trials searched / feasible"] = f"{c.trials} / {c.feasible}"
        rows.append(row)
    return pd.DataFrame(rows).fillna("—")  # a task with no score in one configuration's row


def _confirm_button(config: ExperimentConfig, report: Report, confirm: Confirm) -> None:
    try:
        follow_up = confirm_config(config, report, CONFIRM_SEEDS)
    except ConfigError as exc:
        st.caption(f"Cannot confirm the winners: {escape_markdown(exc)}")
        return
    first, last = follow_up.train.seed, follow_up.train.seed + follow_up.train.seeds - 1
    st.button(
        f"Confirm winners with {CONFIRM_SEEDS} fresh seeds",
        key=CONFIRM,
        icon=":material/replay:",
        on_click=confirm,
        args=(follow_up,),
        help=(
            f"Train each chosen trial alone again on seeds {first}–{last}, which the search never used: chosen "
            "as the best of several trials, its figures on the searched seeds are biased in its favour."
        ),
    )


def summary_table_element(summary: pd.DataFrame, targets: bool, key: str) -> None:
    """The summary table as people read it, best per task highlighted (live, saved and overlaid runs alike)."""
    seeds = int(summary["seeds"].max()) > 1
    # Numbers become text here: "—" for a missing value (a run whose every seed diverged has none),
    # "mean ± std" over two or more seeds, "1 of 3" where the values rest on fewer seeds than the run had.
    shown = summary.copy()
    shown["seeds"] = seeds_texts(summary)
    shown["val_loss"] = _texts(summary["val_loss"], "{:.4g}", summary["val_loss_std"] if seeds else None)
    shown["score"] = _texts(summary["score"], "{:.4f}", summary["score_std"] if seeds else None)
    shown["rmse"] = _texts(summary["rmse"], "{:.4g}")
    shown["target_step"] = _texts(summary["target_step"], "{:,.0f}")
    shown["target_seconds"] = _texts(summary["target_seconds"], "{:.2f}")
    shown = shown.rename(
        columns={
            "val_loss": "val loss",
            "score": "accuracy / R²",
            "step": "at step",
            "rmse": "RMSE (units)",
            "target_step": "target at step",
            "target_seconds": "target at s",
        }
    )
    # Labels and task names are the user's: a formula-like one stays text in the table's CSV download.
    styled = neutralised(shown).style.apply(_highlight_best, axis=1)
    order = ["task", "run"] + (["seeds"] if seeds else []) + ["at step", "val loss", "metric", "accuracy / R²"]
    order += ["RMSE (units)"]
    if targets:
        order += ["target at step", "target at s", "target"]
    st.dataframe(styled, hide_index=True, column_order=order + ["status"], key=key)


def _texts(values: pd.Series, form: str, spread: pd.Series | None = None) -> list[str]:
    out = []
    for i, value in enumerate(values):
        if pd.isna(value):
            out.append("—")
        elif spread is not None and not pd.isna(spread.iloc[i]):  # no spread from a single seed
            out.append(f"{form.format(value)} ± {spread.iloc[i]:.2g}")
        else:
            out.append(form.format(value))
    return out


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
