"""Reading an uploaded or local table (CSV or Parquet) into a DataFrame, defensively.

Everything that can be wrong with a file becomes a DataError that says what was
expected and what was found: empty files, other delimiters (detected and
reported), other encodings (decoded and reported), binary or archive files
renamed .csv, pickles (never loaded), duplicate or blank column names, ragged
rows and unclosed quotes (with the line number), and size limits (Parquet rows
are counted from the file's metadata before anything is decoded).

CSV columns are read as text; deciding what is numeric is the job of
`mtlviz.data.table`, which can then name the offending value.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtlviz.errors import DataError

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}


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

    @property
    def first_data_line(self) -> int:
        """File line of the first data row (CSV: after the header), for messages."""
        return 2 if self.kind == "csv" else 1


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
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("latin-1")  # never fails: every byte is a character
        return text, (
            f"The file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start}); it was read as "
            "Latin-1. If accented characters look wrong, save the file as UTF-8."
        )
    control = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\r\n\t")
    if control > 0.05 * min(len(text), 4096):
        raise DataError(f"{filename} does not look like text ({control} control characters near the start)")
    return text, None


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:30])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ","


# ------------------------------------------------------------------------- CSV


def _read_csv(data: bytes, filename: str, limits: TableLimits) -> Table:
    text, note = _decode(data, filename)
    notes = [note] if note else []
    if not text.strip():
        raise DataError(f"{filename} is empty: expected a header row and data rows")
    delimiter = _sniff_delimiter(text)
    if delimiter != ",":
        notes.append(
            f"Columns are separated by a {DELIMITER_NAMES[delimiter]} ({delimiter!r}), detected automatically."
        )
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter))
    _check_header(header, filename, limits)
    approx_rows = text.count("\n")
    if approx_rows > limits.max_rows + 1:
        raise DataError(f"{filename} has about {approx_rows:,} rows; the limit is {limits.max_rows:,}")
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            skipinitialspace=True,
            skip_blank_lines=True,
            keep_default_na=True,
        )
    except pd.errors.ParserError as exc:
        raise DataError(f"{filename}: {_parser_message(str(exc), len(header))}") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{filename} is empty: expected a header row and data rows") from None
    if frame.empty:
        raise DataError(f"{filename} has a header row but no data rows")
    if len(frame) > limits.max_rows:
        raise DataError(f"{filename} has {len(frame):,} rows; the limit is {limits.max_rows:,}")
    return Table(frame, filename, "csv", notes)


def _check_header(names: list, filename: str, limits: TableLimits) -> None:
    if len(names) > limits.max_columns:
        raise DataError(f"{filename} has {len(names):,} columns; the limit is {limits.max_columns:,}")
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        text = "" if name is None else str(name).strip()
        if not text:
            raise DataError(f"{filename}: column {i} has a blank name; every column needs a name in the header row")
        if text in seen:
            raise DataError(f"{filename}: column name {text!r} appears twice (columns {seen[text]} and {i})")
        seen[text] = i


def _parser_message(message: str, columns: int) -> str:
    ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if ragged:
        expected, line, saw = ragged.groups()
        return (
            f"line {line} has {saw} fields but the header has {expected} columns; "
            "check that line for an extra delimiter or an unquoted value containing one"
        )
    quote = re.search(r"EOF inside string starting (?:at|on) (?:row|line) (\d+)", message)
    if quote:
        return f'a quote (") opened on line {int(quote.group(1)) + 1} is never closed'
    return f"cannot parse the CSV ({message.strip().splitlines()[-1]}); expected {columns} columns per row"


# --------------------------------------------------------------------- Parquet


def _read_parquet(data: bytes, filename: str, limits: TableLimits) -> Table:
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise DataError(f"{filename} is not a valid Parquet file ({exc})") from None
    meta = parquet.metadata
    if meta.num_rows > limits.max_rows:  # from the footer: nothing decoded yet
        raise DataError(f"{filename} has {meta.num_rows:,} rows; the limit is {limits.max_rows:,}")
    _check_header(list(parquet.schema_arrow.names), filename, limits)
    for column in parquet.schema_arrow:
        if pa.types.is_nested(column.type):
            raise DataError(
                f"{filename}: column {column.name!r} holds nested values ({column.type}); "
                "only flat columns are supported"
            )
    try:
        frame = parquet.read().to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{filename}: cannot decode the Parquet data ({exc})") from None
    if frame.empty:
        raise DataError(f"{filename} has columns but no rows")
    return Table(frame, filename, "parquet", [])
