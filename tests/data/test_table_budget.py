"""Table budgets: a table is refused before it is encoded (or, for Parquet, decoded) when it would have more
model inputs than a synthetic task may have, or need more memory than MTLVIZ_TABLE_MEMORY_MB allows; the
estimate behind the refusal counts exactly the inputs preparing makes."""

from __future__ import annotations

import io
import string

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtlviz.config import LIMITS, TableTasks, TaskSpec
from mtlviz.data import reader as reader_module
from mtlviz.data import table as table_module
from mtlviz.data.bundled import BUNDLED
from mtlviz.data.reader import TABLE_MEMORY_ENV, Table, megabytes, read_table, read_table_path, text_bytes
from mtlviz.data.table import MAX_INPUTS, build_table_taskset, estimate_table
from mtlviz.errors import BudgetError, ConfigError

LETTERS = list(string.ascii_lowercase)
LONG = "x" * 10 * 1024  # a 10 KiB string


def csv_table(columns: dict[str, list], name: str = "t.csv") -> Table:
    """A CSV table from columns of values (None: an empty cell)."""
    rows = zip(*columns.values())
    text = ",".join(columns) + "\n" + "".join(",".join("" if v is None else str(v) for v in row) + "\n" for row in rows)
    return read_table(text.encode(), name)


def parquet_table(table: pa.Table | pd.DataFrame, name: str = "t.parquet") -> Table:
    buffer = io.BytesIO()
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(table, buffer, use_dictionary=True)
    return read_table(buffer.getvalue(), name)


def spec(*targets: str, features: tuple[str, ...] = (), **fields) -> TableTasks:
    return TableTasks(path="t.csv", targets=tuple(TaskSpec(t, "auto") for t in targets), features=features, **fields)


def refusal(table: Table, table_spec: TableTasks) -> BudgetError:
    with pytest.raises(BudgetError) as info:
        build_table_taskset(table, table_spec, 0)
    return info.value


def wide_columns(rows: int = 104, wide: int = 13) -> dict[str, list]:
    """`wide` columns of 26 letters (each 21 inputs under max_categories 20), a numeric one, a 3-category one."""
    columns = {f"w{j}": [LETTERS[(i + 7 * j) % 26] for i in range(rows)] for j in range(wide)}
    columns["n"] = [i * 0.5 for i in range(rows)]
    columns["small"] = [["lo", "mid", "hi"][i % 3] for i in range(rows)]
    columns["y"] = [i % 2 for i in range(rows)]
    return columns


