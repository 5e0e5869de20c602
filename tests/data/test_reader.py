"""Reading uploaded tables: every broken file is a DataError that says where and what, salvageable ones get a note."""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mtlviz.data.bundled import BUNDLED
from mtlviz.data.reader import Table, TableLimits, read_table, read_table_path
from mtlviz.errors import DataError

HEADER = ["id", "name", "score"]
ROWS = [[str(i), f"item {i}", f"{i * 0.5 + 0.25:g}"] for i in range(12)]


def csv_text(rows: list[list[str]] = ROWS, header: list[str] = HEADER, delimiter: str = ",") -> str:
    return "".join(delimiter.join(row) + "\n" for row in [header, *rows])


LIMITS = TableLimits()


def read(data: bytes | str, filename: str = "table.csv", limits: TableLimits = LIMITS) -> Table:
    return read_table(data.encode() if isinstance(data, str) else data, filename, limits)


def refused(data: bytes | str, filename: str = "table.csv", limits: TableLimits = LIMITS) -> str:
    """The message of the error reading `data` raises, which must be exactly a DataError."""
    with pytest.raises(DataError) as info:
        read(data, filename, limits)
    assert type(info.value) is DataError
    return str(info.value)


def parquet_bytes(table: pa.Table | pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    if isinstance(table, pd.DataFrame):
        table.to_parquet(buffer)
    else:
        pq.write_table(table, buffer)
    return buffer.getvalue()


def assert_expected_frame(table: Table) -> None:
    assert list(table.frame.columns) == HEADER
    assert table.frame["id"].tolist() == [row[0] for row in ROWS]
    assert table.frame["name"].tolist() == [row[1] for row in ROWS]
    assert table.frame["score"].tolist() == [row[2] for row in ROWS]


# ------------------------------------------------------------------ happy path


def test_plain_csv_is_read_as_text_with_no_notes():
    table = read(csv_text())
    assert table.kind == "csv" and table.name == "table.csv"
    assert_expected_frame(table)
    assert table.notes == []
    assert table.where(0) == "line 2"


def test_missing_value_markers_and_padding_become_missing_values():
    table = read("a,b,c\n1, NA ,x\n,null,  y  \n   ,  ,N/A\n")
    assert table.frame["a"].isna().tolist() == [False, True, True]
    assert table.frame["b"].isna().tolist() == [True, True, True]
    assert table.frame["c"].tolist()[:2] == ["x", "y"]
    assert pd.isna(table.frame["c"].iloc[2])


def test_header_names_are_stripped_so_a_task_name_can_match_them():
    table = read(" a , b \n1,2\n")
    assert list(table.frame.columns) == ["a", "b"]


def test_html_and_markdown_column_names_are_kept_as_plain_text():
    names = ["<b>x</b>", "**y**", "[z](http://e.com)"]
    table = read(",".join(names) + "\n1,2,3\n")
    assert list(table.frame.columns) == names


def test_read_table_path_reads_a_bundled_dataset_and_refuses_a_missing_file(tmp_path):
    table = read_table_path(BUNDLED["penguins"].path)
    assert table.name == "penguins.csv" and len(table.frame) == 344
    with pytest.raises(DataError, match="cannot read table"):
        read_table_path(tmp_path / "nope.csv")


# ------------------------------------------------------------------ empty files


@pytest.mark.parametrize("data", [b"", b"   \n\t\n  \r\n"], ids=["zero-bytes", "whitespace"])
def test_empty_file(data):
    message = refused(data)
    assert "table.csv is empty" in message and "expected a header row and data rows" in message


@pytest.mark.parametrize("text", ["id,name,score\n", "id,name,score", "id,name,score\n\n\n  \n"])
def test_header_only(text):
    assert refused(text) == "table.csv has a header row but no data rows"


# ------------------------------------------------------------------ delimiters


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "vertical bar")])
def test_other_delimiters_are_detected_and_reported(delimiter, name):
    table = read(csv_text(delimiter=delimiter))
    assert_expected_frame(table)
    assert len(table.notes) == 1
    assert f"separated by a {name} ({delimiter!r})" in table.notes[0]


def test_comma_file_with_semicolons_in_text_stays_comma_separated():
    rows = [[str(i), f"a;b;c {i}", str(i)] for i in range(5)]
    table = read(csv_text(rows))
    assert table.frame["name"].tolist() == [row[1] for row in rows]
    assert table.notes == []


def test_delimiter_detection_is_fast_on_a_long_line_of_quotes():
    # csv.Sniffer took 14 s on 16,000 repetitions of this (a quadratic regular expression).
    text = "a,b\n" + ',"x' * 20_000 + "\n"
    start = time.perf_counter()
    with pytest.raises(DataError):
        read(text)
    assert time.perf_counter() - start < 2.0


