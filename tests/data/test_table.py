"""From a table to a TaskSet: type inference, explicit preprocessing, errors that name column and line, preview."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from mtlviz.config import TableTasks, TaskSpec
from mtlviz.data.bundled import BUNDLED
from mtlviz.data.reader import Table, read_table
from mtlviz.data.table import (
    MAX_CLASSES,
    MISSING,
    OTHER,
    build_table_taskset,
    column_info,
    infer_task_type,
    load_table,
    preview,
)
from mtlviz.data.taskset import TaskSet
from mtlviz.errors import DataError


def csv_table(columns: dict[str, list], name: str = "t.csv") -> Table:
    """A CSV table from columns of values (None: an empty cell)."""
    names = list(columns)
    rows = zip(*columns.values())
    text = ",".join(names) + "\n" + "".join(",".join("" if v is None else str(v) for v in row) + "\n" for row in rows)
    return read_table(text.encode(), name)


def text_table(text: str) -> Table:
    return read_table(text.encode(), "t.csv")


def parquet_table(frame: pd.DataFrame) -> Table:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return read_table(buffer.getvalue(), "t.parquet")


def table_spec(*targets: str | TaskSpec, features: tuple[str, ...] = (), **fields) -> TableTasks:
    tasks = tuple(t if isinstance(t, TaskSpec) else TaskSpec(t, "auto") for t in targets)
    return TableTasks(path="t.csv", targets=tasks, features=features, **fields)


def build(table: Table, *targets: str | TaskSpec, seed: int = 0, **fields):
    return build_table_taskset(table, table_spec(*targets, **fields), seed)


def build_error(table: Table, *targets: str | TaskSpec, seed: int = 0, **fields) -> str:
    with pytest.raises(DataError) as info:
        build(table, *targets, seed=seed, **fields)
    assert type(info.value) is DataError
    return str(info.value)


def assert_valid(taskset: TaskSet) -> None:
    for tensor in (taskset.x_train, taskset.y_train, taskset.x_val, taskset.y_val):
        assert tensor.dtype == torch.float32 and torch.isfinite(tensor).all()
    assert len(taskset.x_train) > 0 and len(taskset.x_val) > 0
    for t, task in enumerate(taskset.tasks):
        if task.type == "classification":
            y = torch.cat([taskset.y_train[:, t], taskset.y_val[:, t]])
            assert torch.equal(y, y.round()) and y.min() >= 0 and y.max() < task.num_classes


def all_rows(taskset: TaskSet) -> tuple[np.ndarray, np.ndarray]:
    x = torch.cat([taskset.x_train, taskset.x_val]).double().numpy()
    y = torch.cat([taskset.y_train, taskset.y_val]).double().numpy()
    return x, y


N = 40
IDS = list(range(N))


# ------------------------------------------------------------------ type inference


@pytest.mark.parametrize(
    ("values", "kind", "task"),
    [
        (["red", "green", "blue", "red"] * 10, "categorical", "classification"),
        (["True", "False"] * 20, "categorical", "classification"),
        ([i % 4 for i in IDS], "numeric", "classification"),  # few distinct integers
        ([-1, 1] * 20, "numeric", "classification"),
        ([i % 4 + 0.5 for i in IDS], "numeric", "regression"),  # floats
        (IDS, "numeric", "regression"),  # many distinct integers
        ([f"{i}.0" for i in range(3)] * 13 + ["1.0"], "numeric", "classification"),
    ],
    ids=["text", "bool-text", "few-integers", "signs", "floats", "many-integers", "integer-floats"],
)
def test_task_type_inference(values, kind, task):
    table = csv_table({"x": IDS, "y": values})
    info = column_info(table, "y")
    assert (info.kind, infer_task_type(info)) == (kind, task)
    taskset, _ = build(table, "y")
    assert taskset.tasks[0].type == task
    assert_valid(taskset)


def test_parquet_bool_target_is_classification():
    table = parquet_table(pd.DataFrame({"x": np.arange(N, dtype=float), "y": [True, False] * (N // 2)}))
    taskset, report = build(table, "y")
    assert taskset.tasks[0].type == "classification"
    assert report.class_labels == {"y": ["False", "True"]}


def test_empty_column_info():
    info = column_info(csv_table({"x": IDS, "e": [None] * N}), "e")
    assert (info.kind, info.missing, info.distinct) == ("empty", N, 0)


def test_type_override_by_task_spec():
    table = csv_table({"x": IDS, "y": [i % 4 for i in IDS], "z": [i % 3 + 0.5 for i in IDS]})
    taskset, report = build(table, TaskSpec("y", "regression"), TaskSpec("z", "classification"))
    assert [t.type for t in taskset.tasks] == ["regression", "classification"]
    assert taskset.tasks[1].num_classes == 3
    assert report.class_labels == {"z": ["0.5", "1.5", "2.5"]}
    assert set(report.target_units) == {"y"}


def test_regression_override_on_text_is_refused():
    message = build_error(csv_table({"x": IDS, "y": ["a", "b"] * 20}), TaskSpec("y", "regression"))
    assert message == "target 'y' holds text (e.g. 'a'); it can be a classification task, not a regression task"


# ------------------------------------------------------------------ chosen columns


def test_unknown_column_names_the_columns_there_are():
    message = build_error(csv_table({"x": IDS, "y": IDS}), "nope")
    assert message == "column 'nope' is not in t.csv; its columns are x, y"


def test_every_column_a_target_leaves_no_features():
    message = build_error(csv_table({"x": IDS, "y": IDS}), "x", "y")
    assert message == "t.csv: no feature columns left; every column is a target"


def test_features_default_to_every_other_column_and_can_be_chosen():
    table = csv_table({"a": IDS, "b": [i * 2.5 for i in IDS], "y": [i % 2 for i in IDS]})
    taskset, report = build(table, "y")
    assert report.feature_columns == ["a", "b"] and taskset.input_dim == 2
    taskset, report = build(table, "y", features=("b",))
    assert report.feature_columns == ["b"] and taskset.input_dim == 1


# ------------------------------------------------------------------ too few rows


def test_too_few_rows_says_how_many_are_usable_and_needed():
    message = build_error(csv_table({"x": IDS[:22], "y": [i * 1.5 for i in IDS[:22]]}), "y")
    assert message == (
        "t.csv: 22 usable rows (of 22; 0 had missing values) are too few for a training and validation split "
        "at val_fraction 0.2; expected at least 23. Validation fractions from 0.25 to 0.55 work with 22 rows."
    )
    taskset, _ = build(csv_table({"x": IDS[:23], "y": [i * 1.5 for i in IDS[:23]]}), "y")
    assert (len(taskset.x_train), len(taskset.x_val)) == (18, 5)


def test_too_few_rows_counts_rows_dropped_for_missing_values():
    y = [None if i % 4 == 0 else i * 1.5 for i in IDS[:24]]
    message = build_error(csv_table({"x": IDS[:24], "y": y}), "y")
    assert "18 usable rows (of 24; 6 had missing values)" in message and "expected at least 23" in message


@pytest.mark.parametrize(("val_fraction", "needed"), [(0.05, 91), (0.2, 23), (0.5, 20), (0.9, 96)])
def test_rows_needed_is_the_exact_minimum(val_fraction, needed):
    def table(n: int) -> Table:
        return csv_table({"x": IDS[:1] * n, "y": [i * 1.5 for i in range(n)]})

    message = build_error(table(needed - 1), "y", val_fraction=val_fraction)
    assert f"expected at least {needed}." in message
    taskset, _ = build(table(needed), "y", val_fraction=val_fraction)
    assert len(taskset.x_train) >= 10 and len(taskset.x_val) >= 5


# ------------------------------------------------------------------ bad values


def test_non_numeric_value_names_column_value_and_file_line(line_of):
    y = [f"{i * 1.5}" for i in IDS]
    y[25] = "12,5 kg"
    table_text = "x,y\n" + "".join(f'{i},"{v}"\n' for i, v in zip(IDS, y))
    message = build_error(text_table(table_text), "y")
    line = line_of(table_text, '25,"12,5 kg"')
    assert message == f"target column 'y' is numeric but holds 1 non-numeric value(s), e.g. '12,5 kg' on line {line}"


def test_non_numeric_line_counts_blank_lines_and_values_spanning_lines(line_of):
    text = 'x,note,y\n0,"two\nlines",1.5\n\n' + "".join(f"{i},n,{i * 1.5}\n" for i in range(1, 35))
    text += "35,n,oops\n" + "".join(f"{i},n,{i * 1.5}\n" for i in range(36, 40))
    message = build_error(text_table(text), "y", features=("x",))
    assert f"e.g. 'oops' on line {line_of(text, '35,n,oops')}" in message
    assert line_of(text, "35,n,oops") == 39


def test_non_numeric_feature_value_in_a_parquet_file_names_the_row():
    frame = pd.DataFrame({"x": [str(i) for i in IDS], "y": [i * 1.5 for i in IDS]}, index=[3] * N)
    frame.loc[:, "x"] = frame["x"].where(np.arange(N) != 30, "n/a?")
    message = build_error(parquet_table(frame), "y")
    assert message == "feature column 'x' is numeric but holds 1 non-numeric value(s), e.g. 'n/a?' on row 31"


@pytest.mark.parametrize("role", ["feature", "target"])
def test_all_missing_column(role):
    table = csv_table({"x": IDS, "e": [None] * N, "y": [i * 1.5 for i in IDS]})
    message = build_error(table, "e" if role == "target" else "y")
    assert message == f"{role} column 'e' has no values (every row is missing)"


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e400", "-1e999"])
@pytest.mark.parametrize("role", ["feature", "target"])
def test_infinite_value_names_column_and_line(value, role):
    column = [f"{i * 1.5}" for i in IDS]
    column[17] = value
    table = csv_table({"x": IDS, "v": column})
    message = build_error(table, "v" if role == "target" else "x")
    assert message == (f"{role} column 'v' holds an infinite value ({value!r} on line 19); expected finite numbers")


def test_constant_regression_target():
    message = build_error(csv_table({"x": IDS, "y": [2.5] * N}), "y")
    assert message == "target 'y' is constant (2.5 in every row): nothing to learn"


@pytest.mark.parametrize("values", [["cat"] * N, [1] * N], ids=["text", "number"])
def test_single_class_target(values):
    message = build_error(csv_table({"x": IDS, "y": values}), "y")
    assert message == f"target 'y' has a single class ({str(values[0])!r}): nothing to tell apart"


# ------------------------------------------------------------------ class labels


@pytest.mark.parametrize(
    ("labels", "counts", "expected"),
    [
        ([-1, 1], [15, 25], ["-1", "1"]),
        ([1, 2, 3], [5, 10, 25], ["1", "2", "3"]),
        ([10, 2, 1], [5, 10, 25], ["1", "2", "10"]),  # numerically sorted, not as text
        (["b", "a", "c"], [5, 10, 25], ["a", "b", "c"]),
    ],
    ids=["signs", "one-based", "numeric-order", "text"],
)
def test_labels_are_mapped_to_0_to_k_minus_1_in_sorted_order(labels, counts, expected):
    column = [label for label, count in zip(labels, counts) for _ in range(count)]
    # Chosen as classes: 1, 2, 10 are too spread out to be inferred as codes.
    taskset, report = build(csv_table({"x": IDS, "y": column}), TaskSpec("y", "classification"))
    assert report.class_labels == {"y": expected}
    assert taskset.tasks[0].num_classes == len(expected)
    _, y = all_rows(taskset)
    by_label = dict(zip(map(str, labels), counts))
    assert np.bincount(y[:, 0].astype(int)).tolist() == [by_label[text] for text in expected]
    assert_valid(taskset)


def test_numeric_labels_that_print_alike_are_reported_apart():
    taskset, report = build(csv_table({"x": IDS, "y": [1_000_000 + i % 2 for i in IDS]}), "y")
    assert report.class_labels == {"y": ["1000000", "1000001"]}


def test_text_labels_differing_by_a_trailing_nul_are_kept_apart():
    table = parquet_table(pd.DataFrame({"x": np.arange(30.0), "y": ["p", "p\x00", "q"] * 10}))
    taskset, report = build(table, "y")
    assert report.class_labels == {"y": ["p", "p\x00", "q"]}
    _, y = all_rows(taskset)
    assert np.bincount(y[:, 0].astype(int)).tolist() == [10, 10, 10]


def test_too_many_classes_suggests_an_identifier():
    column = [f"id{i // 2}" for i in range(2 * (MAX_CLASSES + 1))]
    table = csv_table({"x": list(range(len(column))), "y": column})
    message = build_error(table, "y")
    assert message == (
        f"target 'y' has {MAX_CLASSES + 1} distinct classes; at most {MAX_CLASSES} are supported "
        "(is it an identifier, or a number that should be a regression target?)"
    )


def test_class_with_a_single_sample():
    column = ["a"] * 20 + ["b"] * 19 + ["c"]
    message = build_error(csv_table({"x": IDS, "y": column}), "y")
    assert message == (
        "target 'y': class 'c' has a single sample; every class needs at least 2 rows to appear in training "
        "and validation"
    )


# ------------------------------------------------------------------ standardisation


def recover_raw_ids(taskset: TaskSet, mean: float, std: float) -> tuple[np.ndarray, np.ndarray]:
    """Target y = 2 * id + 1 tells each row's id back, from the reported target units."""

    def ids(y: torch.Tensor) -> np.ndarray:
        raw = y[:, 0].double().numpy() * std + mean
        assert np.allclose(raw, np.round(raw), atol=1e-6)
        return ((np.round(raw) - 1) / 2).astype(int)

    return ids(taskset.y_train), ids(taskset.y_val)


