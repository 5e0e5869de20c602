"""Readouts a teacher can trust: which columns are classes, which are left out, where rows went, every problem at once.

The tables are made here (`like_tables`): a 20-row linnerud-like table of integer
measurements, and a penguins_raw-like table with ID and free-text columns.
"""

from __future__ import annotations

import pytest
from like_tables import LINNERUD, linnerud_csv, penguins_raw_csv, penguins_raw_frame

from mtlviz.config import TableTasks, TaskSpec
from mtlviz.data import table as tables  # attributes, not names: each test fails on its own without them
from mtlviz.data.reader import Table, read_table
from mtlviz.errors import DataError


def spec(*targets: str, features: tuple[str, ...] = (), **fields) -> TableTasks:
    return TableTasks(path="t.csv", targets=tuple(TaskSpec(t, "auto") for t in targets), features=features, **fields)


def error_of(table: Table, *targets: str, **fields) -> DataError:
    with pytest.raises(DataError) as info:
        tables.build_table_taskset(table, spec(*targets, **fields), seed=0)
    return info.value


def linnerud() -> Table:
    return read_table(linnerud_csv(), "linnerud.csv")


def penguins() -> Table:
    return read_table(penguins_raw_csv(), "penguins_raw.csv")


def csv(text: str, name: str = "t.csv") -> Table:
    return read_table(text.encode(), name)


# ---------------------------------------------------------------- item 7: integers that are not classes


@pytest.mark.parametrize("column", list(LINNERUD.columns))
def test_integer_measurements_of_linnerud_are_regression(column):
    info = tables.column_info(linnerud(), column)
    assert info.kind == "numeric" and info.integer
    assert tables.infer_task_type(info) == "regression"


def test_linnerud_waist_says_why_it_is_a_number_not_classes():
    kind, reason = tables.explain_task_type(tables.column_info(linnerud(), "Waist"))
    assert kind == "regression"
    assert reason == "9 distinct integers from 31 to 46: spread out, not codes like 0, 1, 2"


@pytest.mark.parametrize(
    ("values", "kind", "reason"),
    [
        ([i % 4 for i in range(40)], "classification", "4 distinct integers 0 to 3: codes, so classes"),
        ([2, 4] * 20, "classification", "2 distinct integers: two classes"),
        ([1, 2, 3, 4, 5, 6] * 3 + [1, 2], "regression", "6 distinct integers in 20 rows: too few rows per class"),
        ([i % 14 for i in range(40)], "regression", "14 distinct integers: more than 10, so a number"),
        ([0.5, 1.5] * 20, "regression", "numbers with decimals"),
        (["a", "b"] * 20, "classification", "text or true/false values: classes"),
    ],
    ids=["codes", "binary", "few-rows-per-class", "many", "decimals", "text"],
)
def test_inferred_type_and_its_reason(values, kind, reason):
    table = csv("y\n" + "\n".join(map(str, values)) + "\n")
    assert tables.explain_task_type(tables.column_info(table, "y")) == (kind, reason)


def test_the_preview_explains_each_inferred_type():
    shown = tables.preview(linnerud(), ["Waist", "Chins"], {"Chins": "classification"})
    rows = shown.tasks.set_index("task")
    assert rows.loc["Waist", "type"] == "regression"
    assert rows.loc["Waist", "why"] == "9 distinct integers from 31 to 46: spread out, not codes like 0, 1, 2"
    assert rows.loc["Chins", "why"] == "chosen"


def test_linnerud_trains_on_waist_as_regression_at_a_fraction_that_fits():
    taskset, report = tables.build_table_taskset(linnerud(), spec("Waist", "Pulse", val_fraction=0.25), seed=0)
    assert [t.type for t in taskset.tasks] == ["regression", "regression"]
    assert (len(taskset.x_train), len(taskset.x_val)) == (15, 5)
    assert set(report.target_units) == {"Waist", "Pulse"}


# ---------------------------------------------------------------- item 7: every problem at once


