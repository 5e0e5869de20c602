"""Saved runs: one directory per finished or stopped run, in a runs folder that can be listed.

A run directory holds config.json (the ExperimentConfig), metrics.parquet (the
record table) and summary.json (what a listing shows). Each file is written to a
temporary name and moved into place, summary.json last: a directory without
summary.json is a save that did not complete, and listings skip it.

The runs folder is $MTLVIZ_RUNS_DIR, or ./runs; run directories are named
`<UTC time>-<slug of the title>`, e.g. 20261122-134501-adam-vs-sgd.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mtlviz.config import ExperimentConfig, SyntheticTasks, TableTasks, Toy2DTasks
from mtlviz.errors import ConfigError, DataError
from mtlviz.models import SHARING
from mtlviz.records import COLUMNS, Divergence, RowInfo, RunMetadata
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
    """A saved run's config and record table; DataError or ConfigError naming the file otherwise."""
    path = _run_directory(directory)
    config_path = path / CONFIG_FILE
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{config_path}: expected the run's config file, found none") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{config_path}: cannot read the run's config ({exc})") from None
    try:
        config = ExperimentConfig.from_json(text)
    except ConfigError as exc:
        error = ConfigError("", f"{config_path}: {exc}")
        error.field = exc.field
        raise error from None
    return config, _read_metrics(path / METRICS_FILE)


def load_summary(directory: str | Path) -> dict:
    """A saved run's summary.json as a dict; DataError when it is missing, unreadable or not an object."""
    return _read_summary(_run_directory(directory) / SUMMARY_FILE)


def load_metadata(directory: str | Path, config: ExperimentConfig | None = None) -> RunMetadata:
    """A saved run's metadata (mtlviz.records.RunMetadata); DataError naming the file when it is damaged.

    Runs saved before metadata existed get one built from their old summary
    keys: divergences from `diverged_runs` (or `diverged`), and
    has_shared_parameters None (not known; readers look at the records).
    """
    path = _run_directory(directory)
    summary = _read_summary(path / SUMMARY_FILE)
    if "metadata" in summary:
        try:
            return RunMetadata.from_dict(summary["metadata"])
        except ValueError as exc:
            raise DataError(f"{path / SUMMARY_FILE}: {exc}") from None
    if config is None:
        config, _ = load_run(path)
    return _legacy_metadata(summary, config)