def test_numeric_features_use_training_statistics_only():
    rng = np.random.default_rng(3)
    a = rng.normal(50.0, 10.0, N).round(3)
    a[:8] += 100  # the first rows are unlike the rest, so all-row statistics would differ
    table = csv_table({"a": list(a), "y": [2 * i + 1 for i in IDS]})
    taskset, report = build(table, "y", seed=5)
    mean, std = report.target_units["y"]
    train_ids, val_ids = recover_raw_ids(taskset, mean, std)
    assert sorted([*train_ids, *val_ids]) == IDS

    x_train = taskset.x_train[:, 0].double().numpy()
    assert abs(x_train.mean()) < 1e-5 and abs(x_train.std() - 1) < 1e-5
    train_mean, train_std = a[train_ids].mean(), a[train_ids].std()
    assert train_mean != pytest.approx(a.mean(), abs=0.5)  # the test can tell the two apart
    np.testing.assert_allclose(x_train, (a[train_ids] - train_mean) / train_std, rtol=1e-5, atol=1e-5)
    x_val = taskset.x_val[:, 0].double().numpy()
    np.testing.assert_allclose(x_val, (a[val_ids] - train_mean) / train_std, rtol=1e-5, atol=1e-5)


def test_regression_targets_are_standardised_and_their_units_reported():
    table = csv_table({"x": IDS, "y": [2 * i + 1 for i in IDS]})
    taskset, report = build(table, "y")
    mean, std = report.target_units["y"]
    train_ids, _ = recover_raw_ids(taskset, mean, std)
    raw = 2 * train_ids + 1
    assert (mean, std) == pytest.approx((raw.mean(), raw.std()))
    assert taskset.target_scales == pytest.approx((std,))
    y_train = taskset.y_train[:, 0].double().numpy()
    assert abs(y_train.mean()) < 1e-6 and abs(y_train.std() - 1) < 1e-5


