"""Property tests: whatever the bytes, reading and building end in a valid TaskSet or a DataError, nothing else."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import torch
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from mtlviz.config import TableTasks, TaskSpec
from mtlviz.data.reader import Table, read_table
from mtlviz.data.table import build_table_taskset, preview
from mtlviz.data.taskset import TaskSet
from mtlviz.errors import ConfigError, DataError

# database=None: no .hypothesis folder in the working tree; failures print their example instead.
FEW = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# For find(): generation only (no shrinking), so a search that succeeds costs a few examples.
SEARCH = settings(
    max_examples=200, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
)

MAGIC = [b"", b"PAR1", b"PK\x03\x04", b"\x1f\x8b", b"\x80\x04\x95", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf"]
FILENAMES = ["t.csv", "t.tsv", "t.txt", "t.parquet", "t.pq", "t.pkl", "t.xlsx", "t.json", "t"]
SPECIAL_CELLS = [
    "", " ", "NA", "null", "nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e999", "1e300", "-1.7e308",
    "5e-324", "99999999999999999999999", "0", "-0", "1.0", "True", "false", '"', '""', "a,b", "a;b", "x\ny",
    "café", "名前", "<b>x</b>", "\t", "(other)", "(missing)",
]  # fmt: skip


def read_or_refuse(data: bytes, filename: str) -> Table | None:
    try:
        table = read_table(data, filename)
    except DataError:
        return None
    assert isinstance(table.frame, pd.DataFrame) and len(table.frame) > 0
    assert all(isinstance(name, str) and name == name.strip() and name for name in table.frame.columns)
    assert table.frame.columns.is_unique
    if table.lines is not None:
        assert len(table.lines) == len(table.frame) and np.all(np.diff(table.lines) > 0)
    return table


@FEW
@given(prefix=st.sampled_from(MAGIC), data=st.binary(max_size=3000), filename=st.sampled_from(FILENAMES))
def test_arbitrary_bytes_are_read_or_refused(prefix, data, filename):
    read_or_refuse(prefix + data, filename)


NAMES = ["a", "b", "y", "z", "<b>x</b>", "w w", "é"]
PLAIN = {
    "int": st.sampled_from(["-1", "0", "1", "2", "3"]),
    "float": st.floats(allow_nan=False, allow_infinity=False).map(repr),
    "text": st.sampled_from(["a", "b", "c", "café", " d "]),
    "bool": st.sampled_from(["True", "False"]),
    "any": st.text(max_size=6),
}


def quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """Mostly well-formed CSV (so that many reach the task set), with a few odd cells, names and rows."""
    columns = draw(st.integers(2, 5))
    rows = draw(st.one_of(st.integers(0, 2), st.integers(26, 45), st.integers(26, 45)))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=columns, max_size=columns, unique=True))
    for i, name in draw(st.lists(st.tuples(st.integers(0, columns - 1), st.text(max_size=4)), max_size=1)):
        names[i] = name  # possibly blank or a duplicate
    table = [names]
    for kind in draw(st.lists(st.sampled_from(sorted(PLAIN)), min_size=columns, max_size=columns)):
        column = draw(st.lists(PLAIN[kind], min_size=rows, max_size=rows))
        odd = st.tuples(
            st.integers(0, max(rows - 1, 0)), st.one_of(st.sampled_from(SPECIAL_CELLS), st.text(max_size=4))
        )
        for row, cell in draw(st.lists(odd, max_size=draw(st.sampled_from([0, 0, 0, 1, 3])))) if rows else []:
            column[row] = cell
        table.append(column)
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    well_formed = draw(st.integers(0, 4)) > 0  # else cells go in unquoted, delimiters and newlines included

    def field(cell: str) -> str:
        needs = any(ch in cell for ch in (delimiter, '"', "\n", "\r")) or cell != cell.strip()
        return quote(cell) if needs and well_formed else cell

    lines = [delimiter.join(field(name) for name in names)]
    lines += [delimiter.join(field(column[r]) for column in table[1:]) for r in range(rows)]
    for position in draw(st.lists(st.integers(0, len(lines)), max_size=2)):
        lines.insert(position, "")  # blank lines
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["\n", ""]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "latin-1", "cp1252"]))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8")


def assert_valid(taskset: TaskSet, spec: TableTasks, rows_used: int) -> None:
    tasks = len(spec.targets)
    assert taskset.names == spec.task_names
    assert len(taskset.x_train) > 0 and len(taskset.x_val) > 0
    assert len(taskset.x_train) + len(taskset.x_val) == rows_used
    assert taskset.x_train.shape[1] == taskset.x_val.shape[1] >= 1
    assert taskset.y_train.shape == (len(taskset.x_train), tasks) and taskset.y_val.shape == (len(taskset.x_val), tasks)
    for tensor in (taskset.x_train, taskset.y_train, taskset.x_val, taskset.y_val):
        assert tensor.dtype == torch.float32 and bool(torch.isfinite(tensor).all())
    assert len(taskset.scales) == tasks and all(np.isfinite(s) and s > 0 for s in taskset.scales)
    for t, task in enumerate(taskset.tasks):
        assert task.type in ("classification", "regression")
        if task.type == "classification":
            y = torch.cat([taskset.y_train[:, t], taskset.y_val[:, t]])
            assert task.num_classes >= 2
            assert torch.equal(y, y.round()) and y.min() >= 0 and y.max() < task.num_classes


@MANY
@given(data=csv_files(), choice=st.data())
def test_any_csv_becomes_a_valid_taskset_or_a_data_error(data, choice):
    table = read_or_refuse(data, "t.csv")
    if table is None:
        return
    columns = list(table.frame.columns)
    names = [c for c in columns if len(c) <= 40]  # a task name's limit (config)
    if not names:
        return
    most = max(1, min(3, len(columns) - 1))  # usually leave a feature
    targets = choice.draw(st.lists(st.sampled_from(names), min_size=1, max_size=most, unique=True))
    kind = st.sampled_from(["auto", "auto", "auto", "regression", "classification"])
    types = [choice.draw(kind) for _ in targets]
    rest = [c for c in columns if c not in targets]
    features = choice.draw(st.lists(st.sampled_from(rest), unique=True)) if rest else []  # [] = all the rest
    spec = TableTasks(
        path="t.csv",
        targets=tuple(TaskSpec(name, kind) for name, kind in zip(targets, types)),
        features=tuple(features),
        missing=choice.draw(st.sampled_from(["drop", "impute"])),
        val_fraction=choice.draw(st.sampled_from([0.2] * 6 + [0.5, 0.9])),
        max_categories=choice.draw(st.integers(2, 4)),
    )
    shown = preview(table, targets, dict(zip(targets, types)))
    assert len(shown.tasks) == len(targets)
    try:
        taskset, report = build_table_taskset(table, spec, seed=choice.draw(st.integers(0, 3)))
    except DataError:
        return
    assert_valid(taskset, spec, report.rows_used)
    assert report.rows_used + report.rows_dropped == report.rows_read == len(table.frame)
    for task in taskset.tasks:
        if task.type == "classification":
            assert len(report.class_labels[task.name]) == task.num_classes
        else:
            mean, std = report.target_units[task.name]
            assert np.isfinite(mean) and np.isfinite(std) and std > 0


@st.composite
def parquet_files(draw: st.DrawFn) -> bytes:
    rows = draw(st.integers(1, 40))
    columns = {
        "f": st.lists(st.floats(width=64), min_size=rows, max_size=rows),
        "i": st.lists(st.integers(-3, 3), min_size=rows, max_size=rows),
        "s": st.lists(st.one_of(st.none(), st.sampled_from(["p", "q", "r"])), min_size=rows, max_size=rows),
        "b": st.lists(st.booleans(), min_size=rows, max_size=rows),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(columns)), min_size=2, max_size=4, unique=True))
    frame = pd.DataFrame({name: draw(columns[name]) for name in chosen})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@FEW
@given(data=parquet_files(), choice=st.data())
def test_any_parquet_becomes_a_valid_taskset_or_a_data_error(data, choice):
    table = read_or_refuse(data, "t.parquet")
    assert table is not None
    columns = list(table.frame.columns)
    target = choice.draw(st.sampled_from(columns))
    kind = choice.draw(st.sampled_from(["auto", "regression", "classification"]))
    spec = TableTasks(
        path="t.parquet", targets=(TaskSpec(target, kind),), missing=choice.draw(st.sampled_from(["drop", "impute"]))
    )
    preview(table, [target], {target: kind})
    try:
        taskset, report = build_table_taskset(table, spec, seed=0)
    except DataError:
        return
    assert_valid(taskset, spec, report.rows_used)


# The properties above return early on a refused file or a DataError. These make sure the
# generators also reach their other end, a built TaskSet, so the checks on it do run.


def builds(data: bytes, filename: str) -> bool:
    """Whether `data` reads and builds a TaskSet with its last column as the one target."""
    table = read_or_refuse(data, filename)
    if table is None or len(table.frame.columns) < 2:
        return False
    spec = TableTasks(path=filename, targets=(TaskSpec(table.frame.columns[-1], "auto"),))
    try:
        build_table_taskset(table, spec, seed=0)
    except (DataError, ConfigError):  # ConfigError: a column name that is not a valid task name
        return False
    return True


def test_the_csv_generator_reaches_a_valid_taskset():
    find(csv_files(), lambda data: builds(data, "t.csv"), settings=SEARCH)


def test_the_parquet_generator_reaches_a_valid_taskset():
    find(parquet_files(), lambda data: builds(data, "t.parquet"), settings=SEARCH)
