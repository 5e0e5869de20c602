"""From a table to a TaskSet: column types, task types, preprocessing, and a preview.

Preprocessing is explicit and reported back (`Preprocessing`), so the user sees
exactly what was done:
- rows with a missing value in a chosen column are dropped, or (policy
  "impute") missing features are filled (numeric: training-split median;
  categorical: a "(missing)" category); rows with a missing target are always
  dropped, since a made-up label would be trained on;
- numeric features are standardised with training-split statistics only;
- categorical features are one-hot encoded, the rarest beyond a cap sharing
  an "(other)" column;
- class labels are mapped to 0..K-1 (the mapping is reported);
- regression targets are standardised with training-split statistics, and the
  scale is kept so metrics can be reported in the original units.

Rows dropped for missing values are counted per column, so the user learns which
column cost the rows. Every problem of the chosen columns is collected and raised
as one DataError. Default features (`suggested_features`) leave out identifiers
and free text, saying why; `explain_task_type` says why a column is classes or a number.

Before anything is encoded or copied, `estimate_table` says what preparing will
take: the model inputs the features encode to, the float32 tensors and the text
the chosen columns hold. It works on each column's distinct values, so it is
cheap even for a wide or a huge table. A table that would encode to more inputs
than a synthetic task may have (LIMITS["input_dim"]), or need more memory than
the budget (MTLVIZ_TABLE_MEMORY_MB), is refused with one BudgetError that names
every such problem.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import torch

from mtlviz.config import LIMITS, TableTasks, TaskSpec
from mtlviz.data.bundled import BUNDLED
from mtlviz.data.reader import (
    TABLE_MEMORY_ENV,
    Table,
    megabytes,
    problems_error,
    problems_of,
    read_table_path,
    table_memory_budget,
    text_bytes,
)
from mtlviz.data.taskset import TaskSet
from mtlviz.errors import BudgetError, DataError

# An integer column is class labels only when it looks like codes (explain_task_type): at most this
# many distinct values, ...
MAX_INTEGER_CLASSES = 10
# ... at least this many rows per distinct value on average (fewer: too few examples of each class), ...
MIN_ROWS_PER_CLASS = 5
# ... and values packed near 0: the smallest -1, 0 or 1 (-1/1 signs, 0- or 1-based codes), the range at most
# twice the count (0-3 and 1-5 are codes; linnerud's waist sizes 31-46 are measurements).
CODE_SPREAD = 2
# Default features leave out identifiers: a different value in every row (text, or consecutive integers) ...
MIN_ID_ROWS = 10
ID_WORDS = frozenset({"id", "ids", "identifier", "uuid", "guid", "index", "idx"})
NUMBER_WORDS = frozenset({"number", "no", "nr", "num"})  # last word: "Sample Number", "Case No"
# ... or a column named like one ("Individual ID") with at least this share of distinct values;
ID_NAMED_SHARE = 0.3
# and free text: long values of several words (medians), many different ones.
FREE_TEXT_CHARS, FREE_TEXT_WORDS, FREE_TEXT_DISTINCT = 20, 3, 6
# Validation fractions the config allows (0.05 to 0.9), in the dashboard slider's steps: hints name these.
VAL_FRACTIONS = tuple(round(0.05 * k, 2) for k in range(1, 19))
# Fewer validation rows than this: validation losses are noisy (a warning, not an error).
FEW_VAL_ROWS = 20
# A column where at least this share of the values are numbers is numeric: the rest are errors.
NUMERIC_SHARE = 0.8
MAX_CLASSES = LIMITS["num_classes"][1]
MIN_TRAIN_ROWS, MIN_VAL_ROWS = 10, 5
OTHER, MISSING = "(other)", "(missing)"
FLOAT32_MAX = float(np.finfo(np.float32).max)  # tensors are float32
# A table's features may encode to as many model inputs as a synthetic task may have.
MAX_INPUTS = LIMITS["input_dim"][1]
# Peak memory that preparing adds, per byte of the float32 tensors it makes (measured: see TableEstimate) ...
TENSOR_OVERHEAD = 3.0
# ... and per byte of the largest chosen text column: text is stripped, parsed and encoded one column at a time.
TEXT_OVERHEAD = 4.0
WIDEST_LISTED = 5  # a table with too many inputs: its widest feature columns are named


@dataclass(frozen=True)
class ColumnInfo:
    """What a column holds: kind is "numeric", "categorical" or "empty"."""

    name: str
    kind: str
    missing: int
    distinct: int
    integer: bool = False
    rows: int = 0
    low: float = float("nan")  # numeric: smallest and largest value
    high: float = float("nan")

    @property
    def present(self) -> int:
        return self.rows - self.missing


@dataclass
class Preprocessing:
    """Everything done to the table, for the user to read."""

    rows_read: int = 0
    rows_used: int = 0
    rows_dropped: int = 0
    imputed: dict[str, int] = field(default_factory=dict)
    class_labels: dict[str, list[str]] = field(default_factory=dict)  # task -> label of class 0, 1, ...
    target_units: dict[str, tuple[float, float]] = field(default_factory=dict)  # task -> (mean, std)
    feature_columns: list[str] = field(default_factory=list)  # encoded input columns
    notes: list[str] = field(default_factory=list)
    # Rows dropped for a missing value, per column (most first), and how many of them only that column lacks.
    missing_by_column: dict[str, int] = field(default_factory=dict)
    only_cause: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------- columns


def numeric_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64 with NaN for missing, mask of present values that are not numbers)."""
    if pd.api.types.is_bool_dtype(series):
        values = series.astype("float64").to_numpy()
        return values, np.zeros(len(series), dtype=bool)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64").to_numpy(), np.zeros(len(series), dtype=bool)
    text = series.astype("string").str.strip()
    converted = pd.to_numeric(text, errors="coerce").astype("float64")
    present = text.notna().to_numpy() & (text != "").fillna(False).to_numpy()
    values = converted.to_numpy()
    return values, present & np.isnan(values)