def test_classification_targets_have_unit_scale_and_no_units():
    taskset, report = build(csv_table({"x": IDS, "c": [i % 3 for i in IDS], "r": IDS}), "c", "r")
    assert taskset.target_scales[0] == 1.0 and set(report.target_units) == {"r"}


def test_huge_finite_values_are_standardised_without_overflow():
    big = [(-1) ** i * (1 + i / N) * 1e300 for i in IDS]
    taskset, report = build(csv_table({"a": big, "b": IDS, "y": big}), "y")
    assert_valid(taskset)
    mean, std = report.target_units["y"]
    assert np.isfinite(mean) and 1e299 < std < 1e301
    assert taskset.x_train[:, 0].double().std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)


def test_value_too_far_from_training_values_for_float32_is_refused_by_line():
    # Only the rows whose outlier lands in the validation split: the training statistics cannot reach it.
    outcomes = set()
    a = [i * 1e-3 for i in IDS]
    a[7] = 1e300
    table = csv_table({"a": a, "y": [i % 2 for i in IDS]})
    for seed in range(12):
        try:
            taskset, _ = build(table, "y", seed=seed)
        except DataError as error:
            assert str(error).startswith("feature column 'a': '1e+300' on line 9 is too far from the training split")
            outcomes.add("refused")
        else:
            assert_valid(taskset)
            outcomes.add("built")
    assert outcomes == {"refused", "built"}


