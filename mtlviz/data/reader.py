"""Reading an uploaded or local table (CSV or Parquet) into a DataFrame, defensively.

Everything that can be wrong with a file becomes a DataError that says what was
expected and what was found: empty files, other delimiters (detected and
reported), other encodings (decoded and reported), binary or archive files
renamed .csv, pickles (never loaded), duplicate or blank column names, ragged
rows and unclosed quotes (with the line number), and size limits (Parquet rows
are counted from the file's metadata before anything is decoded). Header problems
and ragged rows are reported all at once (`problems_error`), not one per attempt.

A small Parquet file can decode to gigabytes (200,000 copies of one long string
are stored once, dictionary-encoded). Its text columns are therefore read
dictionary-encoded, their decoded size is counted from the dictionary (`text_bytes`),
and a table that would take more than the memory budget (MTLVIZ_TABLE_MEMORY_MB,
`table_memory_budget`) is refused with a BudgetError before it is decoded.

CSV is parsed with the `csv` module rather than pandas so that every row keeps
the file line it starts on (blank lines and values spanning lines included):
messages about a value can then point at the right line. Columns are read as
text; deciding what is numeric is the job of `mtlviz.data.table`, which can then
name the offending value.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mtlviz.errors import BudgetError, ConfigError, DataError, MtlvizError

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
# pandas' default missing-value markers (read_csv's na_values): "NA" or "null" is a missing value.
NA_VALUES = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA"]
    + ["NULL", "NaN", "None", "n/a", "nan", "null"]
)
# The delimiter is chosen from this much of the file: enough rows, and bounded work on a huge first line.
SNIFF_CHARS = 64 * 1024
PANDAS_INDEX = re.compile(r"__index_level_\d+__")
# A file with many bad lines: this many are named, the rest counted.
MAX_LISTED = 10
MB = 2**20
TABLE_MEMORY_ENV = "MTLVIZ_TABLE_MEMORY_MB"
TABLE_MEMORY_MB = 512  # the default budget for reading one table, and for preparing it (mtlviz.data.table)
# pandas holds a text value as its UTF-8 bytes plus an 8-byte offset (Arrow large_string), and
# any other value in 8 bytes (float64, int64, a pointer).
OFFSET_BYTES = VALUE_BYTES = 8
# Peak memory of reading a Parquet table into pandas, per byte of the decoded table (`_decoded_bytes`):
# Arrow decodes the columns, pandas converts them and gathers same-typed columns into one block.
# Measured 1.0 to 1.2 for long text, 1.8 for one-letter text (offsets dominate), 2.7 for 100 float
# columns with missing values in several row groups: the largest is used.
READ_OVERHEAD = 2.7


@dataclass(frozen=True)
class TableLimits:
    """What one table may hold; enforced before and while reading."""

    max_bytes: int = 50 * 2**20
    max_rows: int = 200_000
    max_columns: int = 500


@dataclass
class Table:
    """A table as read, plus notes on what the reader had to do (shown to the user)."""

    frame: pd.DataFrame
    name: str
    kind: str  # "csv" or "parquet"
    notes: list[str] = field(default_factory=list)
    # CSV: the file line each row starts on (blank lines and multi-line values make it differ from row + 2).
    lines: np.ndarray | None = field(default=None, repr=False, compare=False)

    def where(self, position: int) -> str:
        """Where the row at `position` (0-based) is in the file, for messages: "line 7" or "row 6"."""
        if self.lines is not None:
            return f"line {int(self.lines[position])}"
        return f"row {position + 1}"


def read_table_path(path: str | Path, limits: TableLimits = TableLimits()) -> Table:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"cannot read table {str(path)!r}: {exc.strerror or exc}") from None
    if size > limits.max_bytes:
        raise DataError(f"{path.name} is {size / 2**20:.1f} MB; the limit is {limits.max_bytes / 2**20:.0f} MB")
    return read_table(path.read_bytes(), path.name, limits)


def read_table(data: bytes, filename: str, limits: TableLimits = TableLimits()) -> Table:
    """Read CSV or Parquet bytes; `filename` decides the format (its content is checked too)."""
    suffix = Path(filename).suffix.lower()
    if len(data) > limits.max_bytes:
        raise DataError(f"{filename} is {len(data) / 2**20:.1f} MB; the limit is {limits.max_bytes / 2**20:.0f} MB")
    _refuse_unsupported(suffix, filename)
    if not data.strip():
        raise DataError(f"{filename} is empty: expected a header row and data rows")
    if data[:4] == b"PAR1" or suffix in PARQUET_SUFFIXES:
        table = _read_parquet(data, filename, limits)
        if suffix not in PARQUET_SUFFIXES:
            table.notes.append(f"{filename} holds Parquet data despite its name; it was read as Parquet.")
        return table
    _refuse_binary(data, filename)
    return _read_csv(data, filename, limits)


# ----------------------------------------------------------------- memory


def table_memory_budget() -> int | None:
    """Bytes one table may take while it is read or prepared: MTLVIZ_TABLE_MEMORY_MB (default 512; 0: no limit)."""
    raw = os.environ.get(TABLE_MEMORY_ENV, "").strip()
    if not raw:
        return TABLE_MEMORY_MB * MB
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise ConfigError(TABLE_MEMORY_ENV, f"expected a number of megabytes (0: no limit), found {raw!r}")
    return None if value == 0 else int(value * MB)


def megabytes(size: float) -> str:
    """ "1,953 MB", "0.4 MB": sizes in messages."""
    return f"{size / MB:,.0f} MB" if size >= 10 * MB else f"{size / MB:.1f} MB"


def text_bytes(series: pd.Series) -> int:
    """Bytes the column's text takes once decoded as pandas holds it (0 for a numeric column).

    Counted without decoding: a categorical column (a dictionary-encoded Parquet column
    read as such) repeats each category's text in every row that holds it.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        lengths = _byte_lengths(series.cat.categories)
        present = codes >= 0
        return int(np.bincount(codes[present], minlength=len(lengths)) @ lengths) + OFFSET_BYTES * len(series)
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return 0
    if hasattr(series.array, "__arrow_array__"):
        lengths = pc.binary_length(series.array.__arrow_array__())
        return int(pc.sum(lengths).as_py() or 0) + OFFSET_BYTES * len(series)
    return int(series.map(_length, na_action="ignore").sum()) + OFFSET_BYTES * len(series)