def column_info(table: Table, name: str) -> ColumnInfo:
    series = table.frame[name]
    present = series.notna() & (series.astype("string").str.strip() != "").fillna(False)
    missing, rows = int((~present).sum()), len(series)
    if missing == len(series):
        return ColumnInfo(name, "empty", missing, 0, rows=rows)
    values, bad = numeric_values(series)
    numbers = present.to_numpy() & ~bad
    share = numbers.sum() / max(1, present.sum())
    if pd.api.types.is_bool_dtype(series) or share < NUMERIC_SHARE:
        distinct = int(series[present].astype("string").nunique())
        return ColumnInfo(name, "categorical", missing, distinct, rows=rows)
    finite = values[numbers & np.isfinite(values)]
    integer = bool(len(finite)) and bool(np.all(finite == np.round(finite)))
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (float("nan"),) * 2
    return ColumnInfo(name, "numeric", missing, int(pd.unique(values[numbers]).size), integer, rows, low, high)


def infer_task_type(info: ColumnInfo) -> str:
    """Text, booleans and integer codes: classification; other numbers: regression."""
    return explain_task_type(info)[0]


def explain_task_type(info: ColumnInfo) -> tuple[str, str]:
    """(task type, why), the why in words a user can check against the column."""
    if info.kind == "empty":
        return "regression", "no values"
    if info.kind == "categorical":
        return "classification", "text or true/false values: classes"
    if not info.integer:
        return "regression", "numbers with decimals"
    d, low, high = info.distinct, _number_text(info.low), _number_text(info.high)
    integers = f"{d} distinct integer{'s' if d != 1 else ''}"
    if d == 2:
        return "classification", f"{integers}: two classes"
    if d > MAX_INTEGER_CLASSES:
        return "regression", f"{integers}: more than {MAX_INTEGER_CLASSES}, so a number"
    if not -1 <= info.low <= 1 or info.high - info.low + 1 > CODE_SPREAD * d:
        return "regression", f"{integers} from {low} to {high}: spread out, not codes like 0, 1, 2"
    if d * MIN_ROWS_PER_CLASS > info.present:
        return "regression", f"{integers} in {info.present} rows: too few rows per class"
    return "classification", f"{integers} {low} to {high}: codes, so classes"


# ------------------------------------------------------------ default features


def left_out_columns(table: Table) -> dict[str, str]:
    """Columns that default features leave out, and why: identifiers and free text carry no pattern to learn."""
    left_out = {}
    for name in table.frame.columns:
        info = column_info(table, str(name))
        reason = _free_text(table.frame[name], info) or _identifier(info)
        if reason:
            left_out[str(name)] = reason
    return left_out


def suggested_features(table: Table, targets: list[str]) -> tuple[list[str], dict[str, str]]:
    """(default feature columns, {left-out column: why}): every other column but identifiers and free text."""
    left_out = {name: why for name, why in left_out_columns(table).items() if name not in targets}
    features = [str(c) for c in table.frame.columns if c not in targets and c not in left_out]
    return features, left_out


def _identifier(info: ColumnInfo) -> str:
    present = info.present
    consecutive = info.kind == "numeric" and info.integer and info.high - info.low + 1 == info.distinct
    if present >= MIN_ID_ROWS and info.distinct == info.rows and (info.kind == "categorical" or consecutive):
        return f"an identifier (a different value in each of the {info.rows} rows)"
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", info.name)
    named = bool(ID_WORDS & {w.lower() for w in words}) or (len(words) > 1 and words[-1].lower() in NUMBER_WORDS)
    if named and info.kind != "empty" and info.distinct > 2 and info.distinct >= ID_NAMED_SHARE * present:
        return f"an identifier ({info.distinct} distinct values in {present} rows, and its name says so)"
    return ""