def test_every_problem_of_the_chosen_columns_is_reported_at_once():
    rows = ["a,b,c,y,z,w"] + [f"{i},{i * 0.5},{i % 3},{i % 2},{i * 1.5},7" for i in range(40)]
    rows[5] = "oops,2.0,1,1,6.0,7"  # a: text among numbers, line 6
    rows[9] = "8,inf,2,0,12.0,7"  # b: infinite, line 10
    table = csv("\n".join(rows) + "\n")
    error = error_of(table, "y", "w", "nope", features=("a", "b", "missing_too"))
    problems = error.problems
    assert problems == (
        "columns 'nope', 'missing_too' are not in t.csv; its columns are a, b, c, y, z, w",
        "feature column 'a' is numeric but holds 1 non-numeric value(s), e.g. 'oops' on line 6",
        "feature column 'b' holds an infinite value ('inf' on line 10); expected finite numbers",
        "target 'w' is constant (7 in every row): nothing to learn",
    )
    assert str(error) == "t.csv has 4 problems:\n" + "\n".join(f"- {p}" for p in problems)


def test_a_single_problem_keeps_its_plain_message():
    table = csv("x,y\n" + "".join(f"{i},{i * 1.5}\n" for i in range(40)))
    error = error_of(table, "nope")
    assert str(error) == "column 'nope' is not in t.csv; its columns are x, y"
    assert error.problems == (str(error),)


def test_the_reader_reports_every_header_problem_and_ragged_line_at_once():
    text = "a,,a,b,\n1,2,3,4,5\n1,2,3\n1,2,3,4,5\n1,2,3,4,5,6,7\n"
    with pytest.raises(DataError) as info:
        read_table(text.encode(), "t.csv")
    assert info.value.problems == (
        "t.csv: column 2 has a blank name; every column needs a name in the header row",
        "t.csv: column 5 has a blank name; every column needs a name in the header row",
        "t.csv: column name 'a' appears twice (columns 1 and 3)",
    )
    text = "a,b,c\n1,2,3\n1,2\n1,2,3\n1,2,3,4\n1\n"
    with pytest.raises(DataError) as info:
        read_table(text.encode(), "t.csv")
    assert info.value.problems == (
        "t.csv: line 3 has 2 fields but the header has 3 columns; check that line for a missing or extra comma "
        "or an unquoted value containing one",
        "t.csv: line 5 has 4 fields but the header has 3 columns; check that line for a missing or extra comma "
        "or an unquoted value containing one",
        "t.csv: line 6 has 1 fields but the header has 3 columns; check that line for a missing or extra comma "
        "or an unquoted value containing one",
    )


# ---------------------------------------------------------------- item 8: default features


def test_default_features_leave_out_id_and_free_text_columns():
    table = penguins()
    features, left_out = tables.suggested_features(table, ["Species"])
    assert left_out == {
        "Sample Number": "an identifier (152 distinct values in 344 rows, and its name says so)",
        "Individual ID": "an identifier (190 distinct values in 344 rows, and its name says so)",
        "Comments": "free text (10 different long texts in 54 rows)",
    }
    assert "Species" not in features and not set(left_out) & set(features)
    assert features == [c for c in table.frame.columns if c not in ("Species", *left_out)]


def test_a_column_unique_per_row_is_an_identifier_but_measurements_are_not():
    rows = 30
    text = "code,seq,mass,y\n" + "".join(f"S{i:03d},{100 + i},{1000 + 7 * i},{i % 2}\n" for i in range(rows))
    _, left_out = tables.suggested_features(csv(text), ["y"])
    assert left_out == {
        "code": "an identifier (a different value in each of the 30 rows)",
        "seq": "an identifier (a different value in each of the 30 rows)",
    }
    _, left_out = tables.suggested_features(linnerud(), ["Waist"])  # all-different integers by chance are measurements
    assert left_out == {}


# ---------------------------------------------------------------- item 8: where rows went