@pytest.fixture
def no_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing or encoding a column fails the test: a refusal must come before either."""

    def never(*args, **kwargs):
        raise AssertionError("the table was parsed or encoded before it was refused")

    for name in ("column_info", "_numeric_column", "_one_hot", "_class_codes"):
        monkeypatch.setattr(table_module, name, never)


# ------------------------------------------------------------------ input width


def test_the_input_cap_is_the_synthetic_one():
    assert LIMITS["input_dim"][1] == MAX_INPUTS


def test_a_table_wider_than_the_input_cap_is_refused_naming_its_widest_columns(no_encoding):
    table = csv_table(wide_columns())
    error = refusal(table, spec("y"))
    assert type(error) is BudgetError
    message = str(error)
    # 13 letter columns x (20 categories + "(other)") + 1 numeric + 3 categories.
    assert f"features would encode to 277 inputs; at most {MAX_INPUTS} are allowed" in message
    widest = "Widest: 'w0' (21 inputs for 26 categories), 'w1' (21), 'w2' (21), 'w3' (21), 'w4' (21) and 10 more"
    assert widest in message
    assert "Choose fewer feature columns or a lower max_categories (now 20" in message


def test_a_lower_max_categories_brings_the_same_table_under_the_cap():
    table = csv_table(wide_columns())
    taskset, report = build_table_taskset(table, spec("y", max_categories=5), 0)
    assert taskset.x_train.shape[1] == 13 * 6 + 1 + 3 == len(report.feature_columns)


def test_uncapped_categories_are_listed_as_categories(no_encoding):
    columns = {f"c{j}": [f"v{(i + j) % 30}" for i in range(300)] for j in range(9)}  # 9 x 30 = 270 inputs
    columns["y"] = [i % 2 for i in range(300)]
    message = str(refusal(csv_table(columns), spec("y", max_categories=100)))
    assert "features would encode to 270 inputs" in message
    assert "Widest: 'c0' (30 categories), 'c1' (30)" in message


# ------------------------------------------------------------------ memory


def test_over_the_memory_budget_is_refused_naming_the_estimate_and_the_budget(monkeypatch, no_encoding):
    monkeypatch.setenv(TABLE_MEMORY_ENV, "0.1")
    columns = {f"x{j}": [i * 0.25 + j for i in range(2000)] for j in range(5)}
    table = csv_table(columns | {"y": [0.5 * i for i in range(2000)]})
    estimate = estimate_table(table, spec("y"), 0)
    assert estimate.tensor_bytes == 4 * 2000 * (5 + 1)
    assert estimate.memory_bytes > 0.1 * 2**20
    largest = max(estimate.text, key=estimate.text.get)  # CSV columns are text until they are parsed
    error = refusal(table, spec("y"))
    assert str(error) == (
        f"preparing t.csv would take about {megabytes(estimate.memory_bytes)} of memory: 0.0 MB of float32 tensors "
        f"(2,000 rows × 5 inputs and 1 target) and {megabytes(estimate.text_bytes)} of text in the chosen columns "
        f"(largest: {largest!r}, {megabytes(estimate.text[largest])}); the budget for a table is 0.1 MB "
        "(MTLVIZ_TABLE_MEMORY_MB). Choose fewer feature columns, leave out long text columns or use a table with "
        "fewer rows"
    )


def test_the_memory_budget_is_read_when_used_and_zero_lifts_it(monkeypatch):
    table = csv_table({"x": [i * 0.25 for i in range(2000)], "y": [0.5 * i for i in range(2000)]})
    monkeypatch.setenv(TABLE_MEMORY_ENV, "0.01")
    refusal(table, spec("y"))
    monkeypatch.setenv(TABLE_MEMORY_ENV, "0")
    taskset, _ = build_table_taskset(table, spec("y"), 0)
    assert taskset.x_train.shape == (1600, 1)


@pytest.mark.parametrize("value", ["lots", "-5", "nan"])
def test_a_bad_memory_budget_is_a_config_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(TABLE_MEMORY_ENV, value)
    table = csv_table({"x": list(range(40)), "y": [i % 2 for i in range(40)]})
    with pytest.raises(ConfigError) as info:
        build_table_taskset(table, spec("y"), 0)
    assert str(info.value) == f"{TABLE_MEMORY_ENV}: expected a number of megabytes (0: no limit), found {value!r}"


def test_every_budget_problem_and_every_missing_column_are_reported_at_once(monkeypatch, no_encoding):
    monkeypatch.setenv(TABLE_MEMORY_ENV, "0.01")
    table = csv_table(wide_columns())
    features = (*(f"w{j}" for j in range(13)), "nope")
    error = refusal(table, spec("y", features=features))
    problems = error.problems
    assert len(problems) == 3
    assert problems[0].startswith("column 'nope' is not in t.csv")
    assert problems[1].startswith("features would encode to 273 inputs")
    assert problems[2].startswith("preparing t.csv would take about")
    assert str(error).startswith("t.csv has 3 problems:\n- column 'nope'")


# ------------------------------------------------------------------ the estimate is what preparing makes


def _varied() -> pd.DataFrame:
    """Stripped duplicates, blanks, a literal "(missing)", mostly-numeric text, booleans with gaps, a rare value."""
    rng = np.random.default_rng(5)
    n = 120
    frame = pd.DataFrame(
        {
            "spaced": rng.choice([" a", "a", "a ", "b", "c"], n),
            "blanks": rng.choice(["x", "y", "  ", None, "(missing)"], n),
            "mostly_numbers": rng.choice(["1", "2", "3", "oops"], n, p=[0.25, 0.25, 0.2, 0.3]),
            "flag": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "rare": ["common"] * (n - 1) + ["once"],
            "number": rng.normal(size=n),
            "y": rng.choice(["p", "q"], n),
            "r": rng.normal(size=n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "number"] = np.nan
    return frame


def _csv(frame: pd.DataFrame) -> Table:
    return read_table(frame.to_csv(index=False).encode(), "t.csv")


def _dictionary_parquet(frame: pd.DataFrame) -> Table:
    """Text columns as pandas categoricals: the file's schema is dictionary-encoded, read back as categoricals."""
    text = {c: "category" for c in frame.columns if frame[c].dtype in (object, "str")}
    table = parquet_table(frame.astype(text))
    assert isinstance(table.frame["spaced"].dtype, pd.CategoricalDtype)
    return table


TABLES = {
    "csv": lambda: _csv(_varied()),
    "parquet": lambda: parquet_table(_varied()),
    "dictionary parquet": lambda: _dictionary_parquet(_varied()),
}


@pytest.mark.parametrize("source", list(TABLES))
@pytest.mark.parametrize("missing", ["drop", "impute"])
@pytest.mark.parametrize("max_categories", [2, 3, 20])
def test_the_estimate_is_the_encoded_width_and_rows(source, missing, max_categories):
    table = TABLES[source]()
    for seed in range(6):  # "once" lands in the training split for some seeds, in validation for others
        table_spec = spec("y", "r", missing=missing, max_categories=max_categories)
        estimate = estimate_table(table, table_spec, seed)
        taskset, report = build_table_taskset(table, table_spec, seed)
        assert estimate.inputs == taskset.x_train.shape[1] == len(report.feature_columns)
        assert estimate.rows == len(taskset.x_train) + len(taskset.x_val) == report.rows_used
        assert estimate.targets == taskset.y_train.shape[1]
        tensors = (taskset.x_train, taskset.y_train, taskset.x_val, taskset.y_val)
        assert estimate.tensor_bytes == sum(4 * t.numel() for t in tensors)


