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
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from mtlviz.config import LIMITS, TableTasks, TaskSpec
from mtlviz.data.bundled import BUNDLED
from mtlviz.data.reader import Table, read_table_path
from mtlviz.data.taskset import TaskSet
from mtlviz.errors import DataError

# A numeric column with at most this many distinct integer values is taken as class labels.
MAX_INTEGER_CLASSES = 10
# A column where at least this share of the values are numbers is numeric: the rest are errors.
NUMERIC_SHARE = 0.8
MAX_CLASSES = LIMITS["num_classes"][1]
MIN_TRAIN_ROWS, MIN_VAL_ROWS = 10, 5
OTHER, MISSING = "(other)", "(missing)"
FLOAT32_MAX = float(np.finfo(np.float32).max)  # tensors are float32


@dataclass(frozen=True)
class ColumnInfo:
    """What a column holds: kind is "numeric", "categorical" or "empty"."""

    name: str
    kind: str
    missing: int
    distinct: int
    integer: bool = False


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
    missing = int((~present).sum())
    if missing == len(series):
        return ColumnInfo(name, "empty", missing, 0)
    values, bad = numeric_values(series)
    numbers = present.to_numpy() & ~bad
    share = numbers.sum() / max(1, present.sum())
    if pd.api.types.is_bool_dtype(series) or share < NUMERIC_SHARE:
        return ColumnInfo(name, "categorical", missing, int(series[present].astype("string").nunique()))
    finite = values[numbers & np.isfinite(values)]
    integer = bool(len(finite)) and bool(np.all(finite == np.round(finite)))
    return ColumnInfo(name, "numeric", missing, int(pd.unique(values[numbers]).size), integer)


def infer_task_type(info: ColumnInfo) -> str:
    """Text, booleans and few distinct integers: classification; other numbers: regression."""
    if info.kind == "categorical":
        return "classification"
    if info.kind == "numeric" and info.integer and info.distinct <= MAX_INTEGER_CLASSES:
        return "classification"
    return "regression"


def _numeric_column(table: Table, name: str, role: str) -> np.ndarray:
    """The column as float64 (NaN = missing); rejects text and infinite values, naming one."""
    values, bad = numeric_values(table.frame[name])
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        sample = table.frame[name].iloc[first]
        raise DataError(
            f"{role} column {name!r} is numeric but holds {int(bad.sum())} non-numeric value(s), "
            f"e.g. {str(sample)!r} on {table.where(first)}"
        )
    infinite = np.isinf(values)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        raw = table.frame[name].iloc[first]
        raise DataError(
            f"{role} column {name!r} holds an infinite value ({str(raw)!r} on {table.where(first)}); "
            "expected finite numbers"
        )
    return values


# ------------------------------------------------------------------ task set


def load_table(spec: TableTasks) -> Table:
    """The table a config names: a bundled dataset or a file."""
    if spec.dataset:
        return read_table_path(BUNDLED[spec.dataset].path)
    return read_table_path(spec.path)