def _free_text(series: pd.Series, info: ColumnInfo) -> str:
    if info.kind != "categorical" or pd.api.types.is_bool_dtype(series):
        return ""
    text = series.dropna().astype("string").str.strip()
    text = text[text != ""]
    if not len(text) or text.str.len().median() < FREE_TEXT_CHARS:
        return ""
    if text.str.split().str.len().median() < FREE_TEXT_WORDS:
        return ""
    if info.distinct < FREE_TEXT_DISTINCT and info.distinct < len(text):
        return ""
    return f"free text ({info.distinct} different long texts in {len(text)} rows)"


def _numeric_column(table: Table, name: str, role: str) -> np.ndarray:
    """The column as float64 (NaN = missing); rejects text and infinite values, naming one of each."""
    values, bad = numeric_values(table.frame[name])
    problems = []
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        sample = table.frame[name].iloc[first]
        problems.append(
            f"{role} column {name!r} is numeric but holds {int(bad.sum())} non-numeric value(s), "
            f"e.g. {str(sample)!r} on {table.where(first)}"
        )
    infinite = np.isinf(values)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        raw = table.frame[name].iloc[first]
        problems.append(
            f"{role} column {name!r} holds an infinite value ({str(raw)!r} on {table.where(first)}); "
            "expected finite numbers"
        )
    if problems:
        raise problems_error(problems, table.name)
    return values


# ------------------------------------------------------------------ estimate


@dataclass(frozen=True)
class TableEstimate:
    """What preparing a table will allocate, known before anything is encoded (`estimate_table`).

    Memory is the float32 tensors times TENSOR_OVERHEAD plus the largest chosen text
    column times TEXT_OVERHEAD, from the peak RSS of build_table_taskset over the table
    as read (one fresh process per table): up to 2.9 times the tensors (200 one-hot
    inputs: 2.2; 100 numeric ones: their float64 values and float32 blocks are alive
    together), and 2.7 to 4.1 times the largest text column (one of 195 MB; four of 49 MB:
    each column's stripped copies and Python strings are freed before the next, but the
    allocator keeps some of them).
    """

    rows: int  # rows used: training and validation
    widths: dict[str, int]  # feature column -> the model inputs it encodes to
    categories: dict[str, int]  # categorical feature -> its categories in the training split, before the cap
    targets: int
    text: dict[str, int]  # chosen column that holds text -> its bytes, decoded

    @property
    def inputs(self) -> int:
        return sum(self.widths.values())

    @property
    def tensor_bytes(self) -> int:
        return 4 * self.rows * (self.inputs + self.targets)  # float32 inputs and targets, both splits

    @property
    def text_bytes(self) -> int:
        return sum(self.text.values())

    @property
    def memory_bytes(self) -> int:
        largest = max(self.text.values(), default=0)
        return round(TENSOR_OVERHEAD * self.tensor_bytes + TEXT_OVERHEAD * largest)


def estimate_table(table: Table, spec: TableTasks, seed: int) -> TableEstimate:
    """What `build_table_taskset(table, spec, seed)` will allocate, from each chosen column's distinct values.

    The rows used and the training split are the ones preparing makes, so the inputs
    are exactly its x_train.shape[1] for a table it accepts.
    """
    targets, features, _ = _chosen_columns(table, spec)
    return _estimate(table, spec, seed, targets, features)


def over_budget(estimate: TableEstimate, spec: TableTasks, name: str) -> list[str]:
    """Why preparing would go over a limit: too many inputs, too much memory (empty: within both)."""
    problems = []
    if estimate.inputs > MAX_INPUTS:
        widest = sorted(estimate.widths.items(), key=lambda item: -item[1])[:WIDEST_LISTED]
        listed = [_width_text(column, width, estimate.categories.get(column)) for column, width in widest]
        listed = [listed[0]] + [f"{column!r} ({width})" for column, width in widest[1:]]
        more = len(estimate.widths) - len(widest)
        problems.append(
            f"features would encode to {estimate.inputs:,} inputs; at most {MAX_INPUTS:,} are allowed (as for "
            f"synthetic tasks). Widest: {', '.join(listed)}{f' and {more:,} more' if more else ''}. Choose fewer "
            f"feature columns or a lower max_categories (now {spec.max_categories}: a categorical feature encodes "
            f"to at most {spec.max_categories + 1} inputs)"
        )
    budget = table_memory_budget()
    if budget is not None and estimate.memory_bytes > budget:
        parts = [
            f"{megabytes(estimate.tensor_bytes)} of float32 tensors ({estimate.rows:,} rows × "
            f"{estimate.inputs:,} inputs and {_count(estimate.targets, 'target')})"
        ]
        change = "Choose fewer feature columns"
        if estimate.text:
            largest = max(estimate.text, key=estimate.text.get)
            parts.append(
                f"{megabytes(estimate.text_bytes)} of text in the chosen columns (largest: {largest!r}, "
                f"{megabytes(estimate.text[largest])})"
            )
            change += ", leave out long text columns"
        problems.append(
            f"preparing {name} would take about {megabytes(estimate.memory_bytes)} of memory: "
            f"{' and '.join(parts)}; the budget for a table is {megabytes(budget)} ({TABLE_MEMORY_ENV}). "
            f"{change} or use a table with fewer rows"
        )
    return problems


