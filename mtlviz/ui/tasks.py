"""Sidebar: where the tasks come from (synthetic, a bundled dataset, an uploaded table, the toy).

Each task source is one entry of SOURCES: the config class it makes, how it
draws its fields (ui/fields.py) and how it writes a config back into them.
Tables are read and fully prepared here, in the user's own session, so every
data problem is reported before Start and the job receives ready tensors. A table
over its budget (too many inputs, too much memory: a BudgetError) is reported the
same way, before anything is decoded or encoded.
Uploaded bytes and prepared data live in this session's state only: nothing
user-provided goes into a cache shared between sessions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from mtlviz.config import ExperimentConfig, SyntheticTasks, TableTasks, TaskSource, TaskSpec, Toy2DTasks
from mtlviz.data.bundled import BUNDLED
from mtlviz.data.reader import Table, problems_of, read_table, read_table_path
from mtlviz.data.table import Preprocessing, Preview, build_table_taskset, left_out_columns, preview
from mtlviz.data.taskset import TaskSet
from mtlviz.data.toy2d import START_POINTS
from mtlviz.errors import BudgetError, ConfigError, DataError
from mtlviz.ui.fields import SYNTHETIC, SYNTHETIC_TASK, TABLE, TABLE_TASK, TASK_SOURCE, TOY, Form, default_of
from mtlviz.ui.state import PENDING_TABLE, UPLOAD_NEEDED
from mtlviz.ui.text import escape_markdown

UPLOAD_TYPES = ["csv", "tsv", "txt", "parquet", "pq"]
TABLE_CACHE = "table_cache"  # session state: (file digest) -> Table or its problems
LEFT_OUT_CACHE = "left_out_cache"  # session state: (file digest) -> {column default features leave out: why}
PREPARED_CACHE = "prepared_cache"  # session state: (digest, spec, seed) -> (TaskSet, Preprocessing) or problems


@dataclass
class TaskChoice:
    """What the Tasks section produced."""

    tasks: SyntheticTasks | TableTasks | Toy2DTasks | None = None
    taskset: TaskSet | None = None  # prepared data for tables
    table: Table | None = None
    preview: Preview | None = None
    report: Preprocessing | None = None
    errors: list[str] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # columns the default features left out (not chosen): why
    # An uploaded file (name, bytes): kept with the saved run, so the CLI can rerun it from any folder.
    upload: tuple[str, bytes] | None = None
    source: str = ""  # the SOURCES key it came from


@dataclass(frozen=True)
class Source:
    """One way to get tasks: the config class it makes, its widgets and their inverse."""

    title: str
    config: type  # the task config class this source makes
    draw: Callable[[int, bool], TaskChoice]  # (seed, disabled) -> the choice
    write: Callable[[Any, list[str]], None]  # (tasks config, lost) -> sets its fields
    holds: Callable[[Any], bool] = lambda tasks: True  # made `tasks`? (sources may share a config class)
    # The tasks are their own model (no network to choose): what the model is instead.
    own_model: str = ""


def tasks_ui(seed: int, disabled: bool = False) -> TaskChoice:
    source = TASK_SOURCE.draw(
        choices=list(SOURCES),
        default=source_key(default_of(ExperimentConfig, "tasks")),
        disabled=disabled,
        format_func=lambda key: SOURCES[key].title,
    )
    try:
        choice = SOURCES[source].draw(seed, disabled)
    except ConfigError as exc:
        choice = TaskChoice(errors=[str(exc)])
    choice.source = source
    return choice


def source_key(tasks: TaskSource) -> str:
    """The SOURCES key of the source that makes `tasks`."""
    return next(key for key, source in SOURCES.items() if isinstance(tasks, source.config) and source.holds(tasks))


def write_tasks(tasks: TaskSource, lost: list[str]) -> None:
    """Set the Tasks section from a config (a link, a preset, a saved run)."""
    st.session_state.pop(PENDING_TABLE, None)
    st.session_state.pop(UPLOAD_NEEDED, None)
    key = source_key(tasks)
    TASK_SOURCE.write(key, choices=list(SOURCES))
    SOURCES[key].write(tasks, lost)


# ------------------------------------------------------------------ synthetic


def _synthetic_ui(seed: int, disabled: bool) -> TaskChoice:
    form = Form(SYNTHETIC, disabled=disabled)
    num_tasks = form.draw("num_tasks")
    # Pairwise cosine p is feasible for p >= -1/(T-1); keep the slider on that range.
    lowest = math.ceil(-1.0 / (num_tasks - 1) * 20) / 20
    form.draw(
        "relatedness",
        low=lowest,
        help="1: the tasks share one direction; 0: orthogonal; negative: conflicting. "
        f"With {num_tasks} tasks the lowest possible value is -1/(T-1) = {-1 / (num_tasks - 1):.3g}.",
    )
    with st.expander("Per-task settings"):
        specs = [_task_row(i, disabled) for i in range(num_tasks)]
    with st.expander("Data"):
        form.draw("num_samples")
        form.draw("input_dim", low=num_tasks)
        form.draw("noise_std")
        form.draw("val_fraction")
        form.draw("test_fraction")
    return TaskChoice(tasks=SyntheticTasks(targets=tuple(specs), **form.values()))


def _task_row(i: int, disabled: bool) -> TaskSpec:
    form = Form(SYNTHETIC_TASK, {"i": i, "number": i + 1}, disabled)
    name_col, type_col = st.columns(2)
    form.draw("name", name_col)
    kind = form.draw("type", type_col)
    classes_col, scale_col = st.columns(2)
    form.draw("num_classes", classes_col, disabled=disabled or kind != "classification")
    form.draw("loss_scale", scale_col)
    return TaskSpec(**form.values(), path=f"tasks.targets[{i}]")


def _write_synthetic(tasks: SyntheticTasks, lost: list[str]) -> None:
    SYNTHETIC.write(tasks, lost)
    for i, spec in enumerate(tasks.targets):
        SYNTHETIC_TASK.write(spec, lost, {"i": i, "number": i + 1})


# ------------------------------------------------------------------ toy 2D


def _toy2d_ui(seed: int, disabled: bool) -> TaskChoice:
    st.caption(
        "The two-objective problem of the CAGrad paper (Liu et al., 2021): the model is the point (x1, x2) "
        "itself and the two task losses are closed-form. Compare where each optimizer and method ends up on the "
        "Pareto set in the Loss space view."
    )
    st.selectbox(
        "Start point",
        ["", *START_POINTS],
        format_func=lambda name: f"{name} {START_POINTS[name]}" if name else "(one of the papers' starts)",
        key="toy_start",
        on_change=_set_toy_start,
        disabled=disabled,
    )
    form = Form(TOY, disabled=disabled)
    x1_col, x2_col = st.columns(2)
    form.draw("x1", x1_col)
    form.draw("x2", x2_col)
    return TaskChoice(tasks=Toy2DTasks(**form.values()))


def _set_toy_start() -> None:
    name = st.session_state.get("toy_start")
    if name in START_POINTS:
        TOY.write(Toy2DTasks(start=START_POINTS[name]))


def _write_toy(tasks: Toy2DTasks, lost: list[str]) -> None:
    TOY.write(tasks, lost)


# --------------------------------------------------------------------- tables


def _dataset_ui(seed: int, disabled: bool) -> TaskChoice:
    name = TABLE["dataset"].draw(disabled=disabled)
    dataset = BUNDLED[name]
    st.caption(f"{dataset.description} Licence: {dataset.licence}.")
    digest = f"bundled:{name}"
    table = _cached_table(digest, lambda: read_table_path(dataset.path))
    return _columns_ui(table, digest, {"dataset": name}, dataset.targets, dataset.features, seed, disabled)


def _upload_ui(seed: int, disabled: bool) -> TaskChoice:
    upload = st.file_uploader(
        "CSV or Parquet file",
        type=UPLOAD_TYPES,
        key="upload",
        disabled=disabled,
        help="Each target column you pick becomes a task. The file stays in your session only.",
    )
    if upload is None:
        return TaskChoice(errors=["upload a CSV or Parquet table (or pick another task source)"])
    pending = st.session_state.get(PENDING_TABLE)
    if pending is not None and pending.path and pending.path != upload.name:
        st.caption(
            f"The opened experiment's table settings are for {escape_markdown(pending.path)}: they are applied "
            "when that file is uploaded."
        )
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    table = _cached_table(digest, lambda: read_table(data, upload.name))
    choice = _columns_ui(table, digest, {"path": upload.name}, (), (), seed, disabled)
    return dataclasses.replace(choice, upload=(upload.name, data))


def _columns_ui(
    table: Table | str,
    digest: str,
    location: dict[str, str],
    default_targets: tuple[str, ...],
    default_features: tuple[str, ...],
    seed: int,
    disabled: bool,
) -> TaskChoice:
    """Targets, features, task types and preprocessing of one table; `location` says where it came from."""
    if isinstance(table, tuple):
        return TaskChoice(errors=list(table))
    columns = [str(c) for c in table.frame.columns]
    ids = {"digest": digest}
    pending = st.session_state.get(PENDING_TABLE)
    if pending is not None and all(getattr(pending, k) == v for k, v in location.items()):
        _apply_pending(pending, ids, columns)
    form = Form(TABLE, ids, disabled)
    targets = form.draw("targets", choices=columns, default=[c for c in default_targets if c in columns])
    remaining = [c for c in columns if c not in targets]
    # Identifiers and free text are left out of the default features (a bundled dataset names its own).
    left_out = {} if default_features else _cached_left_out(digest, table)
    features = [c for c in (default_features or remaining) if c in remaining and c not in left_out]
    chosen = form.draw("features", choices=remaining, default=features)
    left_out = {name: why for name, why in left_out.items() if name in remaining and name not in chosen}
    if left_out and chosen:
        st.caption(
            "Left out by default (add them above to use them): "
            + "; ".join(f"{escape_markdown(name)}, {escape_markdown(why)}" for name, why in left_out.items())
        )
    types = {}
    if targets:
        with st.expander("Task types", expanded=False):
            for name in targets:
                types[name] = TABLE_TASK["type"].draw(ids={**ids, "column": name}, disabled=disabled)
    form.draw("missing")
    form.draw("val_fraction")
    form.draw("test_fraction")
    choice = TaskChoice(table=table, left_out=left_out if chosen else {})
    if not targets:
        choice.errors.append("pick at least one target column")
        return choice
    choice.preview = preview(table, targets, types)
    try:
        spec = TableTasks(
            **location, targets=tuple(TaskSpec(name, type=types[name]) for name in targets), **form.values()
        )
    except ConfigError as exc:
        choice.errors.append(str(exc))
        return choice
    prepared = _cached_prepared(digest, table, spec, seed)
    if isinstance(prepared, list):
        choice.errors += prepared
        return choice
    choice.tasks, (choice.taskset, choice.report) = spec, prepared
    return choice


def _write_table(tasks: TableTasks, lost: list[str]) -> None:
    """A table's columns are known only once it is read: they are written when it is drawn (_apply_pending)."""
    if tasks.dataset:
        TABLE["dataset"].write(tasks.dataset, lost)
    else:
        st.session_state[UPLOAD_NEEDED] = tasks.path
    st.session_state[PENDING_TABLE] = tasks
    lost += TABLE.unshown(tasks)
    for i, spec in enumerate(tasks.targets):
        lost += TABLE_TASK.unshown(spec, {"i": i})