def _byte_lengths(values: pd.Index) -> np.ndarray:
    if hasattr(values.array, "__arrow_array__"):
        return pc.binary_length(values.array.__arrow_array__()).to_numpy().astype(np.int64)
    return np.array([_length(v) for v in values], dtype=np.int64)


def _length(value) -> int:
    return len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else len(str(value))


# ------------------------------------------------------------------- problems


def problems_error(problems: list[str], where: str, kind: type[MtlvizError] = DataError) -> MtlvizError:
    """One error of `kind` for every problem found (its `problems` lists them): one problem keeps its plain message."""
    if len(problems) == 1:
        error = kind(problems[0])
    else:
        error = kind(f"{where} has {len(problems)} problems:\n" + "\n".join(f"- {p}" for p in problems))
    error.problems = tuple(problems)
    return error


def problems_of(error: MtlvizError) -> tuple[str, ...]:
    """The problems a DataError or BudgetError reports (one, unless it was made by `problems_error`)."""
    return getattr(error, "problems", (str(error),))


# ----------------------------------------------------------------- format checks


def _refuse_unsupported(suffix: str, filename: str) -> None:
    if suffix in (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".npy", ".npz"):
        raise DataError(
            f"{filename}: {suffix} files are never loaded (unpickling can run arbitrary code); "
            "save the table as CSV or Parquet"
        )
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        found = suffix or "no extension"
        raise DataError(f"{filename}: expected a .csv, .tsv, .txt or .parquet file, found {found}")


_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one): export the sheet as CSV",
    b"\xd0\xcf\x11\xe0": "an old Excel/Office file: export the sheet as CSV",
    b"\x1f\x8b": "gzip-compressed: decompress it first",
    b"%PDF": "a PDF document, not a table",
    b"\x89PNG": "a PNG image, not a table",
}