def _width_text(column: str, width: int, categories: int | None) -> str:
    if categories is None:
        return f"{column!r} ({width} input{'s' if width != 1 else ''})"
    if categories > width:
        return f"{column!r} ({width} inputs for {categories} categories)"
    return f"{column!r} ({categories} categor{'ies' if categories != 1 else 'y'})"


@dataclass
class _Codes:
    """A column as preparing sees it, from its distinct values: which rows hold a value, and which value."""

    kind: str  # "numeric", "categorical" or "empty", as column_info says
    present: np.ndarray  # (rows,) bool
    codes: np.ndarray | None = None  # text: (rows,) the label of each row; MISSING's label for missing rows
    labels: list[str] = field(default_factory=list)  # text: the distinct values, stripped
    counts: np.ndarray | None = None  # text: rows per label


def _codes(series: pd.Series) -> _Codes:
    """What column_info and _one_hot find, found on the distinct values: cheap for a long or a wide table.

    Text is read as they read it (`astype("string")`, stripped by Arrow's utf8_trim_whitespace,
    which is pandas' `str.strip`). Whether text is numeric is decided by `_decide_kinds`.
    """
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        present = series.notna().to_numpy()
        return _Codes("numeric" if present.any() else "empty", present)
    if not len(series):
        return _Codes("empty", np.zeros(0, dtype=bool))
    if isinstance(series.dtype, pd.CategoricalDtype):  # already distinct values and codes: never decoded
        raw = series.cat.codes.to_numpy().astype(np.int64)  # (rows,) distinct value, -1: missing
        distinct = pd.Series(series.cat.categories).astype("string").array.__arrow_array__().combine_chunks()
        raw[raw < 0] = len(distinct)
    else:
        arrow_text = isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow"
        text = (series if arrow_text else series.astype("string")).array.__arrow_array__()  # as strings already
        # One hash pass over the rows; the chunks of a chunked array share one growing dictionary.
        encoded = pc.dictionary_encode(text)
        distinct = encoded.chunks[-1].dictionary
        missing = pa.scalar(len(distinct), pa.int32())  # a missing row: one past the distinct values
        raw = np.concatenate([chunk.indices.fill_null(missing).to_numpy() for chunk in encoded.chunks])
    stripped = pc.utf8_trim_whitespace(distinct)
    stripped = pc.if_else(pc.equal(stripped, ""), pa.scalar(None, stripped.type), stripped)  # blank: missing
    labels = pc.unique(stripped).drop_null()  # values equal once stripped share a label
    if len(labels) == len(stripped) and not (raw == len(distinct)).any():
        codes = raw  # no missing, blank or merged values (a CSV column is stripped already)
    else:
        to_label = pc.index_in(stripped, value_set=labels).fill_null(-1).to_numpy()
        codes = np.append(to_label, -1)[raw]  # (rows,) label, -1: missing
    present = codes >= 0
    if not present.any():
        return _Codes("empty", present)
    labels = labels.to_pylist()
    counts = np.bincount(codes if present.all() else codes[present], minlength=len(labels))
    # _one_hot puts missing values in the MISSING category, merged with a value that reads "(missing)".
    codes[~present] = labels.index(MISSING) if MISSING in labels else len(labels)
    return _Codes("categorical", present, codes, labels, counts)


def _decide_kinds(found: dict[str, _Codes], frame: pd.DataFrame) -> None:
    """Text columns whose values are mostly numbers are numeric (column_info's rule): all parsed in one call."""
    text = [name for name, column in found.items() if column.counts is not None]
    if not text:
        return
    labels = [label for name in text for label in found[name].labels]
    numbers = pd.to_numeric(pd.Series(labels, dtype="string"), errors="coerce").notna().to_numpy()
    start = 0
    for name in text:
        column = found[name]
        end = start + len(column.labels)
        share = column.counts[numbers[start:end]].sum() / column.counts.sum()
        if share >= NUMERIC_SHARE and not pd.api.types.is_bool_dtype(frame[name]):
            column.kind = "numeric"
        start = end