def test_a_left_out_row_beyond_float32_does_not_disturb_the_rows_used():
    # The row's target is missing, so it is dropped; its feature would not fit in float32 once standardised.
    a = [i * 1e-3 for i in IDS]
    a[7] = 1e300
    y = [i % 2 for i in IDS]
    y[7] = None
    taskset, report = build(csv_table({"a": a, "y": y}), "y", missing="impute")
    assert_valid(taskset)
    assert report.rows_used == N - 1


def test_constant_feature_is_noted_and_zero():
    taskset, report = build(csv_table({"a": [3.0] * N, "b": IDS, "y": [i % 2 for i in IDS]}), "y")
    assert "Feature 'a' is constant in the training split; it carries no information." in report.notes
    assert torch.count_nonzero(taskset.x_train[:, 0]) == 0


# ------------------------------------------------------------------ categorical features


def test_categorical_features_are_one_hot_encoded():
    colours = ["red", "green", "blue", "green"] * 10
    taskset, report = build(csv_table({"colour": colours, "y": IDS}), "y")
    assert report.feature_columns[0] == "colour=green"  # by training frequency; red and blue may tie
    assert sorted(report.feature_columns) == ["colour=blue", "colour=green", "colour=red"]
    x, _ = all_rows(taskset)
    assert x.sum(axis=1).tolist() == [1.0] * N
    totals = dict(zip(report.feature_columns, x.sum(axis=0)))
    assert totals == {"colour=green": 20.0, "colour=red": 10.0, "colour=blue": 10.0}
    assert not [note for note in report.notes if OTHER in note]


