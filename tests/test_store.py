"""Saved runs on disk: round trips, crash safety, strict JSON, listing, unique names, load errors."""

from __future__ import annotations

import json
import math
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtlviz.config import ExperimentConfig
from mtlviz.errors import DataError
from mtlviz.records import METRICS, Divergence, RowInfo, RunMetadata
from mtlviz.store import (
    RunInfo,
    describe_run,
    list_runs,
    load_metadata,
    load_run,
    load_summary,
    new_run_dir,
    run_summary,
    runs_dir,
    save_run,
    slugify,
)
from mtlviz.summary import summary_table

CONFIG = ExperimentConfig.from_dict(
    {
        "tasks": {"targets": [{"name": "price"}, {"name": "click", "type": "classification"}], "num_samples": 200},
        "optimizers": [{"name": "sgd", "lr": 0.05}, {"name": "adam", "lr": 0.01, "label": "Adam"}],
        "train": {"steps": 4, "seed": 7},
    }
)
NOW = datetime(2026, 11, 22, 13, 45, 1, tzinfo=UTC)


def make_records(seed_column: bool = True) -> pd.DataFrame:
    """A small record table with the engine's dtypes: categoricals, int64 steps, float values."""
    runs = pd.CategoricalDtype(["SGD lr=0.05", "Adam"])
    tasks = pd.CategoricalDtype(["", "price", "click", "price ↔ click"])
    layers = pd.CategoricalDtype(["", "shared", "trunk.0"])
    metrics = pd.CategoricalDtype(list(METRICS))
    n = 12
    frame = {
        "run": pd.Categorical(["SGD lr=0.05", "Adam"] * (n // 2), dtype=runs),
        "seed": np.array([7, 8] * (n // 2), dtype=np.int32),
        "step": np.repeat(np.arange(n // 2, dtype=np.int64), 2),
        "task": pd.Categorical(["price", "click", "", "price ↔ click"] * (n // 4), dtype=tasks),
        "layer": pd.Categorical(["", "", "trunk.0", "shared"] * (n // 4), dtype=layers),
        "metric": pd.Categorical(["train_loss", "val_loss", "grad_norm", "grad_cosine"] * (n // 4), dtype=metrics),
        "value": np.linspace(-1.5, 2.5, n),
        "seconds": np.linspace(0.0, 0.3, n),
    }
    if not seed_column:
        del frame["seed"]
    return pd.DataFrame(frame)


def summary(created: str = "2026-11-22T13:45:01+00:00", **extra) -> dict:
    return {"title": "SGD vs Adam", "created": created, "status": "finished", "steps": 4, **extra}


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


# ---------------------------------------------------------------------- save and load


@pytest.mark.parametrize("seed_column", [True, False], ids=["with_seed", "without_seed"])
def test_save_then_load_gives_the_same_config_and_records(tmp_path, seed_column):
    records = make_records(seed_column)
    save_run(tmp_path / "run", CONFIG, records, summary())
    config, loaded = load_run(tmp_path / "run")
    assert config == CONFIG
    assert isinstance(loaded["run"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(loaded, records)


def test_save_writes_exactly_the_three_files_and_no_temporary_ones(tmp_path):
    path = save_run(tmp_path / "new" / "run", CONFIG, make_records(), summary())
    assert path == tmp_path / "new" / "run"
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "metrics.parquet", "summary.json"]


def test_a_failed_metrics_write_leaves_an_incomplete_run_without_temporary_files(tmp_path, monkeypatch):
    path = save_run(tmp_path / "run", CONFIG, make_records(), summary())

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        save_run(path, CONFIG, make_records(), summary(status="stopped"))
    # The old summary went first: no complete-looking mix of old and new files.
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "metrics.parquet"]
    assert list_runs(tmp_path) == ([], ["run: incomplete (no summary.json)"])


def test_nan_and_infinities_in_the_summary_are_written_as_null_in_strict_json(tmp_path):
    values = {"loss": float("nan"), "rows": [1.5, float("inf"), -np.inf, np.float64("nan")], "n": np.int64(3)}
    save_run(tmp_path, CONFIG, make_records(), summary(values=values))
    text = (tmp_path / "summary.json").read_text(encoding="utf-8")

    def reject(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    written = json.loads(text, parse_constant=reject)
    assert written["values"] == {"loss": None, "rows": [1.5, None, None, None], "n": 3}
    assert load_summary(tmp_path) == written


def test_a_summary_that_is_not_json_raises_data_error_and_writes_nothing(tmp_path):
    with pytest.raises(DataError, match="summary.json: expected a summary of JSON values"):
        save_run(tmp_path / "run", CONFIG, make_records(), summary(bad={1, 2}))
    assert not (tmp_path / "run").exists()


def test_run_summary_has_the_listing_keys_and_finite_values():
    records = make_records()
    table = summary_table(records, {"Adam": 3})
    metadata = RunMetadata(device="cpu", divergences=(Divergence("Adam", 0, 3, "price", None, {"price": None}),))
    result = run_summary(CONFIG, table, status="stopped", steps=3, metadata=metadata, seconds=1.23456, created=NOW)
    assert result["title"] == "SGD lr=0.05 vs Adam"
    assert result["created"] == "2026-11-22T13:45:01+00:00"
    assert (result["status"], result["steps"], result["seconds"]) == ("stopped", 3, 1.235)
    assert result["runs"] == ["SGD lr=0.05", "Adam"]
    assert result["tasks"] == ["price", "click"]
    assert result["device"] == "cpu"
    assert result["metadata"]["divergences"] == [
        {"run": "Adam", "seed": 0, "step": 3, "task": "price", "loss": None, "losses": {"price": None}}
    ]
    assert [row["run"] for row in result["final"]] == list(table["run"])


def test_metadata_saved_with_a_run_reads_back_equal(tmp_path):
    metadata = RunMetadata(
        rows=(RowInfo("SGD lr=0.05", 7, "SGD lr=0.05", "sgd", 0.05, "Static weights"),),
        tasks=("price", "click"),
        has_shared_parameters=True,
        parameters=120,
        shared_parameters=96,
        device="cpu",
        versions={"torch": "2.13.0"},
        divergences=(Divergence("SGD lr=0.05", 7, 3, "click", 2.5e9, {"price": 1.0, "click": 2.5e9}),),
    )
    table = summary_table(make_records(), metadata.diverged_runs())
    save_run(
        tmp_path, CONFIG, make_records(), run_summary(CONFIG, table, status="finished", steps=4, metadata=metadata)
    )
    assert load_metadata(tmp_path) == metadata


def test_a_run_saved_before_metadata_gets_its_divergences_and_an_unknown_sharing_fact(tmp_path):
    old = summary(diverged_runs={"Adam": {"7": 3, "8": 5}}, device="cpu")
    save_run(tmp_path, CONFIG, make_records(), old)
    metadata = load_metadata(tmp_path)
    assert metadata.has_shared_parameters is None  # not known: readers look at the records
    assert metadata.diverged_runs() == {"Adam": {7: 3, 8: 5}}
    assert metadata.runs == CONFIG.runs and metadata.device == "cpu"


def test_damaged_metadata_is_a_data_error_naming_the_file_and_the_key(tmp_path):
    save_run(tmp_path / "run", CONFIG, make_records(), summary(metadata={"rows": [{"run": "x"}]}))
    expected = "Cannot open run because summary.json: expected metadata.rows[0].configuration to be text, found nothing"
    with pytest.raises(DataError, match=re.escape(expected)):
        load_metadata(tmp_path / "run")


# ---------------------------------------------------------------------------- load errors


def complete_run(path: Path) -> Path:
    return save_run(path, CONFIG, make_records(), summary())


def test_loading_a_missing_directory_names_it(tmp_path):
    with pytest.raises(DataError, match="^Cannot open nope because expected a run folder, found nothing$"):
        load_run(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="^Cannot open file because expected a run folder, found a file$"):
        load_run(tmp_path / "file")


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (
            lambda p: (p / "config.json").unlink(),
            DataError,
            r"config\.json: expected the run's config file, found none",
        ),
        (lambda p: (p / "config.json").write_text("{not json"), DataError, r"config\.json: expected valid JSON"),
        (
            lambda p: (p / "config.json").write_text('{"train": {"steps": 0}}'),
            DataError,
            r"config\.json: train\.steps: expected an integer",
        ),
        (
            lambda p: (p / "config.json").write_bytes(b"\xff\xfe\x00"),
            DataError,
            r"config\.json: expected UTF-8 text, found byte 0xff",
        ),
        (
            lambda p: (p / "metrics.parquet").unlink(),
            DataError,
            r"metrics\.parquet: expected the run's metrics table, found none",
        ),
        (
            lambda p: (p / "metrics.parquet").write_bytes(b"PAR1 not really parquet"),
            DataError,
            r"metrics\.parquet: expected a Parquet table, found a file pyarrow cannot read",
        ),
        (
            lambda p: write_parquet(p / "metrics.parquet", make_records().drop(columns=["value", "layer"])),
            DataError,
            r"metrics\.parquet: expected columns run, step, task, layer, metric, value, seconds; "
            r".*missing layer, value",
        ),
        (
            lambda p: write_parquet(p / "metrics.parquet", make_records().astype({"step": str})),
            DataError,
            r"metrics\.parquet: expected column step to hold integers",
        ),
    ],
    ids=[
        "no_config",
        "corrupt_config",
        "invalid_config",
        "undecodable_config",
        "no_metrics",
        "corrupt_metrics",
        "missing_columns",
        "text_steps",
    ],
)
def test_a_damaged_run_raises_a_project_error_naming_the_file(tmp_path, damage, error, message):
    path = complete_run(tmp_path / "run")
    damage(path)
    with pytest.raises(error, match=message) as info:
        load_run(path)
    # The run's folder and file by name: the server's path is not the reader's business.
    assert str(info.value).startswith("Cannot open run because ") and str(tmp_path) not in str(info.value)


def test_load_summary_of_an_incomplete_or_corrupt_run_raises_data_error(tmp_path):
    path = complete_run(tmp_path / "run")
    (path / "summary.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="summary.json: expected a JSON object, found list"):
        load_summary(path)
    (path / "summary.json").unlink()
    with pytest.raises(DataError, match="summary.json: expected the run's summary, found none"):
        load_summary(path)


# ------------------------------------------------------------------------------- naming


def test_runs_dir_is_the_environment_variable_or_runs_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("MTLVIZ_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert runs_dir() == tmp_path / "elsewhere"
    monkeypatch.setenv("MTLVIZ_RUNS_DIR", "")
    monkeypatch.chdir(tmp_path)
    assert runs_dir() == tmp_path / "runs"
    monkeypatch.delenv("MTLVIZ_RUNS_DIR")
    assert runs_dir() == tmp_path / "runs"


def test_new_run_dir_names_by_utc_time_and_slug_and_counts_up_when_taken(tmp_path):
    local = NOW.astimezone(datetime.now().astimezone().tzinfo)  # the same moment in another zone
    first = new_run_dir(tmp_path / "runs", "Adam vs SGD", now=local)
    second = new_run_dir(tmp_path / "runs", "Adam vs SGD", now=NOW)
    third = new_run_dir(tmp_path / "runs", "Adam vs SGD", now=NOW)
    assert [p.name for p in (first, second, third)] == [
        "20261122-134501-adam-vs-sgd",
        "20261122-134501-adam-vs-sgd-2",
        "20261122-134501-adam-vs-sgd-3",
    ]
    assert all(p.is_dir() and p.parent == tmp_path / "runs" for p in (first, second, third))


def test_concurrent_new_run_dir_calls_in_the_same_second_get_distinct_directories(tmp_path):
    count = 24
    barrier = threading.Barrier(count)
    made: list[Path] = []
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            barrier.wait()
            made.append(new_run_dir(tmp_path, "Adam vs SGD", now=NOW))
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(made)) == count
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in made)


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Adam vs SGD", "adam-vs-sgd"),
        ("SGD lr=0.05 vs Adam", "sgd-lr-0-05-vs-adam"),
        ("../../etc", "etc"),
        ("..", "run"),
        ("/", "run"),
        ("..\\..\\windows\\system32", "windows-system32"),
        ("", "run"),
        ("Ünïcödé — Adam/AdamW", "unicode-adam-adamw"),
        ("a" * 39 + " b", "a" * 39),
        ("x" * 100, "x" * 40),
    ],
)
def test_slugs_are_short_lowercase_ascii_with_no_path_parts(title, slug):
    assert slugify(title) == slug
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slugify(title))


@pytest.mark.parametrize("title", ["../../etc", "..", "/abs/path", "a/../../b", "\x00nul"])
def test_a_hostile_title_never_leaves_the_runs_folder(tmp_path, title):
    root = tmp_path / "runs"
    path = new_run_dir(root, title, now=NOW)
    assert path.parent == root
    assert path.resolve().parent == root.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


# ------------------------------------------------------------------------------ listing


def test_list_runs_is_newest_first_and_notes_incomplete_and_corrupt_runs(tmp_path):
    save_run(tmp_path / "b-oldest", CONFIG, make_records(), summary("2026-01-01T00:00:00+00:00"))
    save_run(tmp_path / "a-newest", CONFIG, make_records(), summary("2026-03-01T12:00:00+00:00", status="stopped"))
    # Same moment written in another zone: 2026-02-01T10:00Z, between the two.
    save_run(tmp_path / "c-middle", CONFIG, make_records(), summary("2026-02-01T12:00:00+02:00"))
    (tmp_path / "d-incomplete").mkdir()
    (tmp_path / "d-incomplete" / "config.json").write_text(CONFIG.to_json())
    (tmp_path / "e-corrupt").mkdir()
    (tmp_path / "e-corrupt" / "summary.json").write_text('{"title": ')
    (tmp_path / "f-list").mkdir()
    (tmp_path / "f-list" / "summary.json").write_text("[]")
    save_run(tmp_path / ".hidden", CONFIG, make_records(), summary("2027-01-01T00:00:00+00:00"))
    (tmp_path / "file.json").write_text("{}")

    runs, notes = list_runs(tmp_path)

    assert [r.name for r in runs] == ["a-newest", "c-middle", "b-oldest"]
    assert runs[0] == RunInfo(
        path=tmp_path / "a-newest",
        name="a-newest",
        title="SGD vs Adam",
        created="2026-03-01T12:00:00+00:00",
        status="stopped",
        steps=4,
        # This summary names no runs, tasks or description: they come from config.json.
        runs=["SGD lr=0.05", "Adam"],
        tasks=["price", "click"],
        description=describe_run(CONFIG),
    )
    assert [r.status for r in runs] == ["stopped", "finished", "finished"]
    assert len(notes) == 3
    assert notes[0] == "d-incomplete: incomplete (no summary.json)"
    assert notes[1].startswith("e-corrupt: skipped, summary.json: expected valid JSON, found Expecting value")
    assert notes[2] == "f-list: skipped, summary.json: expected a JSON object, found list"


def test_list_runs_reads_the_listing_keys_from_the_summary_only(tmp_path):
    path = save_run(
        tmp_path / "run",
        CONFIG,
        make_records(),
        summary(runs=["A", "B"], tasks=["t"], title="Mine", status="stopped", steps=3),
    )
    (path / "config.json").write_text("corrupt")  # not needed when the summary says it all
    (path / "metrics.parquet").write_text("corrupt")  # never read by a listing
    runs, notes = list_runs(tmp_path)
    assert notes == []
    assert runs == [RunInfo(path, "run", "Mine", "2026-11-22T13:45:01+00:00", "stopped", 3, ["A", "B"], ["t"])]


def test_list_runs_gives_defaults_for_a_summary_without_listing_keys(tmp_path):
    path = save_run(tmp_path / "old", CONFIG, make_records(), {"steps": 4, "best": {}})
    [info], notes = list_runs(tmp_path)
    assert notes == []
    assert (info.title, info.status, info.steps) == ("SGD lr=0.05 vs Adam", "finished", 4)
    assert (info.runs, info.tasks) == (["SGD lr=0.05", "Adam"], ["price", "click"])
    written = datetime.fromtimestamp((path / "summary.json").stat().st_mtime, UTC)
    assert info.created == written.isoformat(timespec="seconds")


def test_list_runs_of_a_missing_folder_is_empty_and_the_default_folder_is_runs_dir(tmp_path, monkeypatch):
    assert list_runs(tmp_path / "missing") == ([], [])
    monkeypatch.setenv("MTLVIZ_RUNS_DIR", str(tmp_path))
    save_run(tmp_path / "only", CONFIG, make_records(), summary())
    assert [r.name for r in list_runs()[0]] == ["only"]


def test_list_runs_limit_keeps_the_newest_and_says_how_many_were_left_out(tmp_path):
    for day in range(1, 6):
        save_run(tmp_path / f"day{day}", CONFIG, make_records(), summary(f"2026-01-0{day}T00:00:00+00:00"))
    runs, notes = list_runs(tmp_path, limit=2)
    assert [r.name for r in runs] == ["day5", "day4"]
    assert notes == ["3 older runs not shown (limit 2)"]


def test_list_runs_never_raises_for_odd_summary_values(tmp_path):
    save_run(
        tmp_path / "odd",
        CONFIG,
        make_records(),
        {"title": 5, "created": "yesterday", "status": None, "steps": "many", "runs": [1], "tasks": "x"},
    )
    [info], notes = list_runs(tmp_path)
    assert notes == []
    assert (info.title, info.status, info.steps, info.runs) == (
        "SGD lr=0.05 vs Adam",
        "finished",
        0,
        list(CONFIG.labels),
    )
    assert not math.isnan(datetime.fromisoformat(info.created).timestamp())


def test_a_runs_path_that_is_a_file_says_so(tmp_path):
    path = tmp_path / "runs"
    path.write_text("x")
    assert list_runs(path) == ([], [f"{path}: expected a folder of saved runs, found a file"])