def _estimate(table: Table, spec: TableTasks, seed: int, targets: list[str], features: list[str]) -> TableEstimate:
    frame = table.frame
    chosen = {name: frame[name] for name in dict.fromkeys(targets + features)}
    found = {name: _codes(column) for name, column in chosen.items()}
    _decide_kinds(found, frame)
    usable = [name for name in targets + features if found[name].kind != "empty"]
    droppers = [name for name in targets if name in usable]  # as build_table_taskset drops rows
    if spec.missing == "drop":
        droppers += [name for name in features if name in usable and name not in droppers]
    keep = np.ones(len(frame), dtype=bool)
    for name in droppers:
        keep &= found[name].present
    rows = np.flatnonzero(keep)
    n = len(rows)
    order = np.random.default_rng(seed).permutation(n)
    train_idx = rows[order[round(n * spec.val_fraction) + round(n * spec.test_fraction) :]]
    widths, categories = {}, {}
    for name in features:
        column = found[name]
        if column.kind == "numeric":
            widths[name] = 1
        elif column.kind == "categorical":
            k = int(np.count_nonzero(np.bincount(column.codes[train_idx]))) if len(train_idx) else 0
            categories[name] = k
            widths[name] = min(k, spec.max_categories) + (k > spec.max_categories)
    text = {name: size for name, column in chosen.items() if (size := text_bytes(column))}
    return TableEstimate(n, widths, categories, len([t for t in targets if t in usable]), text)


# ------------------------------------------------------------------ task set


def load_table(spec: TableTasks) -> Table:
    """The table a config names: a bundled dataset or a file."""
    if spec.dataset:
        return read_table_path(BUNDLED[spec.dataset].path)
    return read_table_path(spec.path)