def _apply_pending(tasks: TableTasks, ids: dict[str, str], columns: list[str]) -> None:
    """Write a restored table config into this table's fields, once."""
    st.session_state.pop(PENDING_TABLE, None)
    st.session_state.pop(UPLOAD_NEEDED, None)
    targets = [name for name in tasks.task_names if name in columns]
    TABLE["targets"].write(targets, ids=ids, choices=columns)
    TABLE["features"].write(list(tasks.features), ids=ids, choices=[c for c in columns if c not in targets])
    for spec in tasks.targets:
        if spec.name in columns:
            TABLE_TASK["type"].write(spec.type, ids={**ids, "column": spec.name})
    TABLE["missing"].write(tasks.missing)
    TABLE["val_fraction"].write(tasks.val_fraction)
    TABLE["test_fraction"].write(tasks.test_fraction)
    absent = [name for name in (*tasks.task_names, *tasks.features) if name not in columns]
    if absent:
        names = ", ".join(escape_markdown(name) for name in absent)
        st.warning(f"Not in this table, so not restored: {names}.")


def _cached_table(digest: str, read) -> Table | tuple[str, ...]:
    """The session's parsed table (or every reason it could not be read), parsed once per file."""
    cache = st.session_state.setdefault(TABLE_CACHE, {})
    if digest not in cache:
        cache.clear()  # one table per session at a time: bounded memory
        try:
            cache[digest] = read()
        except (DataError, BudgetError) as exc:
            cache[digest] = problems_of(exc)
    return cache[digest]


