"""Saved runs: one directory per finished or stopped run, in a runs folder that can be listed.

A run directory holds config.json (the ExperimentConfig), metrics.parquet (the
record table) and summary.json (what a listing shows). Each file is written to a
temporary name and moved into place, summary.json last: a directory without
summary.json is a save that did not complete, and listings skip it.

The runs folder is $MTLVIZ_RUNS_DIR, or ./runs; run directories are named
`<UTC time>-<slug of the title>`, e.g. 20261122-134501-adam-vs-sgd.

The runs folder may be shared (a classroom server), so nothing read from it is
trusted: every field is checked, a run that cannot be read gives one DataError
"Cannot open <folder> because <what was expected, what was found>" naming the
folder and its file, never the server's path; symbolic links are refused, not
followed; and temporary files left by killed saves are swept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import stat
import sys
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from mtlviz.config import ExperimentConfig, SyntheticTasks, TableTasks, Toy2DTasks
from mtlviz.errors import ConfigError, DataError
from mtlviz.models import SHARING
from mtlviz.records import COLUMNS, GRAD_COSINE, PAIR_SEPARATOR, Divergence, RowInfo, RunMetadata
from mtlviz.rows import expand_rows
from mtlviz.summary import best_per_task

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.parquet"
SUMMARY_FILE = "summary.json"
# A copy of the uploaded or named table a run trained on, data/<its file name>, so `rerun`
# works from any folder; kept up to the upload limit (mtlviz.data.reader.TableLimits).
# table.json says which file it was (name, bytes, sha256), also when it was too large to keep.
TABLE_DIR = "data"
TABLE_INFO = "table.json"
TABLE_COPY_MAX_BYTES = 50 * 2**20
RUNS_DIR_ENV = "MTLVIZ_RUNS_DIR"
# The record schema's columns; `seed` may be missing in runs saved before seeds existed.
REQUIRED_COLUMNS = tuple(c for c in COLUMNS if c != "seed")
SLUG_LENGTH = 40
# Past this many taken names for one second and title, something other than a race is wrong.
MAX_NAME_ATTEMPTS = 10_000
# summary.json and config.json hold kilobytes; a larger one is not a run's and would slow every listing.
JSON_MAX_BYTES = 16 * 2**20
# The temporary names _write_atomic gives (".<file>.<32 hex digits>.tmp"). A save writes and renames its
# own within seconds, so one older than STALE_AFTER_SECONDS was left by a save that was killed.
TEMPORARY_NAME = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")
STALE_AFTER_SECONDS = 3600
# What is said of a symbolic link where a run's folder or file belongs: it is refused, never followed.
LINKED_FILE = "is a symbolic link; saved runs are plain files"
LINKED_FOLDER = "is a symbolic link; saved runs are plain folders"
INT64_MAX = 2**63 - 1  # the most a table column (Arrow int64) holds: step counts past it are not real


def runs_dir() -> Path:
    """The folder that holds saved runs: $MTLVIZ_RUNS_DIR if set and non-empty, else ./runs."""
    value = os.environ.get(RUNS_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else Path.cwd() / "runs"


def run_title(config: ExperimentConfig) -> str:
    """A run's default title: its configuration labels, e.g. "Adam vs SGD"."""
    return " vs ".join(config.labels)


# What a run's description holds besides its title, in the order listings show it.
DESCRIPTION_KEYS = ("source", "sharing", "methods", "seeds", "steps")