def _refuse_binary(data: bytes, filename: str) -> None:
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise DataError(f"{filename} is {what}")
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise DataError(f"{filename} is a Python pickle; pickles are never loaded (they can run arbitrary code)")


def _decode(data: bytes, filename: str) -> tuple[str, str | None]:
    """Text and a note when the encoding was not plain UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "The file is UTF-16 encoded; it was decoded as UTF-16."
    head = data[:4096]
    if b"\x00" in head:
        # UTF-16 without a byte-order mark: every other byte of ASCII text is zero.
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.1 * len(even):
            return data.decode("utf-16-le", errors="replace"), "The file is UTF-16 (LE) encoded; it was decoded."
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.1 * len(odd):
            return data.decode("utf-16-be", errors="replace"), "The file is UTF-16 (BE) encoded; it was decoded."
        raise DataError(f"{filename} contains binary data (NUL bytes), not text: expected a CSV file")
    try:
        text, note = data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        # Windows-1252 is Latin-1 with printable characters (€, curly quotes) where Latin-1 has
        # control codes; 5 bytes are unassigned in it, and Latin-1 never fails.
        try:
            text, encoding = data.decode("cp1252"), "Windows-1252"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "Latin-1"
        note = (
            f"The file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start}); it was read as "
            f"{encoding}. If accented characters look wrong, save the file as UTF-8."
        )
    # Checked after either decoding: binary data without NUL bytes also decodes as Latin-1.
    control = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\r\n\t")
    if control > 0.05 * min(len(text), 4096):
        raise DataError(f"{filename} does not look like text ({control} control characters near the start)")
    return text, note


def _sniff_delimiter(text: str) -> str:
    """The candidate that splits the first rows into the most equal-width rows (ties: the wider, then comma).

    csv.Sniffer is not used: its regular expression takes quadratic time on a long
    line full of quotes, and a single-line 50 MB upload is possible.
    """
    sample = text[:SNIFF_CHARS]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # drop the cut-off last line
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(sample), delimiter=delimiter, skipinitialspace=True)
        try:
            widths = [len(row) for row, _ in zip(filter(None, reader), range(30))]
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        score = (sum(w == widths[0] for w in widths) / len(widths), widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


# ------------------------------------------------------------------------- CSV


def _read_csv(data: bytes, filename: str, limits: TableLimits) -> Table:
    text, note = _decode(data, filename)
    notes = [note] if note else []
    if not text.strip():
        raise DataError(f"{filename} is empty: expected a header row and data rows")
    # One kind of line end (old Mac files end lines with a bare CR, which the csv module refuses).
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    delimiter = _sniff_delimiter(text)
    if delimiter != ",":
        notes.append(
            f"Columns are separated by a {DELIMITER_NAMES[delimiter]} ({delimiter!r}), detected automatically."
        )
    header, rows, lines, trailing = _parse_csv(text, delimiter, filename, limits)
    if trailing:
        notes.append(
            f"{trailing} row(s) end with an extra {DELIMITER_NAMES[delimiter]} after the last column; "
            "the empty field it opens was ignored."
        )
    if not rows:
        raise DataError(f"{filename} has a header row but no data rows")
    cells = np.array(rows, dtype=object)  # (rows, columns)
    frame = pd.DataFrame({name: _text_column(cells[:, i]) for i, name in enumerate(header)})
    return Table(frame, filename, "csv", notes, np.array(lines, dtype=np.int64))


def _text_column(cells: np.ndarray) -> pd.Series:
    """Stripped text, with pandas' missing-value markers ("", "NA", "null", ...) as missing."""
    column = pd.Series(cells, dtype=str).str.strip()
    return column.mask(column.isin(NA_VALUES))