def test_dropped_rows_name_the_columns_responsible():
    frame = penguins_raw_frame()
    complete = int(frame.notna().all(axis=1).sum())  # the reference: rows with no missing value
    only_comments = int((frame["Comments"].isna() & frame.drop(columns="Comments").notna().all(axis=1)).sum())
    _, report = tables.build_table_taskset(penguins(), spec("Species"), seed=0)  # every other column, as before
    assert (report.rows_read, report.rows_used) == (344, complete)
    assert list(report.missing_by_column.items())[:4] == [
        ("Comments", 290),
        ("Delta 15 N (o/oo)", 14),
        ("Delta 13 C (o/oo)", 13),
        ("Sex", 11),
    ]
    assert report.notes[0].startswith(
        f"Dropped {344 - complete} of 344 rows with a missing value in a chosen column: Comments: 290 rows, "
        "Delta 15 N (o/oo): 14 rows, Delta 13 C (o/oo): 13 rows, Sex: 11 rows, "
    )
    # Rows where only Comments is missing: leaving it out gets them back.
    assert report.only_cause["Comments"] == only_comments
    assert f"Leaving out Comments would keep {only_comments} more rows." in report.notes[0]


def test_without_the_left_out_columns_penguins_keep_most_rows():
    frame = penguins_raw_frame()
    table = penguins()
    features, left_out = tables.suggested_features(table, ["Species"])
    _, report = tables.build_table_taskset(table, spec("Species", features=tuple(features)), seed=0)
    assert report.rows_used == int(frame.drop(columns=list(left_out)).notna().all(axis=1).sum()) == 344 - 19


def test_too_few_rows_names_the_columns_that_cost_rows():
    frame = penguins_raw_frame().iloc[::6]  # 58 rows of every species
    comments, sex = int(frame["Comments"].isna().sum()), int(frame["Sex"].isna().sum())
    usable = int(frame[["Comments", "Sex"]].notna().all(axis=1).sum())
    assert usable < 15 and comments > sex > 0
    table = read_table(frame.to_csv(index=False).encode(), "p.csv")
    message = error_of(table, "Species", features=("Comments", "Sex")).problems[0]
    assert message.startswith(f"p.csv: {usable} usable rows (of 58; {58 - usable} had missing values)")
    assert f"Missing values cost rows in Comments: {comments} rows, Sex: {sex} rows." in message


# ---------------------------------------------------------------- item 8: split sizes


def test_a_table_too_small_at_this_fraction_says_which_fractions_work():
    message = str(error_of(linnerud(), "Waist"))
    assert message == (
        "linnerud.csv: 20 usable rows (of 20; 0 had missing values) are too few for a training and validation "
        "split at val_fraction 0.2; expected at least 23. Validation fractions from 0.25 to 0.5 work with 20 rows."
    )


def test_a_table_too_small_for_any_fraction_says_why():
    table = csv("x,y\n" + "".join(f"{i},{i * 1.5}\n" for i in range(12)))
    message = str(error_of(table, "y"))
    assert message.endswith(
        "expected at least 23. No validation fraction works: 12 rows cannot hold the 10 training rows and 5 "
        "validation rows needed; at least 15 are."
    )


def test_one_usable_row_is_singular():
    table = csv("x,y\n" + "1,2.5\n" + "".join(f"{i},\n" for i in range(5)))
    error = error_of(table, "y")
    assert error.problems[0].startswith("t.csv: 1 usable row (of 6; 5 had missing values) is too few")
    assert "1 usable rows" not in str(error)


@pytest.mark.parametrize(
    ("train", "val", "batch", "expected"),
    [
        (400, 100, 128, []),
        (
            15,
            5,
            128,
            [
                "The validation split has only 5 rows: validation losses will be noisy (20 or more is better).",
                "The batch size (128) is larger than the training split (15 rows): every step uses all 15 rows.",
            ],
        ),
        (
            80,
            19,
            64,
            ["The validation split has only 19 rows: validation losses will be noisy (20 or more is better)."],
        ),
    ],
)
def test_split_warnings(train, val, batch, expected):
    assert tables.split_warnings(train, val, batch) == expected