# ------------------------------------------------------------------ encodings

ACCENTED = [[str(i), name, str(i)] for i, name in enumerate(["café", "naïve", "Zürich", "señor"] * 3)]


@pytest.mark.parametrize(
    ("encoding", "note"),
    [
        ("utf-16", "UTF-16 encoded"),  # with a byte-order mark
        ("utf-16-le", "UTF-16 (LE)"),
        ("utf-16-be", "UTF-16 (BE)"),
    ],
)
def test_utf16_is_decoded_with_a_note(encoding, note):
    data = csv_text(ACCENTED).encode(encoding)
    assert data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) == (encoding == "utf-16")
    table = read(data)
    assert table.frame["name"].tolist() == [row[1] for row in ACCENTED]
    assert len(table.notes) == 1 and note in table.notes[0]


def test_latin1_is_decoded_with_a_note():
    data = csv_text(ACCENTED).encode("latin-1")
    table = read(data)
    assert table.frame["name"].tolist() == [row[1] for row in ACCENTED]
    position = data.index("é".encode("latin-1"))
    assert table.notes == [
        f"The file is not valid UTF-8 (byte 0xe9 at position {position}); it was read as Windows-1252. "
        "If accented characters look wrong, save the file as UTF-8."
    ]


def test_windows_1252_punctuation_is_decoded_not_turned_into_control_codes():
    rows = [[str(i), text, str(i)] for i, text in enumerate(["5 €", "“quoted”", "a – b", "café"] * 3)]
    table = read(csv_text(rows).encode("cp1252"))
    assert table.frame["name"].tolist() == [row[1] for row in rows]
    assert "Windows-1252" in table.notes[0]


def test_utf8_with_bom_is_read_without_a_note():
    table = read(codecs.BOM_UTF8 + csv_text(ACCENTED).encode())
    assert list(table.frame.columns) == HEADER
    assert table.frame["name"].iloc[0] == "café"
    assert table.notes == []


# ------------------------------------------------------------------ not a CSV at all


def test_binary_garbage_with_nul_bytes():
    data = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    assert b"\x00" in data[:4096]
    message = refused(data)
    assert message == "table.csv contains binary data (NUL bytes), not text: expected a CSV file"


def test_binary_garbage_without_nul_bytes():
    data = np.random.default_rng(1).integers(1, 256, 4000, dtype=np.uint8).tobytes()
    message = refused(data)
    assert "does not look like text" in message and "control characters" in message


def test_xlsx_renamed_csv():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    data = buffer.getvalue()
    assert data.startswith(b"PK\x03\x04")
    message = refused(data, "report.csv")
    assert "report.csv is a ZIP archive" in message and "Excel" in message and "export the sheet as CSV" in message


def test_gzip_csv():
    message = refused(gzip.compress(csv_text().encode()), "table.csv")
    assert message == "table.csv is gzip-compressed: decompress it first"


class CreatesFileWhenUnpickled:
    """Unpickling this calls open(path, "w"), which creates the file: an observable side effect."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail the test if anything tries to unpickle."""

    def forbidden(*args, **kwargs):
        raise AssertionError("something was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(pd, "read_pickle", forbidden)


@pytest.mark.parametrize("filename", ["table.pkl", "table.pickle", "table.joblib"])
def test_pickle_filename_is_refused_without_loading(filename, tmp_path, no_unpickling):
    marker = tmp_path / "unpickled"
    message = refused(pickle.dumps(CreatesFileWhenUnpickled(marker)), filename)
    assert "never loaded" in message and "CSV or Parquet" in message
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickle_bytes_renamed_csv_are_refused_without_loading(protocol, tmp_path, no_unpickling):
    marker = tmp_path / "unpickled"
    data = pickle.dumps(CreatesFileWhenUnpickled(marker), protocol=protocol)
    message = refused(data, "table.csv")
    assert message == "table.csv is a Python pickle; pickles are never loaded (they can run arbitrary code)"
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 1])
def test_old_text_pickles_renamed_csv_are_never_unpickled(protocol, tmp_path, no_unpickling):
    # Protocols 0 and 1 have no magic bytes; they are text (or binary) to the reader, never code.
    marker = tmp_path / "unpickled"
    data = pickle.dumps(CreatesFileWhenUnpickled(marker), protocol=protocol)
    with contextlib.suppress(DataError):
        read(data)
    assert not marker.exists()


# ------------------------------------------------------------------ column names