def _parse_csv(
    text: str, delimiter: str, filename: str, limits: TableLimits
) -> tuple[list[str], list[list[str]], list[int], int]:
    """Header, rows, the file line each row starts on, and how many rows had a trailing delimiter.

    Every row with the wrong number of fields is reported (the first MAX_LISTED by line), in one DataError.
    """
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    last_line = text.count("\n") + (not text.endswith("\n"))
    header: list[str] = []
    header_line, rows, lines, trailing = 0, [], [], 0
    ragged: list[str] = []
    ragged_count = 0
    end = 0  # the last file line read so far; a row starts on the line after the previous one ends
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if len(record) <= 1 and not "".join(record).strip():
                continue  # a blank line
            if not header:
                header, header_line = [name.strip() for name in record], start
                _check_header(header, filename, limits)
                continue
            width = len(header)
            if len(record) > width and not "".join(record[width:]).strip():
                record = record[:width]  # "1,2,3," under a 3-column header: a trailing delimiter
                trailing += 1
            if len(record) != width:
                if end == last_line:
                    _check_quotes_closed(text, start, delimiter, filename)
                ragged_count += 1
                if len(ragged) < MAX_LISTED:
                    ragged.append(
                        f"{filename}: line {start} has {len(record)} fields but the header has {width} columns; "
                        f"check that line for a missing or extra {DELIMITER_NAMES[delimiter]} "
                        "or an unquoted value containing one"
                    )
                continue
            rows.append(record)
            lines.append(start)
            if len(rows) > limits.max_rows:
                raise DataError(f"{filename} has more than {limits.max_rows:,} rows; the limit is {limits.max_rows:,}")
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DataError(
                f"{filename}: the row starting on line {end + 1} has a value longer than "
                f'{csv.field_size_limit():,} characters; is a quote (") opened there never closed?'
            ) from None
        raise DataError(f"{filename}: cannot parse the row starting on line {end + 1} ({exc})") from None
    if ragged:
        if ragged_count > len(ragged):
            ragged.append(f"{filename}: {ragged_count - len(ragged):,} more lines have the wrong number of fields")
        raise problems_error(ragged, filename)
    if header:
        _check_quotes_closed(text, lines[-1] if lines else header_line, delimiter, filename)
    return header, rows, lines, trailing