def _legacy_metadata(summary: dict, config: ExperimentConfig) -> RunMetadata:
    events: list[Divergence] = []
    raw = summary.get("diverged_runs")
    old = summary.get("diverged")
    if isinstance(raw, dict) and raw:
        for run, seeds in raw.items():
            if not isinstance(seeds, dict):
                continue
            for seed, step in seeds.items():
                with contextlib.suppress(TypeError, ValueError):
                    events.append(Divergence(str(run), int(seed), int(step), "", None))
    elif isinstance(old, dict):  # saved before seeds: label -> {step, loss}
        for label, info in old.items():
            if isinstance(info, dict):
                with contextlib.suppress(TypeError, ValueError, KeyError):
                    loss = info.get("loss")
                    loss = float(loss) if isinstance(loss, int | float) and math.isfinite(loss) else None
                    events.append(Divergence(str(label), config.train.seed, int(info["step"]), "", loss))
    rows = tuple(
        RowInfo(row.run, row.seed, row.configuration, row.optimizer.name, float(row.optimizer.lr), row.method.label)
        for row in expand_rows(config)
    )
    device = summary.get("device")
    return RunMetadata(
        rows=rows,
        tasks=tuple(config.tasks.task_names),
        has_shared_parameters=None,
        device=device if isinstance(device, str) else "",
        divergences=tuple(events),
    )


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
    sha256. DataError saying which file (name, sha256) to put where otherwise."""
    tasks = config.tasks
    if not isinstance(tasks, TableTasks) or not tasks.path:
        return config
    path = Path(directory)
    info = _table_info(path / TABLE_INFO)
    filename = info.get("name") or _table_filename(tasks.path)
    copy = path / TABLE_DIR / filename
    if copy.is_file():
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


def _table_info(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
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
    session saved) before the limit applies, so other runs never push them out.

    Never raises for a bad run directory: one without summary.json is noted as
    incomplete, one whose summary cannot be read is noted with the reason. Files
    and hidden entries are ignored; a missing root gives no runs and no notes.
    """
    root = runs_dir() if root is None else Path(root)
    try:
        with os.scandir(root) as scan:
            entries = sorted((e for e in scan if not e.name.startswith(".") and e.is_dir()), key=lambda e: e.name)
    except FileNotFoundError:
        return [], []
    except NotADirectoryError:
        return [], [f"{root}: expected a folder of saved runs, found a file"]
    except OSError as exc:
        return [], [f"{root}: cannot list ({exc.strerror or exc})"]
    found: list[tuple[float, str, RunInfo]] = []
    notes = []
    for entry in entries:
        path = Path(entry.path)
        if keep is not None and not keep(path):
            continue
        try:
            summary = _read_summary(path / SUMMARY_FILE)
            mtime = (path / SUMMARY_FILE).stat().st_mtime
        except _Incomplete:
            notes.append(f"{entry.name}: incomplete (no {SUMMARY_FILE})")
            continue
        except (DataError, OSError) as exc:
            notes.append(f"{entry.name}: skipped, {exc}")
            continue
        info = _run_info(path, summary, mtime)
        found.append((_timestamp(info.created, mtime), entry.name, info))
    found.sort(key=lambda item: item[:2], reverse=True)
    if len(found) > limit:
        notes.append(f"{len(found) - limit} older runs not shown (limit {limit})")
    return [info for _, _, info in found[: max(limit, 0)]], notes


# -------------------------------------------------------------------------- helpers


class _Incomplete(DataError):
    """summary.json is missing: the save did not finish (or is still under way)."""


def _run_directory(directory: str | Path) -> Path:
    path = Path(directory)
    if not path.is_dir():
        found = "a file" if path.exists() else "nothing"
        raise DataError(f"{path}: expected a run directory, found {found}")
    return path


def _read_summary(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Incomplete(f"{path}: expected the run's summary, found none") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: cannot read ({exc})") from None
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(summary, dict):
        raise DataError(f"{path.name}: expected a JSON object, found {type(summary).__name__}")
    return summary


def _read_metrics(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: expected the run's metrics table, found none")
    try:
        records = pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError, pa.ArrowException) as exc:  # pyarrow's error type depends on the damage
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in records.columns]
    if missing:
        raise DataError(
            f"{path}: expected columns {', '.join(REQUIRED_COLUMNS)}; found {', '.join(map(str, records.columns))} "
            f"(missing {', '.join(missing)})"
        )
    checks = {"step": pd.api.types.is_integer_dtype, "value": _is_float, "seconds": _is_float}
    for column, check in checks.items():
        if not check(records[column].dtype):
            kind = "integers" if column == "step" else "numbers"
            raise DataError(f"{path}: expected column {column} to hold {kind}, found dtype {records[column].dtype}")
    return records


def _is_float(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _run_info(path: Path, summary: dict, mtime: float) -> RunInfo:
    runs, tasks = _texts(summary.get("runs")), _texts(summary.get("tasks"))
    description = summary.get("description")
    if not (isinstance(description, dict) and all(isinstance(v, str) for v in description.values())):
        description = None
    if runs is None or tasks is None or description is None:
        # Summaries written before listings (or descriptions) existed lack these keys: config.json is small.
        config = _config_or_none(path / CONFIG_FILE)
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
        steps=steps if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0 else 0,
        runs=runs,
        tasks=tasks,
        description=description,
    )


def _texts(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _config_or_none(path: Path) -> ExperimentConfig | None:
    try:
        return ExperimentConfig.from_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ConfigError):
        return None


def _timestamp(created: str, fallback: float | None) -> float | None:
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return fallback
    if moment.tzinfo is None:  # a naive time in a summary is UTC, as written here
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


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