@pytest.mark.parametrize(
    ("header", "name", "columns"),
    [("a,b,a", "a", (1, 3)), ("a, b ,b", "b", (2, 3)), ("\n\na,a,b", "a", (1, 2))],
    ids=["plain", "padded", "after-blank-lines"],
)
def test_duplicate_column_names(header, name, columns):
    message = refused(header + "\n1,2,3\n")
    assert message == f"table.csv: column name {name!r} appears twice (columns {columns[0]} and {columns[1]})"


@pytest.mark.parametrize(("header", "column"), [("a,,b", 2), ("a,b,  ", 3), (" ,a,b", 1)])
def test_blank_column_name(header, column):
    message = refused(header + "\n1,2,3\n")
    assert message == f"table.csv: column {column} has a blank name; every column needs a name in the header row"


# ------------------------------------------------------------------ broken rows


def test_row_with_too_many_fields_names_its_file_line(line_of):
    text = csv_text(ROWS[:3] + [["3", "x", "1", "extra"]] + ROWS[4:])
    message = refused(text)
    line = line_of(text, "3,x,1,extra")
    assert message == (
        f"table.csv: line {line} has 4 fields but the header has 3 columns; check that line for a missing or "
        "extra comma or an unquoted value containing one"
    )


def test_row_with_too_few_fields_is_refused_not_padded(line_of):
    text = csv_text(ROWS[:5] + [["5", "x"]] + ROWS[6:])
    message = refused(text)
    assert f"line {line_of(text, '5,x')} has 2 fields but the header has 3 columns" in message


def test_ragged_row_line_counts_blank_lines_and_values_spanning_lines(line_of):
    text = 'id,name,score\n1,"two\nlines",3\n\n\n4,5,6\n7,8,9,10\n11,12,13\n'
    message = refused(text)
    assert line_of(text, "7,8,9,10") == 7
    assert "line 7 has 4 fields" in message


def test_semicolon_file_ragged_row_names_the_semicolon(line_of):
    text = csv_text(ROWS[:4] + [["4", "x", "1", "2"]] + ROWS[5:], delimiter=";")
    message = refused(text)
    assert f"line {line_of(text, '4;x;1;2')} has 4 fields" in message and "extra semicolon" in message


def test_trailing_delimiter_on_every_row_is_ignored_with_a_note():
    text = "".join(",".join(row) + ",\n" for row in ROWS)
    table = read("id,name,score\n" + text)
    assert_expected_frame(table)  # not shifted into the index, as pandas does
    assert table.notes == [
        f"{len(ROWS)} row(s) end with an extra comma after the last column; the empty field it opens was ignored."
    ]


@pytest.mark.parametrize("where", ["middle", "last"])
def test_unclosed_quote_names_the_line_it_opens_on(where, line_of):
    bad = '6,"item 6,1' if where == "middle" else '6,item 6,"1'
    rows = [",".join(row) for row in ROWS]
    text = "id,name,score\n" + "\n".join(rows[:6] + [bad] + rows[7:]) + "\n"
    message = refused(text)
    line = line_of(text, bad)
    assert message == (
        f'table.csv: a quote (") opened in the row starting on line {line} is never closed; '
        "expected a closing quote before the end of the file"
    )


def test_quoted_values_with_delimiters_and_newlines_are_read():
    table = read('a,b\n"x, y","two\nlines"\n"say ""hi""",2\n')
    assert table.frame["a"].tolist() == ["x, y", 'say "hi"']
    assert table.frame["b"].tolist() == ["two\nlines", "2"]
    assert table.lines.tolist() == [2, 4]


def test_a_value_over_the_csv_field_limit_is_refused_with_its_line():
    text = 'a,b\n1,2\n3,"' + "x" * 200_000 + '"\n'
    message = refused(text)
    assert "the row starting on line 3 has a value longer than 131,072 characters" in message


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["windows", "old-mac"])
def test_other_line_endings(newline):
    table = read(csv_text().replace("\n", newline))
    assert_expected_frame(table)


# ------------------------------------------------------------------ limits


def test_too_many_rows():
    message = refused(csv_text(), limits=TableLimits(max_rows=5))
    assert message == "table.csv has more than 5 rows; the limit is 5"
    assert len(read(csv_text(), limits=TableLimits(max_rows=len(ROWS))).frame) == len(ROWS)


def test_too_many_columns():
    message = refused(csv_text(), limits=TableLimits(max_columns=2))
    assert message == "table.csv has 3 columns; the limit is 2"


def test_too_many_bytes():
    data = csv_text(ROWS * 10_000).encode()
    assert 2**20 < len(data) < 2**21
    message = refused(data, limits=TableLimits(max_bytes=2**20))
    assert message == f"table.csv is {len(data) / 2**20:.1f} MB; the limit is 1 MB"