def _cached_left_out(digest: str, table: Table) -> dict[str, str]:
    """The columns default features leave out, and why; found once per file (it reads every column)."""
    cache = st.session_state.setdefault(LEFT_OUT_CACHE, {})
    if digest not in cache:
        cache.clear()
        cache[digest] = left_out_columns(table)
    return cache[digest]


def _cached_prepared(digest: str, table: Table, spec: TableTasks, seed: int):
    cache = st.session_state.setdefault(PREPARED_CACHE, {})
    key = (digest, repr(spec), seed)
    if key not in cache:
        cache.clear()
        try:
            cache[key] = build_table_taskset(table, spec, seed)
        except (DataError, BudgetError) as exc:
            cache[key] = list(problems_of(exc))  # a list: the prepared data is a tuple
    return cache[key]


SOURCES: dict[str, Source] = {
    default_of(SyntheticTasks, "source"): Source("Synthetic", SyntheticTasks, _synthetic_ui, _write_synthetic),
    "dataset": Source("Bundled dataset", TableTasks, _dataset_ui, _write_table, holds=lambda t: bool(t.dataset)),
    "upload": Source("Upload a table", TableTasks, _upload_ui, _write_table, holds=lambda t: bool(t.path)),
    default_of(Toy2DTasks, "source"): Source("Toy 2D", Toy2DTasks, _toy2d_ui, _write_toy, own_model="the point itself"),
}