def build_table_taskset(table: Table, spec: TableTasks, seed: int) -> tuple[TaskSet, Preprocessing]:
    """Validate, clean, split and encode the chosen columns of `table`."""
    frame = table.frame
    columns = list(frame.columns)
    targets = [t.name for t in spec.targets]
    for name in targets + list(spec.features):
        if name not in columns:
            raise DataError(f"column {name!r} is not in {table.name}; its columns are {', '.join(map(str, columns))}")
    features = list(spec.features) or [c for c in columns if c not in targets]
    if not features:
        raise DataError(f"{table.name}: no feature columns left; every column is a target")
    report = Preprocessing(rows_read=len(frame), notes=list(table.notes))
    infos = {name: column_info(table, name) for name in targets + features}
    for name, info in infos.items():
        if info.kind == "empty":
            role = "target" if name in targets else "feature"
            raise DataError(f"{role} column {name!r} has no values (every row is missing)")

    # Resolve task types, and parse every chosen column (errors name the value).
    tasks: list[TaskSpec] = []
    for target in spec.targets:
        kind = target.type if target.type != "auto" else infer_task_type(infos[target.name])
        if kind == "regression" and infos[target.name].kind == "categorical":
            raise DataError(
                f"target {target.name!r} holds text (e.g. {_sample(frame[target.name])!r}); "
                "it can be a classification task, not a regression task"
            )
        tasks.append(TaskSpec(target.name, kind, 2, target.loss_scale, target.weight))
    numeric = {name: _numeric_column(table, name, "feature") for name in features if infos[name].kind == "numeric"}
    for task in tasks:
        if task.type == "regression":
            numeric[task.name] = _numeric_column(table, task.name, "target")

    # Missing values.
    def present(name: str) -> np.ndarray:
        if name in numeric:
            return ~np.isnan(numeric[name])
        column = frame[name]
        return (column.notna() & (column.astype("string").str.strip() != "").fillna(False)).to_numpy()

    keep = np.ones(len(frame), dtype=bool)
    for name in targets:
        keep &= present(name)
    if spec.missing == "drop":
        for name in features:
            keep &= present(name)
    dropped = int((~keep).sum())
    report.rows_dropped = dropped
    if dropped:
        what = "a chosen column" if spec.missing == "drop" else "a target"
        report.notes.append(f"Dropped {dropped} of {len(frame)} rows with a missing value in {what}.")
    n = int(keep.sum())
    n_val = round(n * spec.val_fraction)
    if not _splits(n, spec.val_fraction):
        need = next(m for m in itertools.count(n + 1) if _splits(m, spec.val_fraction))
        raise DataError(
            f"{table.name}: {n} usable rows (of {len(frame)}; {dropped} had missing values) are too few for a "
            f"training and validation split at val_fraction {spec.val_fraction:g}; expected at least {need}"
        )
    rows = np.flatnonzero(keep)
    order = np.random.default_rng(seed).permutation(n)
    val_idx, train_idx = rows[order[:n_val]], rows[order[n_val:]]
    report.rows_used = n

    # Targets.
    y = np.zeros((len(frame), len(tasks)), dtype=np.float64)
    resolved, scales = [], []
    for t, task in enumerate(tasks):
        if task.type == "regression":
            values = numeric[task.name]
            standard, mean, std = _standardised(table, task.name, "target", values, train_idx, rows)
            if not std > 0:
                raise DataError(
                    f"target {task.name!r} is constant ({values[rows[0]]:g} in every row): nothing to learn"
                )
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
            values = numeric[name].copy()
            missing = np.isnan(values[rows])
            if missing.any():  # only under "impute": "drop" removed these rows
                known = values[train_idx][~np.isnan(values[train_idx])]
                if not len(known):
                    raise DataError(
                        f"feature column {name!r} has no values in the training split ({int((~missing).sum())} of "
                        f"{n} usable rows have one); expected at least one to impute the others from"
                    )
                values[np.isnan(values)] = np.median(known)
                report.imputed[name] = int(missing.sum())
            standard, _, std = _standardised(table, name, "feature", values, train_idx, rows)
            if not std > 0:
                report.notes.append(f"Feature {name!r} is constant in the training split; it carries no information.")
            blocks.append(standard[:, None])
            names.append(name)
        else:
            block, block_names, imputed = _one_hot(frame[name], name, rows, train_idx, spec.max_categories, report)
            if imputed:
                report.imputed[name] = imputed
            blocks.append(block)
            names += block_names
    report.feature_columns = names
    x = np.concatenate(blocks, axis=1)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    taskset = TaskSet(
        tuple(resolved),
        tensor(x[train_idx]),
        tensor(y[train_idx]),
        tensor(x[val_idx]),
        tensor(y[val_idx]),
        target_scales=tuple(scales),
    )
    return taskset, report


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
    block = np.zeros((len(values), len(categories)), dtype=np.float64)
    for row, value in enumerate(values):
        position = index.get(value, other)
        if position is not None:
            block[row, position] = 1.0
    return block, [f"{name}={c}" for c in categories], imputed


# -------------------------------------------------------------------- preview


@dataclass
class Preview:
    head: pd.DataFrame
    tasks: pd.DataFrame  # per target: type, classes or range, missing
    correlation: pd.DataFrame | None  # between targets that can be read as numbers


def preview(table: Table, targets: list[str], types: dict[str, str] | None = None, rows: int = 8) -> Preview:
    """What the user sees before training: first rows, per-task summary, target correlations."""
    types = types or {}
    frame = table.frame
    summary = []
    encoded = {}
    for name in targets:
        info = column_info(table, name)
        kind = types.get(name, "auto")
        kind = infer_task_type(info) if kind == "auto" else kind
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
        summary.append({"task": name, "type": kind, "classes or range": detail, "missing": info.missing})
    correlation = pd.DataFrame(encoded).corr() if len(encoded) >= 2 else None
    return Preview(frame.head(rows), pd.DataFrame(summary), correlation)