def test_parquet_row_limit_is_checked_from_metadata_before_decoding(monkeypatch):
    data = parquet_bytes(pa.table({"x": np.arange(100.0), "y": np.arange(100.0)}))

    def never(*args, **kwargs):
        raise AssertionError("the Parquet data was decoded")

    monkeypatch.setattr(pq.ParquetFile, "read", never)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", never)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", never)
    monkeypatch.setattr(pq, "read_table", never)
    message = refused(data, "big.parquet", TableLimits(max_rows=99))
    assert message == "big.parquet has 100 rows; the limit is 99"


def test_parquet_column_limit():
    data = parquet_bytes(pa.table({f"c{i}": [1.0, 2.0] for i in range(6)}))
    assert refused(data, "wide.parquet", TableLimits(max_columns=5)) == "wide.parquet has 6 columns; the limit is 5"


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize(("filename", "found"), [("t.xlsx", ".xlsx"), ("t.json", ".json"), ("table", "no extension")])
def test_unsupported_extension_names_the_expected_formats(filename, found):
    message = refused(csv_text(), filename)
    assert message == f"{filename}: expected a .csv, .tsv, .txt or .parquet file, found {found}"


@pytest.mark.parametrize("filename", ["t.tsv", "t.txt", "T.CSV"])
def test_other_text_extensions_are_read_as_csv(filename):
    assert_expected_frame(read(csv_text(), filename))


PARQUET_FRAME = pd.DataFrame(
    {
        "x": np.arange(6, dtype=np.float64),
        "n": np.arange(6, dtype=np.int64),
        "label": ["a", "b", None, "a", "b", "c"],
        "flag": [True, False, True, True, False, False],
    }
)


def test_valid_parquet_keeps_types_and_values():
    table = read(parquet_bytes(PARQUET_FRAME), "data.parquet")
    assert table.kind == "parquet" and table.notes == []
    assert list(table.frame.columns) == ["x", "n", "label", "flag"]
    assert table.frame["x"].tolist() == PARQUET_FRAME["x"].tolist()
    assert table.frame["n"].dtype == np.int64
    assert table.frame["flag"].dtype == bool
    assert table.frame["label"].isna().tolist() == [False, False, True, False, False, False]
    assert table.where(2) == "row 3"


def test_parquet_renamed_csv_is_read_as_parquet_with_a_note():
    table = read(parquet_bytes(PARQUET_FRAME), "data.csv")
    assert table.kind == "parquet"
    assert table.frame["x"].tolist() == PARQUET_FRAME["x"].tolist()
    assert table.notes == ["data.csv holds Parquet data despite its name; it was read as Parquet."]


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        (pa.array([[1, 2], [3], []]), "list<element: int64>"),
        (pa.array([{"p": 1}, {"p": 2}, {"p": 3}]), "struct<p: int64>"),
    ],
    ids=["list", "struct"],
)
def test_parquet_nested_column(column, kind):
    data = parquet_bytes(pa.table({"x": [1.0, 2.0, 3.0], "deep": column}))
    message = refused(data, "nested.parquet")
    assert message == f"nested.parquet: column 'deep' holds nested values ({kind}); only flat columns are supported"


def test_parquet_saved_pandas_index_is_left_out_with_a_note():
    frame = PARQUET_FRAME.set_axis([5, 5, 7, 7, 9, 9])  # repeated labels: not usable as row positions
    table = read(parquet_bytes(frame), "data.parquet")
    assert list(table.frame.columns) == ["x", "n", "label", "flag"]
    assert table.frame.index.tolist() == list(range(6))
    assert table.notes == ["The pandas index saved in the file (__index_level_0__) was left out of the columns."]


@pytest.mark.parametrize(
    "data",
    [b"PAR1 this is not parquet", b"PAR1" + bytes(100), lambda: parquet_bytes(PARQUET_FRAME)[:-20]],
    ids=["text", "zeros", "truncated"],
)
def test_broken_parquet(data):
    data = data() if callable(data) else data
    message = refused(data, "broken.parquet")
    assert message.startswith("broken.parquet is not a valid Parquet file")


def test_parquet_with_columns_but_no_rows():
    data = parquet_bytes(pa.table({"x": pa.array([], pa.float64())}))
    assert refused(data, "empty.parquet") == "empty.parquet has columns but no rows"


def test_parquet_duplicate_column_names():
    data = parquet_bytes(pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"]))
    assert "column name 'a' appears twice (columns 1 and 2)" in refused(data, "dup.parquet")