def describe_run(config: ExperimentConfig) -> dict[str, str]:
    """What sets a run apart from others, in words, computed once from its config and kept in summary.json.

    title: the configurations ("SGD vs Adam"); source: where the tasks come from
    ("synthetic, 2 tasks, relatedness 0.5", "table penguins", "file sales.csv",
    "Toy 2D from (-8.5, 7.5)"); sharing: the strategy's title (empty for Toy 2D,
    whose model is the point itself); methods; seeds; steps (planned); subtitle:
    the non-empty ones joined by " · ".
    """
    tasks = config.tasks
    if isinstance(tasks, SyntheticTasks):
        source = f"synthetic, {len(tasks.targets)} tasks, relatedness {tasks.relatedness:g}"
    elif isinstance(tasks, TableTasks):
        source = f"table {tasks.dataset}" if tasks.dataset else f"file {Path(tasks.path).name}"
    elif isinstance(tasks, Toy2DTasks):
        source = f"Toy 2D from ({tasks.start[0]:g}, {tasks.start[1]:g})"
    else:  # a source added later: its name at least
        source = str(getattr(tasks, "source", ""))
    sharing = "" if isinstance(tasks, Toy2DTasks) else SHARING[config.model.sharing].title
    seeds = config.train.seed_values
    described = {
        "title": run_title(config),
        "source": source,
        "sharing": sharing,
        "methods": ", ".join(m.label for m in config.methods),
        "seeds": f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}",
        "steps": f"{config.train.steps:,} steps",
    }
    described["subtitle"] = " · ".join(described[k] for k in DESCRIPTION_KEYS if described[k])
    return described


def describe_differences(first: dict[str, str], second: dict[str, str]) -> list[str]:
    """What differs between two runs' descriptions (describe_run), e.g. ["source: table penguins vs
    synthetic, 2 tasks, relatedness 0.5"]; empty when they describe the same experiment."""
    found = []
    for key in ("title", *DESCRIPTION_KEYS):
        a, b = first.get(key, ""), second.get(key, "")
        if a != b:
            name = "configurations" if key == "title" else key
            found.append(f"{name}: {a or 'none'} vs {b or 'none'}")
    return found


def slugify(title: str) -> str:
    """Lowercase ASCII letters, digits and single hyphens, at most 40 characters; "run" if none remain.

    Dots and slashes never survive, so a slug is always one plain path component.
    """
    ascii_text = unicodedata.normalize("NFKD", str(title)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:SLUG_LENGTH].rstrip("-") or "run"


