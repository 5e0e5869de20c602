"""Sidebar: where the tasks come from (synthetic, a bundled dataset, an uploaded table).

Tables are read and fully prepared here, in the user's own session, so every
data problem is reported before Start and the job receives ready tensors.
Uploaded bytes and prepared data live in this session's state only: nothing
user-provided goes into a cache shared between sessions.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import streamlit as st

from mtlviz.config import LIMITS, SyntheticTasks, TableTasks, TaskSpec, Toy2DTasks
from mtlviz.data.bundled import BUNDLED
from mtlviz.data.reader import Table, read_table, read_table_path
from mtlviz.data.table import Preprocessing, Preview, build_table_taskset, preview
from mtlviz.data.taskset import TaskSet
from mtlviz.data.toy2d import START_POINTS
from mtlviz.errors import ConfigError, DataError
from mtlviz.ui.state import init_default

SOURCES = {"synthetic": "Synthetic", "dataset": "Bundled dataset", "upload": "Upload a table", "toy2d": "Toy 2D"}
TYPE_CHOICES = ["auto", "regression", "classification"]
UPLOAD_TYPES = ["csv", "tsv", "txt", "parquet", "pq"]
TABLE_CACHE = "table_cache"  # session state: (file digest) -> Table or error text
PREPARED_CACHE = "prepared_cache"  # session state: (digest, spec, seed) -> (TaskSet, Preprocessing)


@dataclass
class TaskChoice:
    """What the Tasks section produced."""

    tasks: SyntheticTasks | TableTasks | Toy2DTasks | None = None
    taskset: TaskSet | None = None  # prepared data for tables
    table: Table | None = None
    preview: Preview | None = None
    report: Preprocessing | None = None
    errors: list[str] = field(default_factory=list)


def tasks_ui(seed: int, disabled: bool = False) -> TaskChoice:
    init_default("task_source", "synthetic")  # set through session state: a link or preset may change it
    source = st.segmented_control(
        "Source",
        list(SOURCES),
        format_func=SOURCES.get,
        key="task_source",
        required=True,
        disabled=disabled,
    )
    if source == "synthetic":
        try:
            return TaskChoice(tasks=_synthetic_ui(disabled))
        except ConfigError as exc:
            return TaskChoice(errors=[str(exc)])
    if source == "toy2d":
        try:
            return TaskChoice(tasks=_toy2d_ui(disabled))
        except ConfigError as exc:
            return TaskChoice(errors=[str(exc)])
    return _table_ui(source, seed, disabled)


def _toy2d_ui(disabled: bool) -> Toy2DTasks:
    st.caption(
        "The two-objective problem of the CAGrad paper (Liu et al., 2021): the model is the point (x1, x2) "
        "itself and the two task losses are closed-form. Compare where each optimizer and method ends up on the "
        "Pareto set in the Loss space view."
    )
    init_default("toy_x1", -8.5)
    init_default("toy_x2", 7.5)
    st.selectbox(
        "Start point",
        ["", *START_POINTS],
        format_func=lambda name: f"{name} {START_POINTS[name]}" if name else "(one of the papers' starts)",
        key="toy_start",
        on_change=_set_toy_start,
        disabled=disabled,
    )
    x1_col, x2_col = st.columns(2)
    x1 = x1_col.number_input("x1", -10.0, 10.0, step=0.5, key="toy_x1", disabled=disabled)
    x2 = x2_col.number_input("x2", -10.0, 10.0, step=0.5, key="toy_x2", disabled=disabled)
    return Toy2DTasks(start=(float(x1), float(x2)))


def _set_toy_start() -> None:
    name = st.session_state.get("toy_start")
    if name in START_POINTS:
        st.session_state["toy_x1"], st.session_state["toy_x2"] = START_POINTS[name]


# ------------------------------------------------------------------ synthetic


def _synthetic_ui(disabled: bool) -> SyntheticTasks:
    num_tasks = st.slider("Number of tasks", 2, LIMITS["tasks"][1], 2, key="num_tasks", disabled=disabled)
    # Pairwise cosine p is feasible for p >= -1/(T-1); keep the slider on that range.
    lowest = math.ceil(-1.0 / (num_tasks - 1) * 20) / 20
    init_default("relatedness", 0.5)
    st.session_state["relatedness"] = max(lowest, st.session_state["relatedness"])
    relatedness = st.slider(
        "Task relatedness (cosine between task weight vectors)",
        lowest,
        1.0,
        step=0.05,
        key="relatedness",
        disabled=disabled,
        help="1: the tasks share one direction; 0: orthogonal; negative: conflicting. "
        f"With {num_tasks} tasks the lowest possible value is -1/(T-1) = {-1 / (num_tasks - 1):.3g}.",
    )
    with st.expander("Per-task settings"):
        specs = [_task_row(i, disabled) for i in range(num_tasks)]
    with st.expander("Data"):
        num_samples = st.number_input(
            "Samples", 100, LIMITS["num_samples"][1], 4000, 500, key="num_samples", disabled=disabled
        )
        input_dim = st.number_input(
            "Input dimension", num_tasks, LIMITS["input_dim"][1], max(16, num_tasks), key="input_dim", disabled=disabled
        )
        noise = st.number_input(
            "Label noise std", 0.0, 10.0, 0.01, 0.01, format="%g", key="noise_std", disabled=disabled
        )
        val_fraction = st.slider("Validation fraction", 0.05, 0.5, 0.2, 0.05, key="val_fraction", disabled=disabled)
    return SyntheticTasks(
        targets=tuple(specs),
        relatedness=relatedness,
        input_dim=int(input_dim),
        num_samples=int(num_samples),
        val_fraction=val_fraction,
        noise_std=noise,
    )


def _task_row(i: int, disabled: bool) -> TaskSpec:
    letter = chr(ord("A") + i)
    name_col, type_col = st.columns(2)
    name = name_col.text_input(
        f"Task {i + 1} name", f"task {letter}", max_chars=40, key=f"task{i}_name", disabled=disabled
    )
    kind = type_col.selectbox("Type", ["regression", "classification"], key=f"task{i}_type", disabled=disabled)
    classes_col, scale_col = st.columns(2)
    num_classes = classes_col.number_input(
        "Classes",
        2,
        LIMITS["num_classes"][1],
        2,
        key=f"task{i}_classes",
        disabled=disabled or kind != "classification",
        help="Classes are quantile bins of the synthetic label.",
    )
    loss_scale = scale_col.number_input(
        "Loss scale",
        1e-3,
        1e4,
        1.0,
        format="%g",
        key=f"task{i}_scale",
        disabled=disabled,
        help="Multiplies this task's loss: makes one task dominate the gradient, as with badly scaled units.",
    )
    return TaskSpec(
        name=name, type=kind, num_classes=int(num_classes), loss_scale=loss_scale, path=f"tasks.targets[{i}]"
    )


# --------------------------------------------------------------------- tables


def _table_ui(source: str, seed: int, disabled: bool) -> TaskChoice:
    if source == "dataset":
        name = st.selectbox(
            "Dataset", list(BUNDLED), format_func=lambda n: BUNDLED[n].title, key="dataset", disabled=disabled
        )
        dataset = BUNDLED[name]
        st.caption(f"{dataset.description} Licence: {dataset.licence}.")
        digest = f"bundled:{name}"
        table = _cached_table(digest, lambda: read_table_path(dataset.path))
        default_targets, default_features = list(dataset.targets), list(dataset.features)
        location = {"dataset": name}
    else:
        upload = st.file_uploader(
            "CSV or Parquet file",
            type=UPLOAD_TYPES,
            key="upload",
            disabled=disabled,
            help="Each target column you pick becomes a task. The file stays in your session only.",
        )
        if upload is None:
            return TaskChoice(errors=["upload a CSV or Parquet table (or pick another task source)"])
        data = upload.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        table = _cached_table(digest, lambda: read_table(data, upload.name))
        default_targets, default_features = [], []
        location = {"path": upload.name}
    if isinstance(table, str):
        return TaskChoice(errors=[table])
    columns = [str(c) for c in table.frame.columns]
    targets = st.multiselect(
        "Target columns (each becomes a task)",
        columns,
        default=[c for c in default_targets if c in columns],
        key=f"targets_{digest}",
        max_selections=LIMITS["tasks"][1],
        disabled=disabled,
    )
    remaining = [c for c in columns if c not in targets]
    features = st.multiselect(
        "Feature columns (inputs)",
        remaining,
        default=[c for c in (default_features or remaining) if c in remaining],
        key=f"features_{digest}",
        disabled=disabled,
        help="Empty: every column that is not a target.",
    )
    types = {}
    if targets:
        with st.expander("Task types", expanded=False):
            for name in targets:
                types[name] = st.selectbox(
                    name,
                    TYPE_CHOICES,
                    key=f"type_{digest}_{name}",
                    disabled=disabled,
                    help="auto: text, true/false or few distinct integers are classes; other numbers are regression.",
                )
    missing = st.radio(
        "Rows with missing values",
        ["drop", "impute"],
        horizontal=True,
        key="missing",
        disabled=disabled,
        format_func={"drop": "Drop them", "impute": "Impute features"}.get,
        help="Impute: numeric features get the training median, categorical ones a '(missing)' category. "
        "Rows without a target value are always dropped.",
    )
    val_fraction = st.slider("Validation fraction", 0.05, 0.5, 0.2, 0.05, key="table_val_fraction", disabled=disabled)
    choice = TaskChoice(table=table)
    if not targets:
        choice.errors.append("pick at least one target column")
        return choice
    choice.preview = preview(table, targets, types)
    try:
        spec = TableTasks(
            **location,
            features=tuple(features),
            targets=tuple(TaskSpec(name, type=types.get(name, "auto")) for name in targets),
            missing=missing,
            val_fraction=val_fraction,
        )
    except ConfigError as exc:
        choice.errors.append(str(exc))
        return choice
    prepared = _cached_prepared(digest, table, spec, seed)
    if isinstance(prepared, str):
        choice.errors.append(prepared)
        return choice
    choice.tasks, (choice.taskset, choice.report) = spec, prepared
    return choice


def _cached_table(digest: str, read) -> Table | str:
    """The session's parsed table (or the reason it could not be read), parsed once per file."""
    cache = st.session_state.setdefault(TABLE_CACHE, {})
    if digest not in cache:
        cache.clear()  # one table per session at a time: bounded memory
        try:
            cache[digest] = read()
        except DataError as exc:
            cache[digest] = str(exc)
    return cache[digest]


def _cached_prepared(digest: str, table: Table, spec: TableTasks, seed: int):
    cache = st.session_state.setdefault(PREPARED_CACHE, {})
    key = (digest, repr(spec), seed)
    if key not in cache:
        cache.clear()
        try:
            cache[key] = build_table_taskset(table, spec, seed)
        except DataError as exc:
            cache[key] = str(exc)
    return cache[key]