def build_table_taskset(table: Table, spec: TableTasks, seed: int) -> tuple[TaskSet, Preprocessing]:
    """Validate, clean, split and encode the chosen columns of `table`.

    Every problem of the chosen columns is collected and raised as one DataError
    (its `problems` lists them), so a file is fixed in one pass, not one problem per try.
    First, before any column is parsed or encoded, the table is refused with a BudgetError
    (naming those problems and any found so far) when it would encode to more than
    MAX_INPUTS inputs or need more memory than its budget (`estimate_table`).
    """
    frame = table.frame
    targets, features, problems = _chosen_columns(table, spec)
    over = over_budget(_estimate(table, spec, seed, targets, features), spec, table.name)
    if over:
        raise problems_error(problems + over, table.name, BudgetError)
    report = Preprocessing(rows_read=len(frame), notes=list(table.notes))
    infos = {name: column_info(table, name) for name in targets + features}
    for name, info in infos.items():
        if info.kind == "empty":
            role = "target" if name in targets else "feature"
            problems.append(f"{role} column {name!r} has no values (every row is missing)")
    usable = [name for name in targets + features if infos[name].kind != "empty"]

    # Resolve task types, and parse every chosen column (problems name the value).
    tasks: list[TaskSpec] = []
    for target in spec.targets:
        if target.name not in usable:
            continue
        kind = target.type if target.type != "auto" else infer_task_type(infos[target.name])
        if kind == "regression" and infos[target.name].kind == "categorical":
            problems.append(
                f"target {target.name!r} holds text (e.g. {_sample(frame[target.name])!r}); "
                "it can be a classification task, not a regression task"
            )
            continue
        tasks.append(TaskSpec(target.name, kind, 2, target.loss_scale, target.weight))
    numeric: dict[str, np.ndarray] = {}
    for name in features:
        if name in usable and infos[name].kind == "numeric":
            numeric[name] = _collect(problems, _numeric_column, table, name, "feature")
    for task in tasks:
        if task.type == "regression":
            numeric[task.name] = _collect(problems, _numeric_column, table, task.name, "target")

    # Missing values.
    def present(name: str) -> np.ndarray:
        if name in numeric and numeric[name] is not None:
            return ~np.isnan(numeric[name])
        column = frame[name]
        return (column.notna() & (column.astype("string").str.strip() != "").fillna(False)).to_numpy()

    droppers = [name for name in targets if name in usable]  # columns whose missing values drop a row
    if spec.missing == "drop":
        droppers += [name for name in features if name in usable and name not in droppers]
    lacking = np.stack([~present(name) for name in droppers], axis=1) if droppers else np.zeros((len(frame), 0), bool)
    keep = ~lacking.any(axis=1)
    counts = {name: int(lacking[:, i].sum()) for i, name in enumerate(droppers) if lacking[:, i].any()}
    report.missing_by_column = dict(sorted(counts.items(), key=lambda item: -item[1]))
    alone = lacking.sum(axis=1) == 1
    report.only_cause = {name: int((lacking[:, droppers.index(name)] & alone).sum()) for name in counts}
    dropped = int((~keep).sum())
    report.rows_dropped = dropped
    if dropped:
        report.notes.append(_dropped_note(report, len(frame), spec.missing, features))
    n = int(keep.sum())
    n_val = round(n * spec.val_fraction)
    rows = np.flatnonzero(keep)
    n_test = round(n * spec.test_fraction)
    if not _splits(n, spec.val_fraction):
        problems.append(_too_few_rows(table, n, dropped, spec.val_fraction, report.missing_by_column))
    elif spec.test_fraction and (n_test < MIN_VAL_ROWS or n - n_val - n_test < MIN_TRAIN_ROWS):
        problems.append(
            f"{table.name}: {_count(n, 'usable row')} leave {n_test} test and {n - n_val - n_test} training rows "
            f"at test_fraction {spec.test_fraction:g} (and val_fraction {spec.val_fraction:g}); expected at least "
            f"{MIN_VAL_ROWS} test and {MIN_TRAIN_ROWS} training rows: lower test_fraction or val_fraction"
        )
    for task in tasks:  # checked on the rows that would be used, so split problems and class problems come together
        if task.type == "classification" and len(rows):
            _collect(problems, _class_codes, table, task.name, rows)
        elif task.type == "regression" and len(rows) and numeric.get(task.name) is not None:
            used = numeric[task.name][rows]
            if np.all(used == used[0]):
                problems.append(f"target {task.name!r} is constant ({used[0]:g} in every row): nothing to learn")
    if problems:
        raise problems_error(problems, table.name)
    order = np.random.default_rng(seed).permutation(n)
    # Validation first and test next, so a test split leaves the validation split as it was.
    val_idx, test_idx = rows[order[:n_val]], rows[order[n_val : n_val + n_test]]
    train_idx = rows[order[n_val + n_test :]]
    report.rows_used = n

    # Targets.
    y = np.zeros((len(frame), len(tasks)), dtype=np.float64)
    resolved, scales = [], []
    for t, task in enumerate(tasks):
        if task.type == "regression":
            values = numeric[task.name]
            result = _collect(problems, _standardised, table, task.name, "target", values, train_idx, rows)
            if result is None:
                continue
            standard, mean, std = result
            if not std > 0:
                problems.append(
                    f"target {task.name!r} is constant in the training split ({values[train_idx[0]]:g} in every "
                    "row): nothing to learn"
                )
                continue
            y[:, t] = standard
            report.target_units[task.name] = (mean, std)
            resolved.append(task)
            scales.append(std)
        else:
            codes, labels = _class_codes(table, task.name, rows)
            y[:, t] = codes
            report.class_labels[task.name] = labels
            resolved.append(TaskSpec(task.name, "classification", len(labels), task.loss_scale, task.weight))
            scales.append(1.0)

    # Features.
    blocks, names = [], []
    for name in features:
        if name in numeric:
            values = numeric.pop(name).copy()  # imputed in place; it may be a read-only view of the table
            missing = np.isnan(values[rows])
            if missing.any():  # only under "impute": "drop" removed these rows
                known = values[train_idx][~np.isnan(values[train_idx])]
                if not len(known):
                    have, usable_rows = int((~missing).sum()), _count(n, "usable row")
                    problems.append(
                        f"feature column {name!r} has no values in the training split ({have} of {usable_rows} "
                        f"{'has' if have == 1 else 'have'} one); expected at least one to impute the others from"
                    )
                    continue
                values[np.isnan(values)] = np.median(known)
                report.imputed[name] = int(missing.sum())
            result = _collect(problems, _standardised, table, name, "feature", values, train_idx, rows)
            if result is None:
                continue
            standard, _, std = result
            if not std > 0:
                report.notes.append(f"Feature {name!r} is constant in the training split; it carries no information.")
            # Only rows left out can lie beyond float32 (_standardised refuses a used one): they become inf.
            with np.errstate(over="ignore"):
                blocks.append(standard[:, None].astype(np.float32))
            names.append(name)
        else:
            block, block_names, imputed = _one_hot(frame[name], name, rows, train_idx, spec.max_categories, report)
            if imputed:
                report.imputed[name] = imputed
            blocks.append(block)
            names += block_names
    if problems:
        raise problems_error(problems, table.name)
    report.feature_columns = names
    # Blocks are float32 already (the cast the tensors make, made earlier) and freed once joined.
    x = np.concatenate(blocks, axis=1)  # (rows read, inputs)
    del blocks

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    taskset = TaskSet(
        tuple(resolved),
        tensor(x[train_idx]),
        tensor(y[train_idx]),
        tensor(x[val_idx]),
        tensor(y[val_idx]),
        target_scales=tuple(scales),
        x_test=tensor(x[test_idx]) if n_test else None,
        y_test=tensor(y[test_idx]) if n_test else None,
    )
    return taskset, report


def _chosen_columns(table: Table, spec: TableTasks) -> tuple[list[str], list[str], list[str]]:
    """(targets, features, problems): the chosen columns that the table has, and those it lacks."""
    columns = list(table.frame.columns)
    problems = []
    unknown = [name for name in [t.name for t in spec.targets] + list(spec.features) if name not in columns]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        which = f"column {names} is" if len(unknown) == 1 else f"columns {names} are"
        problems.append(f"{which} not in {table.name}; its columns are {', '.join(map(str, columns))}")
    targets = [t.name for t in spec.targets if t.name in columns]
    features = [name for name in spec.features if name in columns] or [c for c in columns if c not in targets]
    if not features and not spec.features:
        problems.append(f"{table.name}: no feature columns left; every column is a target")
    return targets, features, problems