def _check_quotes_closed(text: str, line: int, delimiter: str, filename: str) -> None:
    """Refuse a quote left open in the row starting on `line` (the last row: it then runs to the end)."""
    tail = text.split("\n", line - 1)[-1]
    try:
        for _ in csv.reader(io.StringIO(tail), delimiter=delimiter, skipinitialspace=True, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise DataError(
                f'{filename}: a quote (") opened in the row starting on line {line} is never closed; '
                "expected a closing quote before the end of the file"
            ) from None  # other strict-mode complaints ('"a"b') are tolerated, as when the rows were read


def _check_header(names: list, filename: str, limits: TableLimits) -> None:
    """Refuse too many columns, and blank or repeated names (every one of them, at once)."""
    if len(names) > limits.max_columns:
        raise DataError(f"{filename} has {len(names):,} columns; the limit is {limits.max_columns:,}")
    problems, seen = [], {}
    for i, name in enumerate(names, start=1):
        text = "" if name is None else str(name).strip()
        if not text:
            problems.append(f"{filename}: column {i} has a blank name; every column needs a name in the header row")
        else:
            seen.setdefault(text, []).append(i)
    for text, where in seen.items():
        if len(where) == 2:
            problems.append(f"{filename}: column name {text!r} appears twice (columns {where[0]} and {where[1]})")
        elif len(where) > 2:
            places = ", ".join(map(str, where[:-1])) + f" and {where[-1]}"
            problems.append(f"{filename}: column name {text!r} appears {len(where)} times (columns {places})")
    if problems:
        raise problems_error(problems, filename)


# --------------------------------------------------------------------- Parquet


def _read_parquet(data: bytes, filename: str, limits: TableLimits) -> Table:
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise DataError(f"{filename} is not a valid Parquet file ({exc})") from None
    meta = parquet.metadata
    if meta.num_rows > limits.max_rows:  # from the footer: nothing decoded yet
        raise DataError(f"{filename} has {meta.num_rows:,} rows; the limit is {limits.max_rows:,}")
    schema = parquet.schema_arrow
    _check_header(list(schema.names), filename, limits)
    for column in schema:
        if pa.types.is_nested(column.type):
            raise DataError(
                f"{filename}: column {column.name!r} holds nested values ({column.type}); "
                "only flat columns are supported"
            )
    budget = table_memory_budget()
    # Decompressing alone takes the pages' uncompressed size (from the footer): refused before reading.
    pages = {name: 0 for name in schema.names}
    for group in range(meta.num_row_groups):
        for i in range(meta.num_columns):
            chunk = meta.row_group(group).column(i)
            name = chunk.path_in_schema
            if name in pages:
                pages[name] += chunk.total_uncompressed_size
    _check_read_budget(pages, budget, filename, "decompresses to")
    # Text is read dictionary-encoded: a value repeated in every row is held once until it is counted.
    # In one thread, without pre-buffering (the bytes are in memory already): Arrow's reader threads
    # can abort the process when it exits right after a read with torch loaded (apache/arrow#34314),
    # as the command line does when it refuses a file.
    text = [field.name for field in schema if _is_text(field.type)]
    try:
        file = pq.ParquetFile(io.BytesIO(data), read_dictionary=text, pre_buffer=False)
        arrow = file.read(use_threads=False)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{filename}: cannot decode the Parquet data ({exc})") from None
    _check_read_budget({name: _decoded_bytes(arrow[name]) for name in arrow.column_names}, budget, filename)
    try:
        # Back to the file's own types (decoding the dictionaries), so the frame is as a plain read makes it.
        arrow = pa.table([_as_type(arrow[field.name], field.type) for field in schema], schema=schema)
        # Without pandas' metadata the columns are exactly the file's, and the index is 0..n-1
        # (a restored index may repeat labels, which row positions in messages cannot use).
        frame = arrow.to_pandas(ignore_metadata=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{filename}: cannot decode the Parquet data ({exc})") from None
    del arrow
    notes = []
    index = [name for name in frame.columns if PANDAS_INDEX.fullmatch(name)]
    if index:
        frame = frame.drop(columns=index)
        notes.append(f"The pandas index saved in the file ({', '.join(index)}) was left out of the columns.")
    frame.columns = [name.strip() for name in frame.columns]
    if frame.empty:
        raise DataError(f"{filename} has columns but no rows")
    return Table(frame, filename, "parquet", notes)


def _is_text(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary_view(kind)
    )


def _decoded_bytes(column: pa.ChunkedArray) -> int:
    """Bytes the column takes in pandas once decoded: text as `text_bytes` counts it, other values 8 each."""
    kind = column.type
    if pa.types.is_dictionary(kind) and _is_text(kind.value_type):
        total = 0
        for chunk in column.chunks:
            total += pc.sum(pc.take(pc.binary_length(chunk.dictionary), chunk.indices)).as_py() or 0
        return total + OFFSET_BYTES * len(column)
    if _is_text(kind):
        return (pc.sum(pc.binary_length(column)).as_py() or 0) + OFFSET_BYTES * len(column)
    if pa.types.is_fixed_size_binary(kind):
        return (kind.byte_width + OFFSET_BYTES) * len(column)
    return VALUE_BYTES * len(column)


def _as_type(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """A column read dictionary-encoded, decoded back to the file's type `kind` (as is when it has it)."""
    if column.type == kind:
        return column
    if pa.types.is_dictionary(kind):  # the file's own dictionary column, with other index widths: not decoded
        return column.cast(kind)
    decoded = column.cast(column.type.value_type)
    return decoded if decoded.type == kind else decoded.cast(kind)


def _check_read_budget(sizes: dict[str, int], budget: int | None, filename: str, verb: str = "decodes to") -> None:
    """Refuse a table whose columns (`sizes`: bytes per column) need more than `budget` to read."""
    total = sum(sizes.values())
    if budget is None or total * READ_OVERHEAD <= budget:
        return
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
    named = ", ".join(f"{name!r} ({megabytes(size)})" for name, size in largest if size)
    raise BudgetError(
        f"{filename} {verb} {megabytes(total)} in memory (largest columns: {named}); reading it would take about "
        f"{megabytes(total * READ_OVERHEAD)}, and the budget for a table is {megabytes(budget)} "
        f"({TABLE_MEMORY_ENV}). Save fewer rows or leave out the largest columns."
    )