@pytest.mark.parametrize("name", list(BUNDLED))
def test_the_estimate_of_a_bundled_dataset_is_its_encoded_width(name):
    dataset = BUNDLED[name]
    table = read_table_path(dataset.path)
    for features in (dataset.features, ()):  # the dataset's own features, then every other column
        targets = tuple(TaskSpec(t, "auto") for t in dataset.targets)
        table_spec = TableTasks(dataset=name, targets=targets, features=features)
        taskset, _ = build_table_taskset(table, table_spec, 1)
        assert estimate_table(table, table_spec, 1).inputs == taskset.x_train.shape[1]


# ------------------------------------------------------------------ long text


def _long_text(rows: int = 2000) -> pa.Table:
    """`rows` copies of one 10 KiB string: the file holds it once (dictionary-encoded), pandas once per row."""
    return pa.table({"text": pa.array([LONG] * rows), "target": pa.array(np.arange(rows, dtype=float))})


def test_dictionary_encoded_long_strings_count_as_decoded_bytes():
    table = parquet_table(_long_text())
    decoded = 2000 * (len(LONG) + 8)  # each row's bytes and its 8-byte offset
    assert text_bytes(table.frame["text"]) == decoded
    estimate = estimate_table(table, TableTasks(path="t.parquet", targets=(TaskSpec("target", "regression"),)), 0)
    assert estimate.text == {"text": decoded}
    assert estimate.inputs == 1  # one category


def test_a_pandas_categorical_of_long_strings_counts_as_decoded_bytes():
    frame = pd.DataFrame({"text": pd.Categorical([LONG] * 1000 + [None] * 10), "target": np.arange(1010.0)})
    table = parquet_table(frame)
    assert isinstance(table.frame["text"].dtype, pd.CategoricalDtype)
    assert text_bytes(table.frame["text"]) == 1000 * len(LONG) + 1010 * 8


def test_long_text_over_the_budget_is_refused_while_preparing(monkeypatch, no_encoding):
    table = parquet_table(_long_text())  # 20 MB decoded: read within the default budget
    monkeypatch.setenv(TABLE_MEMORY_ENV, "60")
    message = str(refusal(table, TableTasks(path="t.parquet", targets=(TaskSpec("target", "regression"),))))
    assert message.startswith("preparing t.parquet would take about 78 MB of memory")
    assert "20 MB of text in the chosen columns (largest: 'text', 20 MB)" in message
    assert "the budget for a table is 60 MB (MTLVIZ_TABLE_MEMORY_MB)" in message


def test_a_parquet_file_that_decodes_past_the_budget_is_refused_before_it_is_decoded(monkeypatch):
    buffer = io.BytesIO()
    pq.write_table(_long_text(), buffer, use_dictionary=True)
    assert len(buffer.getvalue()) < 100_000  # 20 MB of text, stored once
    monkeypatch.setenv(TABLE_MEMORY_ENV, "30")

    def never(*args, **kwargs):
        raise AssertionError("the text was decoded before the table was refused")

    monkeypatch.setattr(reader_module, "_as_type", never)
    with pytest.raises(BudgetError) as info:
        read_table(buffer.getvalue(), "long.parquet")
    assert str(info.value) == (
        "long.parquet decodes to 20 MB in memory (largest columns: 'text' (20 MB), 'target' (0.0 MB)); reading it "
        "would take about 53 MB, and the budget for a table is 30 MB (MTLVIZ_TABLE_MEMORY_MB). Save fewer rows or "
        "leave out the largest columns."
    )


def test_a_parquet_file_whose_pages_decompress_past_the_budget_is_refused_before_reading(monkeypatch):
    buffer = io.BytesIO()
    pq.write_table(_long_text(), buffer, use_dictionary=False, compression="zstd")  # plain pages: 20 MB unpacked
    assert len(buffer.getvalue()) < 100_000
    monkeypatch.setenv(TABLE_MEMORY_ENV, "30")

    def never(*args, **kwargs):
        raise AssertionError("the pages were read before the table was refused")

    monkeypatch.setattr(pq.ParquetFile, "read", never)
    with pytest.raises(BudgetError) as info:
        read_table(buffer.getvalue(), "long.parquet")
    assert str(info.value).startswith("long.parquet decompresses to 20 MB in memory (largest columns: 'text' (20 MB)")


def test_a_parquet_file_within_the_budget_reads_as_before():
    table = parquet_table(_long_text(50))
    assert table.frame["text"].tolist() == [LONG] * 50
    assert table.frame["text"].dtype == "str"
    assert table.frame["target"].tolist() == list(range(50))