def test_rare_categories_beyond_the_cap_share_other():
    counts = {"A": 40, "B": 25, "C": 18, "D": 6, "E": 4, "F": 3, "G": 2, "H": 2}
    values = [c for c, k in counts.items() for _ in range(k)]
    n = len(values)
    taskset, report = build(csv_table({"c": values, "y": list(range(n))}), "y", max_categories=3)
    assert report.feature_columns == ["c=A", "c=B", "c=C", f"c={OTHER}"]
    assert report.notes == [
        "Feature 'c' has 8 categories; the 3 most frequent get a column each, the rest share '(other)'."
    ]
    x, _ = all_rows(taskset)
    assert x.sum(axis=1).tolist() == [1.0] * n
    assert x.sum(axis=0).tolist() == [40.0, 25.0, 18.0, float(n - 83)]


def test_numbers_mixed_with_much_text_are_a_categorical_feature():
    values = [str(i % 3) if i % 2 else "none" for i in IDS]
    _, report = build(csv_table({"v": values, "y": IDS}), "y")
    assert sorted(report.feature_columns) == ["v=0", "v=1", "v=2", "v=none"]


# ------------------------------------------------------------------ missing values


def missing_table() -> Table:
    a = [None if i in (3, 11) else float(i % 7) for i in IDS]
    c = [None if i in (5, 12, 13) else ["p", "q"][i % 2] for i in IDS]
    y = [None if i == 20 else 2 * i + 1 for i in IDS]
    return csv_table({"a": a, "c": c, "id": IDS, "y": y})


def test_missing_policy_drop_removes_rows_and_reports_the_count():
    taskset, report = build(missing_table(), "y", missing="drop")
    assert (report.rows_read, report.rows_dropped, report.rows_used) == (N, 6, N - 6)
    assert report.notes == [
        f"Dropped 6 of {N} rows with a missing value in a chosen column: c: 3 rows, a: 2 rows, y: 1 row. "
        "Leaving out c would keep 3 more rows."
    ]
    assert report.missing_by_column == {"c": 3, "a": 2, "y": 1} and report.only_cause == {"c": 3, "a": 2, "y": 1}
    assert len(taskset.x_train) + len(taskset.x_val) == N - 6
    assert report.imputed == {}
    assert f"c={MISSING}" not in report.feature_columns


def test_missing_policy_impute_fills_features_but_drops_missing_targets():
    taskset, report = build(missing_table(), "y", missing="impute")
    assert (report.rows_dropped, report.rows_used) == (1, N - 1)
    assert report.notes == [f"Dropped 1 of {N} rows with a missing value in a target: y: 1 row."]
    assert report.imputed == {"a": 2, "c": 3}
    assert sorted(report.feature_columns) == sorted(["a", "c=p", "c=q", f"c={MISSING}", "id"])

    mean, std = report.target_units["y"]
    train_ids, val_ids = recover_raw_ids(taskset, mean, std)
    assert 20 not in [*train_ids, *val_ids]
    a = np.array([np.nan if i in (3, 11) else float(i % 7) for i in IDS])
    median = np.median(a[train_ids][~np.isnan(a[train_ids])])  # of the training split only
    filled = np.where(np.isnan(a), median, a)
    expected = (filled - filled[train_ids].mean()) / filled[train_ids].std()
    x, _ = all_rows(taskset)
    ids = np.concatenate([train_ids, val_ids])
    np.testing.assert_allclose(x[:, 0], expected[ids], rtol=1e-5, atol=1e-5)
    missing_column = x[:, report.feature_columns.index(f"c={MISSING}")]
    assert sorted(ids[missing_column == 1].tolist()) == [5, 12, 13]