def new_run_dir(root: str | Path, title: str, *, now: datetime | None = None) -> Path:
    """Create and return a fresh directory `root/<UTC time>-<slug>`, adding -2, -3... when taken.

    mkdir without exist_ok is the claim: of two processes that pick the same name
    in the same second, one gets FileExistsError and moves on to the next suffix.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        sweep_temporary_files(root)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    base = f"{moment:%Y%m%d-%H%M%S}-{slugify(title)}"
    for attempt in range(1, MAX_NAME_ATTEMPTS + 1):
        path = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise DataError(f"{root}: expected a free name for {base!r}, found {MAX_NAME_ATTEMPTS} taken")


def run_summary(
    config: ExperimentConfig,
    table: pd.DataFrame,
    *,
    status: str,
    steps: int,
    metadata: RunMetadata,
    seconds: float | None = None,
    title: str | None = None,
    created: datetime | None = None,
) -> dict[str, Any]:
    """The summary.json of a run, from its config, `table` = mtlviz.summary.summary_table(...) and the
    engine's metadata.

    `status` is "finished" or "stopped"; `steps` the last step trained; `created`
    defaults to now (UTC). Besides the listing keys (see save_run) it holds
    device, seconds, best (task -> best run), final (the table's rows) and
    metadata (mtlviz.records.RunMetadata: rows, divergences with their step and
    loss, whether the strategy shares parameters, ...), read back by load_metadata.
    """
    return {
        "title": title or run_title(config),
        "description": describe_run(config),
        "created": (created or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        "status": status,
        "steps": int(steps),
        "runs": list(config.runs),
        "seeds": list(config.train.seed_values),
        "tasks": list(config.tasks.task_names),
        "device": metadata.device,
        "seconds": None if seconds is None else round(seconds, 3),
        "best": best_per_task(table),
        "final": json.loads(table.to_json(orient="records")),
        "metadata": metadata.to_dict(),
    }


def save_run(directory: str | Path, config: ExperimentConfig, records: pd.DataFrame, summary: dict) -> Path:
    """Write config.json, metrics.parquet and, last, summary.json into `directory` (created if needed).

    Listings read only summary.json, these keys of it: title (text), created
    (ISO 8601 time, UTC), status ("finished", "stopped", ...), steps (int), runs
    (run labels: a configuration's, or one per swept learning rate) and tasks
    (task names); run_summary builds them. Other keys are kept as given. NaN
    and infinities become null: the JSON is strict.
    """
    path = Path(directory)
    # Everything is encoded before anything is written: a summary that cannot be
    # JSON leaves no half-written run behind.
    try:
        summary_text = json.dumps(_finite(summary), indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise DataError(f"{SUMMARY_FILE}: expected a summary of JSON values, found {exc}") from None
    config_text = config.to_json() + "\n"
    path.mkdir(parents=True, exist_ok=True)
    # Re-saving into a complete run: the old summary goes first, so a crash midway
    # leaves an incomplete run, never old summary over new metrics.
    with contextlib.suppress(FileNotFoundError):
        os.remove(path / SUMMARY_FILE)
    _write_atomic(path / CONFIG_FILE, lambda f: f.write(config_text.encode("utf-8")))
    _write_atomic(path / METRICS_FILE, lambda f: records.to_parquet(f, index=False))
    _write_atomic(path / SUMMARY_FILE, lambda f: f.write(summary_text.encode("utf-8")))
    _sync_directory(path)
    return path


def load_run(directory: str | Path) -> tuple[ExperimentConfig, pd.DataFrame]:
    """A saved run's config and record table; DataError "Cannot open <folder> because ..." otherwise."""
    path = Path(directory)
    with _opening(path):
        folder = _run_folder(path)
        return _read_config(folder), _read_metrics(folder)


def load_summary(directory: str | Path) -> dict:
    """A saved run's summary.json as a dict; DataError when it is missing, unreadable or not an object."""
    path = Path(directory)
    with _opening(path):
        return _read_summary(_run_folder(path))[0]


def load_metadata(directory: str | Path, config: ExperimentConfig | None = None) -> RunMetadata:
    """A saved run's metadata (mtlviz.records.RunMetadata); DataError naming the key when it is damaged.

    Runs saved before metadata existed get one built from their old summary
    keys: divergences from `diverged_runs` (or `diverged`), and
    has_shared_parameters None (not known; readers look at the records).
    """
    path = Path(directory)
    with _opening(path):
        folder = _run_folder(path)
        summary, _ = _read_summary(folder)
        if config is None and "metadata" not in summary:
            config = _read_config(folder)
        try:
            if "metadata" in summary:
                return _metadata(summary["metadata"])
            return _legacy_metadata(summary, config)
        except DataError as exc:
            raise DataError(f"{SUMMARY_FILE}: {exc}") from None


def _metadata(data: Any) -> RunMetadata:
    """RunMetadata.from_dict of what was checked to be as to_dict writes it."""
    metadata = _object(data, "metadata")
    for i, row in enumerate(_list(metadata.get("rows", []), "metadata.rows")):
        where = f"metadata.rows[{i}]"
        row = _object(row, where)
        for key in ("run", "configuration", "optimizer", "method"):
            _text(row.get(key, _ABSENT), f"{where}.{key}")
        _integer(row.get("seed", _ABSENT), f"{where}.seed")
        _number(row.get("lr", _ABSENT), f"{where}.lr", finite=True)
        _integer(row.get("trial", 0), f"{where}.trial", minimum=0)
        for knob, value in _object(row.get("hyperparameters") or {}, f"{where}.hyperparameters").items():
            parts = value if isinstance(value, list) else [value]
            for part in parts:
                _number(part, f"{where}.hyperparameters.{_key(knob)}", finite=True)
    for i, task in enumerate(_list(metadata.get("tasks", []), "metadata.tasks")):
        _text(task, f"metadata.tasks[{i}]")
    shared = metadata.get("has_shared_parameters")
    if shared is not None and not isinstance(shared, bool):
        raise DataError(f"expected metadata.has_shared_parameters to be true, false or null, found {_found(shared)}")
    for key in ("parameters", "shared_parameters", "batch_size", "train_examples", "test_examples"):
        _integer(metadata.get(key, 0), f"metadata.{key}", minimum=0)
    _text(metadata.get("device", ""), "metadata.device")
    for name, version in _object(metadata.get("versions") or {}, "metadata.versions").items():
        _text(version, f"metadata.versions.{_key(name)}")
    for i, event in enumerate(_list(metadata.get("divergences", []), "metadata.divergences")):
        where = f"metadata.divergences[{i}]"
        event = _object(event, where)
        _text(event.get("run", _ABSENT), f"{where}.run")
        _integer(event.get("seed", _ABSENT), f"{where}.seed")
        _integer(event.get("step", _ABSENT), f"{where}.step", minimum=0)
        _text(event.get("task", ""), f"{where}.task")
        _number(event.get("loss"), f"{where}.loss", optional=True)
        for task, loss in _object(event.get("losses") or {}, f"{where}.losses").items():
            _number(loss, f"{where}.losses.{_key(task)}", optional=True)
    try:
        return RunMetadata.from_dict(metadata)
    except (ValueError, TypeError, OverflowError) as exc:  # checked above: only a case missed there gets here
        raise DataError(str(exc)) from None


def _legacy_metadata(summary: dict, config: ExperimentConfig) -> RunMetadata:
    events: list[Divergence] = []
    raw = summary.get("diverged_runs")
    old = summary.get("diverged")
    if raw is not None:
        runs = _object(raw, "diverged_runs", "an object of run -> {seed: step}")
        for run, seeds in runs.items():
            where = f"diverged_runs.{_key(run)}"
            for seed, step in _object(seeds, where, "an object of seed -> step").items():
                if not re.fullmatch(r"-?[0-9]{1,18}", seed):  # JSON keys are texts: "7" for seed 7
                    raise DataError(f"expected the seeds in {where} to be integers, found {_found(seed)}")
                step = _integer(step, f"{where}.{seed}", minimum=0)
                events.append(Divergence(run, int(seed), step, "", None))
    if not events and old is not None:  # saved before seeds: label -> {step, loss}
        for label, info in _object(old, "diverged", "an object of run -> {step, loss}").items():
            where = f"diverged.{_key(label)}"
            info = _object(info, where, "an object with step and loss")
            step = _integer(info.get("step", _ABSENT), f"{where}.step", minimum=0)
            loss = _number(info.get("loss"), f"{where}.loss", optional=True)
            events.append(Divergence(label, config.train.seed, step, "", loss))
    rows = tuple(
        RowInfo(row.run, row.seed, row.configuration, row.optimizer.name, float(row.optimizer.lr), row.method.label)
        for row in expand_rows(config)
    )
    return RunMetadata(
        rows=rows,
        tasks=tuple(config.tasks.task_names),
        has_shared_parameters=None,
        device=_text(summary.get("device", ""), "device"),
        divergences=tuple(events),
    )


# -------------------------------------------------------------------------- checking what was read

_ABSENT = object()  # a key that is not there at all


def _found(value: Any) -> str:
    """A value read from JSON, as a message says what was found: short, and never a whole document."""
    if value is _ABSENT:
        return "nothing"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and abs(value) > INT64_MAX:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _key(name: str) -> str:
    """A key of the file (a run's label, a task) inside a message's path: short, whatever its length."""
    return name if len(name) <= 40 else name[:37] + "..."


def _object(value: Any, where: str, kind: str = "an object") -> dict:
    if not isinstance(value, dict):
        raise DataError(f"expected {where} to be {kind}, found {_found(value)}")
    return value


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise DataError(f"expected {where} to be a list, found {_found(value)}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"expected {where} to be text, found {_found(value)}")
    return value


def _integer(value: Any, where: str, minimum: int = -INT64_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= INT64_MAX:
        kind = "a non-negative integer" if minimum == 0 else "an integer"
        raise DataError(f"expected {where} to be {kind}, found {_found(value)}")
    return value


def _number(value: Any, where: str, *, optional: bool = False, finite: bool = False) -> float | None:
    if value is None and optional:
        return None
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):
            number = float(value)
    if number is None or (finite and not math.isfinite(number)):
        kind = "a finite number" if finite else "a number"
        raise DataError(f"expected {where} to be {kind}{' or null' if optional else ''}, found {_found(value)}")
    return number if math.isfinite(number) else None


# -------------------------------------------------------------------------- the table


def keep_table(directory: str | Path, name: str, data: bytes | Path) -> Path | None:
    """Keep the table a run trained on with the run: directory/data/<name>, and table.json (name, bytes,
    sha256). A table over TABLE_COPY_MAX_BYTES is not copied, only described. Returns the copy, or None."""
    path = Path(directory)
    content = data.read_bytes() if isinstance(data, Path) else bytes(data)
    filename = _table_filename(name)
    info = {"name": filename, "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    copy = None
    if len(content) <= TABLE_COPY_MAX_BYTES:
        copy = path / TABLE_DIR / filename
        copy.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(copy, lambda f: f.write(content))
    info["copy"] = None if copy is None else f"{TABLE_DIR}/{filename}"
    text = json.dumps(info, indent=2) + "\n"
    _write_atomic(path / TABLE_INFO, lambda f: f.write(text.encode("utf-8")))
    return copy


def table_for_rerun(directory: str | Path, config: ExperimentConfig) -> ExperimentConfig:
    """`config` (a saved run's) ready to train again from any folder: a table file it names points at the
    copy kept with the run; without a copy, the file itself must be where the config says, with the same
    sha256. DataError saying which file (name, sha256) to put where otherwise, or why the copy is refused
    (a symbolic link is never followed)."""
    tasks = config.tasks
    if not isinstance(tasks, TableTasks) or not tasks.path:
        return config
    path = Path(directory)
    with _opening(path):
        info = _table_info(_run_folder(path))
        # table.json is read like any run file: a name in it with path parts never leaves data/.
        filename = _table_filename(info.get("name") or tasks.path)
        copy = path / TABLE_DIR / filename
        if _plain_entry(path / TABLE_DIR, TABLE_DIR, folder=True) and _plain_entry(copy, f"{TABLE_DIR}/{filename}"):
            return dataclasses.replace(config, tasks=dataclasses.replace(tasks, path=str(copy.resolve())))
    original = Path(tasks.path).expanduser()
    digest = info.get("sha256")
    if original.is_file() and (not digest or _sha256(original) == digest):
        return config
    found = "a different file" if original.is_file() else "nothing"
    which = f"{filename} (sha256 {digest})" if digest else filename
    raise DataError(
        f"{path}: this run trained on the table {which}; expected a copy at {copy} or the file at {original}, "
        f"found {found} there. Put that file at {copy} and run again."
    )


def _table_filename(name: str) -> str:
    """A plain file name for the copy: the last part of `name`, never hidden or empty."""
    base = Path(str(name).replace("\\", "/")).name.strip()
    return base if base and not base.startswith(".") else f"table{Path(base).suffix or '.csv'}"


def _table_info(folder: Path) -> dict:
    """table.json's text values; {} when there is none or it is not an object of them."""
    try:
        info = _parse_json(_read_text(folder / TABLE_INFO, TABLE_INFO, "a description of the table")[0], TABLE_INFO)
    except _Linked:
        raise
    except DataError:  # missing or unreadable: the copy, if any, is found by the config's file name
        return {}
    if not isinstance(info, dict):
        return {}
    return {k: v for k, v in info.items() if isinstance(v, str)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


# -------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class RunInfo:
    """One saved run as a listing shows it, read from its summary.json alone."""

    path: Path
    name: str  # the directory's name
    title: str
    created: str  # ISO 8601, UTC
    status: str  # "finished", "stopped", ...
    steps: int
    runs: list[str]  # configuration labels
    tasks: list[str]
    # describe_run's words: source, sharing, methods, seeds, steps, subtitle ("" where not known)
    description: dict[str, str] = field(default_factory=dict)

    def describe(self, key: str) -> str:
        return self.description.get(key, "")


def list_runs(
    root: str | Path | None = None, limit: int = 200, keep: Callable[[Path], bool] | None = None
) -> tuple[list[RunInfo], list[str]]:
    """Saved runs under `root` (default runs_dir()), newest first, at most `limit`; and notes on skipped ones.

    `keep`, when given, chooses the run directories to list (e.g. the ones this
    session saved) before the limit applies, so other runs never push them out,
    and before anything is read, so no note names another session's run.

    Never raises for a bad run directory: one without summary.json is noted as
    incomplete, one whose summary cannot be read (or is a symbolic link, as is a
    linked run folder) is noted with the reason. Files and hidden entries are
    ignored; a missing root gives no runs and no notes. Temporary files left by
    killed saves are swept first (sweep_temporary_files).
    """
    root = runs_dir() if root is None else Path(root)
    with contextlib.suppress(OSError):
        sweep_temporary_files(root)
    try:
        with os.scandir(root) as scan:
            entries = sorted(
                (e for e in scan if not e.name.startswith(".") and (e.is_symlink() or e.is_dir(follow_symlinks=False))),
                key=lambda e: e.name,
            )
    except FileNotFoundError:
        return [], []
    except NotADirectoryError:
        return [], [f"{root}: expected a folder of saved runs, found a file"]
    except OSError as exc:
        return [], [f"{root}: cannot list ({exc.strerror or type(exc).__name__})"]
    found: list[tuple[float, str, RunInfo]] = []
    notes = []
    for entry in entries:
        path = Path(entry.path)
        if keep is not None and not keep(path):
            continue
        if entry.is_symlink():
            notes.append(f"{entry.name}: skipped, it {LINKED_FOLDER}")
            continue
        try:
            summary, mtime = _read_summary(path)
        except _Incomplete:
            notes.append(f"{entry.name}: incomplete (no {SUMMARY_FILE})")
            continue
        except DataError as exc:
            notes.append(f"{entry.name}: skipped, {exc}")
            continue
        except OSError as exc:  # a read that failed midway (an I/O error, a file removed under us)
            notes.append(f"{entry.name}: skipped, {SUMMARY_FILE}: cannot read ({_reason(exc)})")
            continue
        info = _run_info(path, summary, mtime)
        found.append((_timestamp(info.created, mtime), entry.name, info))
    found.sort(key=lambda item: item[:2], reverse=True)
    if len(found) > limit:
        notes.append(f"{len(found) - limit} older runs not shown (limit {limit})")
    return [info for _, _, info in found[: max(limit, 0)]], notes


def sweep_temporary_files(root: str | Path, older_than: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove the temporary files that killed saves left in the run folders under `root` and their data/
    folders: names _write_atomic gives (TEMPORARY_NAME), last written over `older_than` seconds ago. A save
    under way renames its own within seconds, so it is never touched; links are not followed. Returns the
    files removed."""
    cutoff = time.time() - older_than
    removed: list[Path] = []
    for run in _scan(Path(root)):
        if run.name.startswith(".") or not run.is_dir(follow_symlinks=False):
            continue
        entries = _scan(Path(run.path))
        tables = [e for e in entries if e.name == TABLE_DIR and e.is_dir(follow_symlinks=False)]
        for entry in entries + [e for table in tables for e in _scan(Path(table.path))]:
            if not TEMPORARY_NAME.fullmatch(entry.name) or entry.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):  # gone already, or not ours to remove: left as it is
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.remove(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _scan(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as scan:
            return list(scan)
    except OSError:
        return []


# -------------------------------------------------------------------------- helpers


class _Missing(DataError):
    """A file of the run is not there."""


class _Incomplete(_Missing):
    """summary.json is missing: the save did not finish (or is still under way)."""


class _Linked(DataError):
    """A symbolic link where a run's file or folder belongs: refused, never followed."""


@contextlib.contextmanager
def _opening(path: Path) -> Iterator[None]:
    """Why a saved run cannot be read, as one DataError naming its folder (never the server's path)."""
    try:
        yield
    except DataError as exc:
        raise DataError(f"Cannot open {path.name} because {exc}") from None
    except OSError as exc:  # a folder or file that vanished or turned unreadable midway
        raise DataError(f"Cannot open {path.name} because it cannot be read ({_reason(exc)})") from None


def _run_folder(path: Path) -> Path:
    """`path` if it is a plain folder; DataError saying what is there instead."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise DataError("expected a run folder, found nothing") from None
    except OSError as exc:
        raise DataError(f"expected a run folder, found one that cannot be read ({_reason(exc)})") from None
    if stat.S_ISLNK(mode):
        raise _Linked(f"it {LINKED_FOLDER}")
    if not stat.S_ISDIR(mode):
        raise DataError(f"expected a run folder, found {_kind(mode)}")
    return path


def _plain_entry(path: Path, shown: str, *, folder: bool = False) -> bool:
    """Whether `path` is a plain file (a plain folder with `folder`); _Linked when it is a symbolic link."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    if stat.S_ISLNK(mode):
        raise _Linked(f"{shown} {LINKED_FOLDER if folder else LINKED_FILE}")
    return stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)


def _open_plain(path: Path, shown: str, what: str) -> BinaryIO:
    """`path` open for reading if it is a plain file; DataError naming it `shown` (its place in the run
    folder) otherwise. A symbolic link is refused, and a named pipe never waited on."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise (_Incomplete if shown == SUMMARY_FILE else _Missing)(f"{shown}: expected {what}, found none") from None
    except OSError as exc:
        raise DataError(f"{shown}: cannot read ({_reason(exc)})") from None
    if stat.S_ISLNK(mode):
        raise _Linked(f"{shown} {LINKED_FILE}")
    # O_NOFOLLOW: a file swapped for a link since lstat is refused too; O_NONBLOCK: a pipe never blocks.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        raise DataError(f"{shown}: cannot read ({_reason(exc)})") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise DataError(f"{shown}: expected a plain file, found {_kind(mode)}")
    return os.fdopen(descriptor, "rb")


def _read_text(path: Path, shown: str, what: str) -> tuple[str, float]:
    """A small UTF-8 run file (at most JSON_MAX_BYTES) and when it was last written."""
    with _open_plain(path, shown, what) as file:
        info = os.fstat(file.fileno())
        if info.st_size > JSON_MAX_BYTES:
            size = f"{info.st_size / 2**20:,.0f} MiB"
            raise DataError(f"{shown}: expected at most {JSON_MAX_BYTES // 2**20} MiB, found {size}")
        data = file.read(JSON_MAX_BYTES + 1)
    try:
        return data.decode("utf-8"), info.st_mtime
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise DataError(f"{shown}: expected UTF-8 text, found byte {byte:#04x} at position {exc.start}") from None


def _parse_json(text: str, shown: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{shown}: expected valid JSON, found {exc.msg} at line {exc.lineno}") from None
    except ValueError:  # an integer literal beyond Python's digit limit
        limit = sys.get_int_max_str_digits()
        raise DataError(f"{shown}: expected numbers of at most {limit} digits, found a longer one") from None
    except RecursionError:
        raise DataError(f"{shown}: expected JSON nested a few levels deep, found it nested too deeply") from None


def _read_summary(folder: Path) -> tuple[dict, float]:
    """summary.json as an object, and when it was written."""
    text, mtime = _read_text(folder / SUMMARY_FILE, SUMMARY_FILE, "the run's summary")
    summary = _parse_json(text, SUMMARY_FILE)
    if not isinstance(summary, dict):
        raise DataError(f"{SUMMARY_FILE}: expected a JSON object, found {type(summary).__name__}")
    return summary, mtime


def _read_config(folder: Path) -> ExperimentConfig:
    text, _ = _read_text(folder / CONFIG_FILE, CONFIG_FILE, "the run's config file")
    data = _parse_json(text, CONFIG_FILE)
    try:
        return ExperimentConfig.from_dict(data)
    except ConfigError as exc:
        raise DataError(f"{CONFIG_FILE}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:  # a case the config missed
        found = f"one it cannot read ({type(exc).__name__}: {exc})"
        raise DataError(f"{CONFIG_FILE}: expected a config as mtlviz writes it, found {found}") from None


def _read_metrics(folder: Path) -> pd.DataFrame:
    with _open_plain(folder / METRICS_FILE, METRICS_FILE, "the run's metrics table") as file:
        try:
            records = pd.read_parquet(file, engine="pyarrow")
        except (OSError, ValueError, TypeError, pa.ArrowException) as exc:  # the type depends on the damage
            raise DataError(
                f"{METRICS_FILE}: expected a Parquet table, found a file pyarrow cannot read ({exc})"
            ) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in records.columns]
    if missing:
        raise DataError(
            f"{METRICS_FILE}: expected columns {', '.join(REQUIRED_COLUMNS)}; "
            f"found {', '.join(map(str, records.columns))} (missing {', '.join(missing)})"
        )
    for column in ("run", "task", "layer", "metric"):
        problem = _text_problem(records[column])
        if problem:
            raise DataError(f"{METRICS_FILE}: expected column {column} to hold text in every row, found {problem}")
    for column in ("step", "seed", "value", "seconds"):
        if column not in records.columns:  # seed: runs saved before seeds existed have one seed
            continue
        integers = column in ("step", "seed")
        dtype = records[column].dtype
        if not (pd.api.types.is_integer_dtype(dtype) if integers else _is_float(dtype)):
            kind = "integers" if integers else "numbers"
            raise DataError(f"{METRICS_FILE}: expected column {column} to hold {kind}, found dtype {dtype}")
        empty = int(records[column].isna().sum()) if integers else 0
        if empty:
            where = f"{METRICS_FILE}: expected column {column} to hold integers in every row"
            raise DataError(f"{where}, found {empty} empty cell{'s' if empty != 1 else ''}")
    # A gradient cosine is between two tasks: its task cell names the pair, which the Conflict view splits.
    pairs = records.loc[records["metric"] == GRAD_COSINE, "task"].unique()
    odd = [str(t) for t in pairs if len(str(t).split(PAIR_SEPARATOR)) != 2]
    if odd:
        found = _found(odd[0]) if len(odd) == 1 else f"{_found(odd[0])} and {len(odd) - 1} more"
        pair = f"'a{PAIR_SEPARATOR}b'"
        raise DataError(
            f"{METRICS_FILE}: expected the task of each {GRAD_COSINE} row to be a pair {pair}, found {found}"
        )
    return records


def _text_problem(column: pd.Series) -> str:
    """What is not text in a text column ("" when all is): its empty cells, or the kind of its values."""
    empty = int(column.isna().sum())
    if empty:
        return f"{empty} empty cell{'s' if empty != 1 else ''}"
    values = column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype) else column
    kind = pd.api.types.infer_dtype(values, skipna=False)
    return "" if kind in ("string", "empty") else f"{kind} values"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a file" if stat.S_ISREG(mode) else "something else"


def _reason(exc: OSError) -> str:
    """An OSError in words, without the path it names (the server's path stays on the server)."""
    return exc.strerror or type(exc).__name__


def _is_float(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _run_info(path: Path, summary: dict, mtime: float) -> RunInfo:
    runs, tasks = _texts(summary.get("runs")), _texts(summary.get("tasks"))
    description = summary.get("description")
    if not (isinstance(description, dict) and all(isinstance(v, str) for v in description.values())):
        description = None
    if runs is None or tasks is None or description is None:
        # Summaries written before listings (or descriptions) existed lack these keys: config.json is small.
        config = _config_or_none(path)
        if runs is None:
            runs = list(config.labels) if config else []
        if tasks is None:
            tasks = list(config.tasks.task_names) if config else []
        if description is None:
            description = describe_run(config) if config else {}
    title = summary.get("title")
    created = summary.get("created")
    steps = summary.get("steps")
    status = summary.get("status")
    return RunInfo(
        path=path,
        name=path.name,
        title=title if isinstance(title, str) and title else " vs ".join(runs) or path.name,
        created=created
        if isinstance(created, str) and _timestamp(created, None) is not None
        else datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds"),
        # Only finished runs wrote a summary before the status key existed.
        status=status if isinstance(status, str) and status else "finished",
        steps=steps if isinstance(steps, int) and not isinstance(steps, bool) and 0 <= steps <= INT64_MAX else 0,
        runs=runs,
        tasks=tasks,
        description=description,
    )


def _texts(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _config_or_none(folder: Path) -> ExperimentConfig | None:
    try:
        return _read_config(folder)
    except (DataError, OSError):
        return None


def _timestamp(created: str, fallback: float | None) -> float | None:
    try:
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:  # a naive time in a summary is UTC, as written here
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):  # not a time, or one past what the platform can hold
        return fallback


def _finite(value: Any) -> Any:
    """A copy of `value` with NaN and infinities as None and NumPy scalars as Python ones."""
    if isinstance(value, dict):
        return {key: _finite(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_atomic(target: Path, write: Callable[[Any], Any]) -> None:
    """Write through a temporary file in the same directory, then os.replace it onto `target`.

    Readers see the old file or the whole new one, never a partial write; the
    temporary name is hidden and unique, so two writers never share it.
    """
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:  # Ctrl-C included: leave no temporary file behind
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _sync_directory(path: Path) -> None:
    """Make the renames durable; not every platform can open a directory, which is fine."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