def _collect(problems: list[str], check, *args):
    """`check(*args)`, or None with its problems added to `problems`."""
    try:
        return check(*args)
    except DataError as exc:
        problems.extend(problems_of(exc))
        return None


def _count(n: int, noun: str) -> str:
    """ "1 row", "5 rows" (singular and plural by count)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _missing_text(missing_by_column: dict[str, int]) -> str:
    return ", ".join(f"{name}: {_count(count, 'row')}" for name, count in missing_by_column.items())


def _dropped_note(report: Preprocessing, rows_read: int, policy: str, features: list[str]) -> str:
    """Where the dropped rows went: per column, and which feature's absence would keep most of them."""
    what = "a chosen column" if policy == "drop" else "a target"
    note = (
        f"Dropped {report.rows_dropped:,} of {rows_read:,} rows with a missing value in {what}: "
        f"{_missing_text(report.missing_by_column)}."
    )
    regained = {name: count for name, count in report.only_cause.items() if name in features and count}
    if regained:
        best = max(regained, key=regained.get)
        note += f" Leaving out {best} would keep {_count(regained[best], 'more row')}."
    return note


def _too_few_rows(table: Table, n: int, dropped: int, val_fraction: float, missing: dict[str, int]) -> str:
    """Too few usable rows: how many there are and are needed, where rows went, and which fractions would work."""
    need = next(m for m in itertools.count(n + 1) if _splits(m, val_fraction))
    message = (
        f"{table.name}: {_count(n, 'usable row')} (of {len(table.frame):,}; {dropped:,} had missing values) "
        f"{'is' if n == 1 else 'are'} too few for a training and validation split at val_fraction {val_fraction:g}; "
        f"expected at least {need}."
    )
    if missing:
        message += f" Missing values cost rows in {_missing_text(missing)}."
    works = [f for f in VAL_FRACTIONS if _splits(n, f)]
    if len(works) == 1:
        message += f" Validation fraction {works[0]:g} works with {n} rows."
    elif works:
        message += f" Validation fractions from {works[0]:g} to {works[-1]:g} work with {n} rows."
    else:
        least = next(m for m in itertools.count(n + 1) if any(_splits(m, f) for f in VAL_FRACTIONS))
        message += (
            f" No validation fraction works: {_count(n, 'row')} cannot hold the {MIN_TRAIN_ROWS} training rows and "
            f"{MIN_VAL_ROWS} validation rows needed; at least {least} are."
        )
    return message


def split_warnings(train_rows: int, val_rows: int, batch_size: int) -> list[str]:
    """Sizes that train, but less well than the user may think."""
    warnings = []
    if val_rows < FEW_VAL_ROWS:
        warnings.append(
            f"The validation split has only {_count(val_rows, 'row')}: validation losses will be noisy "
            f"({FEW_VAL_ROWS} or more is better)."
        )
    if batch_size > train_rows:
        warnings.append(
            f"The batch size ({batch_size}) is larger than the training split ({_count(train_rows, 'row')}): "
            f"every step uses all {train_rows} rows."
        )
    return warnings


def _splits(rows: int, val_fraction: float) -> bool:
    """Whether `rows` rows give both splits their minimum size (monotone in `rows`)."""
    n_val = round(rows * val_fraction)
    return n_val >= MIN_VAL_ROWS and rows - n_val >= MIN_TRAIN_ROWS