def test_impute_refuses_a_feature_with_no_training_values():
    a = [None] * N
    a[9] = 4.0
    table = csv_table({"a": a, "b": IDS, "y": [2 * i + 1 for i in IDS]})
    outcomes = set()
    for seed in range(15):
        try:
            taskset, report = build(table, "y", missing="impute", seed=seed)
        except DataError as error:
            assert str(error) == (
                "feature column 'a' has no values in the training split (1 of 40 usable rows has one); "
                "expected at least one to impute the others from"
            )
            outcomes.add("refused")
        else:
            assert_valid(taskset)
            outcomes.add("built")
            assert report.imputed == {"a": N - 1}
    assert outcomes == {"refused", "built"}


# ------------------------------------------------------------------ names carried through


def test_html_column_names_are_carried_through_unchanged():
    table = csv_table({"<b>x</b>": IDS, "<i>c</i>": ["<b>v</b>", "**w**"] * 20, "[y](javascript:x)": IDS})
    taskset, report = build(table, "[y](javascript:x)")
    assert taskset.names == ("[y](javascript:x)",)
    assert report.feature_columns == ["<b>x</b>", "<i>c</i>=<b>v</b>", "<i>c</i>=**w**"]
    assert preview(table, ["[y](javascript:x)"]).tasks["task"].tolist() == ["[y](javascript:x)"]


# ------------------------------------------------------------------ bundled datasets


@pytest.mark.parametrize(
    ("dataset", "types", "dropped"),
    [
        ("penguins", {"species": 3, "sex": 2, "body_mass_g": "regression"}, 11),
        ("wine", {"cultivar": 3, "alcohol": "regression", "color_intensity": "regression"}, 0),
    ],
)
def test_bundled_datasets_load_with_their_default_tasks(dataset, types, dropped):
    info = BUNDLED[dataset]
    spec = TableTasks(dataset=dataset, targets=tuple(TaskSpec(t, "auto") for t in info.targets), features=info.features)
    table = load_table(spec)
    taskset, report = build_table_taskset(table, spec, seed=0)
    assert taskset.names == info.targets
    found = {t.name: t.num_classes if t.type == "classification" else "regression" for t in taskset.tasks}
    assert found == types
    assert report.rows_dropped == dropped and report.rows_used == len(table.frame) - dropped
    assert_valid(taskset)


def test_penguin_species_labels_and_features():
    info = BUNDLED["penguins"]
    spec = TableTasks(dataset="penguins", targets=(TaskSpec("species", "auto"),), features=info.features)
    _, report = build_table_taskset(load_table(spec), spec, seed=0)
    assert report.class_labels == {"species": ["Adelie", "Chinstrap", "Gentoo"]}
    assert report.feature_columns[:3] == ["island=Biscoe", "island=Dream", "island=Torgersen"]


# ------------------------------------------------------------------ preview


def test_preview_has_head_task_summary_and_target_correlation():
    table = load_table(TableTasks(dataset="penguins", targets=(TaskSpec("species", "auto"),)))
    shown = preview(table, ["species", "sex", "body_mass_g"], rows=5)
    pd.testing.assert_frame_equal(shown.head, table.frame.head(5))
    summary = shown.tasks.set_index("task")
    assert summary["type"].to_dict() == {
        "species": "classification",
        "sex": "classification",
        "body_mass_g": "regression",
    }
    assert summary.loc["species", "classes or range"] == "3 classes: Adelie (152), Gentoo (124), Chinstrap (68)"
    assert summary.loc["body_mass_g", "classes or range"].startswith("2700 to 6300 (mean ")
    assert summary["missing"].to_dict() == {"species": 0, "sex": 11, "body_mass_g": 2}
    # Binary and regression targets can be correlated; a 3-class label cannot.
    corr = shown.correlation
    assert list(corr.columns) == ["sex", "body_mass_g"] == list(corr.index)
    assert np.allclose(np.diag(corr), 1.0) and corr.loc["sex", "body_mass_g"] == corr.loc["body_mass_g", "sex"]


def test_preview_types_override_and_single_target():
    table = csv_table({"x": IDS, "y": [i % 4 for i in IDS]})
    shown = preview(table, ["y"], {"y": "regression"})
    assert shown.tasks.to_dict("records") == [
        {"task": "y", "type": "regression", "why": "chosen", "classes or range": "0 to 3 (mean 1.5)", "missing": 0}
    ]
    assert shown.correlation is None