def _standardised(
    table: Table, name: str, role: str, values: np.ndarray, train_idx: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """(values - mean) / std with training-split statistics, and (mean, std); std 0 leaves values centred.

    Statistics are computed on values divided by their largest training magnitude:
    squares of numbers beyond about 1e154 overflow float64, yet such values are
    finite, so allowed. A used row that lands beyond float32 range is refused by line.
    """
    scale = float(np.max(np.abs(values[train_idx])))
    scale = scale if scale > 0 else 1.0
    with np.errstate(over="ignore"):  # overflow is checked on the result
        scaled = values / scale
        mean, std = float(scaled[train_idx].mean()), float(scaled[train_idx].std())
        standard = (scaled - mean) / (std if std > 0 else 1.0)
    far = np.flatnonzero(~(np.abs(standard[rows]) <= FLOAT32_MAX))
    if far.size:
        position = int(rows[far[0]])
        raise DataError(
            f"{role} column {name!r}: {str(table.frame[name].iloc[position])!r} on {table.where(position)} is too "
            f"far from the training split's values (mean {mean * scale:.4g}, standard deviation {std * scale:.4g}) "
            f"to standardise; expected at most {FLOAT32_MAX:.3g} standard deviations from the mean"
        )
    return standard, mean * scale, std * scale


def _mean(values: np.ndarray) -> float:
    """The mean of finite values, without overflow: their sum can pass the float64 limit."""
    scale = float(np.max(np.abs(values)))
    return float((values / scale).mean() * scale) if scale > 0 else 0.0


def _sample(series: pd.Series) -> str:
    values = series.dropna()
    return str(values.iloc[0]) if len(values) else ""


def _class_codes(table: Table, name: str, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Labels -> 0..K-1 in sorted order (numbers numerically). Rejects 1 class, too many, singletons."""
    column = table.frame[name]
    values, bad = numeric_values(column)
    used = column.iloc[rows]
    if not bad[rows].any() and not pd.api.types.is_bool_dtype(column):
        keys = values[rows]  # numeric labels: order by value (-1 < 0 < 1, 1 < 2 < 10)
        labels_sorted = np.unique(keys)
        label_text = [_number_text(v) for v in labels_sorted]
        codes_used = np.searchsorted(labels_sorted, keys)
    else:
        # Python strings, not a NumPy string array: that would drop trailing NUL characters.
        text = list(used.astype("string").str.strip())
        label_text = sorted(set(text))
        index = {label: i for i, label in enumerate(label_text)}
        codes_used = np.array([index[label] for label in text], dtype=np.int64)
    k = len(label_text)
    if k < 2:
        raise DataError(f"target {name!r} has a single class ({label_text[0]!r}): nothing to tell apart")
    if k > MAX_CLASSES:
        raise DataError(
            f"target {name!r} has {k} distinct classes; at most {MAX_CLASSES} are supported "
            "(is it an identifier, or a number that should be a regression target?)"
        )
    counts = np.bincount(codes_used, minlength=k)
    single = [label_text[i] for i in np.flatnonzero(counts < 2)]
    if single:
        raise DataError(
            f"target {name!r}: class {single[0]!r} has a single sample"
            + (f" (and {len(single) - 1} more classes)" if len(single) > 1 else "")
            + "; every class needs at least 2 rows to appear in training and validation"
        )
    codes = np.zeros(len(column), dtype=np.float64)
    codes[rows] = codes_used
    return codes, label_text


def _number_text(value: float) -> str:
    """A class label as text that tells every value apart ("1000001", not "1e+06"; "0.1", "1e+300")."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _one_hot(
    column: pd.Series, name: str, rows: np.ndarray, train_idx: np.ndarray, cap: int, report: Preprocessing
) -> tuple[np.ndarray, list[str], int]:
    text = column.astype("string").str.strip()
    missing = (text.isna() | (text == "")).fillna(True).to_numpy()
    imputed = int(missing[rows].sum())
    values = text.to_numpy(dtype=object)
    values[missing] = MISSING
    frequent = pd.Series(values[train_idx]).value_counts()
    categories = list(frequent.index[:cap])
    if len(frequent) > cap:
        report.notes.append(
            f"Feature {name!r} has {len(frequent)} categories; the {cap} most frequent get a column each, "
            f"the rest share {OTHER!r}."
        )
        categories.append(OTHER)
    index = {c: i for i, c in enumerate(categories)}
    other = index.get(OTHER)
    block = np.zeros((len(values), len(categories)), dtype=np.float32)
    for row, value in enumerate(values):
        position = index.get(value, other)
        if position is not None:
            block[row, position] = 1.0
    return block, [f"{name}={c}" for c in categories], imputed


# -------------------------------------------------------------------- preview


@dataclass
class Preview:
    head: pd.DataFrame
    tasks: pd.DataFrame  # per target: type, why that type, classes or range, missing
    correlation: pd.DataFrame | None  # between targets that can be read as numbers


def preview(table: Table, targets: list[str], types: dict[str, str] | None = None, rows: int = 8) -> Preview:
    """What the user sees before training: first rows, per-task summary, target correlations."""
    types = types or {}
    frame = table.frame
    summary = []
    encoded = {}
    for name in targets:
        info = column_info(table, name)
        kind, why = types.get(name, "auto"), "chosen"
        if kind == "auto":
            kind, why = explain_task_type(info)
        values, bad = numeric_values(frame[name])
        if info.kind == "empty":
            detail = "no values"
        elif kind == "classification":
            labels = frame[name].dropna().astype("string").str.strip()
            counts = labels.value_counts()
            shown = ", ".join(f"{k} ({v})" for k, v in counts.head(6).items())
            detail = f"{len(counts)} classes: {shown}" + (", …" if len(counts) > 6 else "")
            if len(counts) == 2:
                encoded[name] = (labels == counts.index[0]).astype(float).reindex(frame.index)
        else:
            finite = values[np.isfinite(values)]
            detail = f"{finite.min():.4g} to {finite.max():.4g} (mean {_mean(finite):.4g})" if len(finite) else "—"
            encoded[name] = pd.Series(np.where(bad, np.nan, values), index=frame.index)
        summary.append({"task": name, "type": kind, "why": why, "classes or range": detail, "missing": info.missing})
    correlation = pd.DataFrame(encoded).corr() if len(encoded) >= 2 else None
    return Preview(frame.head(rows), pd.DataFrame(summary), correlation)
