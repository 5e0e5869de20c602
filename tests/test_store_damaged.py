"""Saved runs in a runs folder others can write to (a classroom server): damaged files, symbolic links,
files left by killed saves, runs saved in the same second. Listing never raises; opening a run gives
the run or "Cannot open <folder> because <what was expected, what was found>", never a server path."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TableTasks, TrainConfig
from mtlviz.errors import DataError
from mtlviz.run import run_experiment
from mtlviz.store import (
    STALE_AFTER_SECONDS,
    keep_table,
    list_runs,
    load_metadata,
    load_run,
    load_summary,
    new_run_dir,
    run_summary,
    save_run,
    sweep_temporary_files,
    table_for_rerun,
)

pytestmark = pytest.mark.usefixtures("one_thread")

NOW = datetime(2026, 11, 22, 13, 45, 1, tzinfo=UTC)
CANNOT_OPEN = re.compile(r"Cannot open (?P<name>[^/\s]+) because \S.+")


def small_run(folder: Path) -> Path:
    """Train a real small run and save it in `folder`: two configurations, one of which diverges."""
    config = ExperimentConfig(
        tasks=SyntheticTasks(num_samples=200),
        model=ModelConfig(hidden=8, depth=1),
        optimizers=(OptimizerConfig("sgd", 0.05, "SGD"), OptimizerConfig("sgd", 1e4, "Huge")),
        train=TrainConfig(steps=20, batch_size=32, eval_every=10, device="cpu"),
    )
    result = run_experiment(config, save_to=lambda: folder)
    assert result.saved == folder, result.save_error
    assert result.metadata.divergences, "the run has a divergence, so damaged divergences mean something"
    return folder


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small run per module, copied by each test that damages it."""
    return small_run(tmp_path_factory.mktemp("base") / "20261122-134501-sgd-vs-huge")


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "server" / "runs"
    root.mkdir(parents=True)
    return root


def copy_of(saved_run: Path, root: Path, name: str | None = None) -> Path:
    return Path(shutil.copytree(saved_run, root / (name or saved_run.name)))


def open_like_the_page(path: Path) -> str | None:
    """What the Saved runs panel does (ui/runs.py _load): the run's config, records and metadata, or the
    message it shows. None when the run opened."""
    try:
        config, _ = load_run(path)
        load_metadata(path, config)
    except DataError as exc:
        return str(exc)
    return None


# -------------------------------------------------------------------------- damage, one per case


def summary_edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        summary = json.loads((path / "summary.json").read_text())
        change(summary)
        (path / "summary.json").write_text(json.dumps(summary))

    return damage


def summary_text(pattern: str, replacement: str) -> Callable[[Path], None]:
    """Edit summary.json as text: for what json.dumps never writes (1e400 reads back as infinity)."""

    def damage(path: Path) -> None:
        text = (path / "summary.json").read_text()
        (path / "summary.json").write_text(re.sub(pattern, replacement, text, count=1))

    return damage


def legacy(change: Callable[[dict], None]) -> Callable[[dict], None]:
    """A summary saved before runs kept their metadata, then damaged: the old keys are read instead."""

    def edit(summary: dict) -> None:
        del summary["metadata"]
        change(summary)

    return edit


def metadata_edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return summary_edit(lambda summary: change(summary["metadata"]))


def metrics_edit(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        records = pd.read_parquet(path / "metrics.parquet")
        change(records).to_parquet(path / "metrics.parquet", index=False)

    return damage


def column(name: str, values: Callable[[pd.DataFrame], object]) -> Callable[[Path], None]:
    return metrics_edit(lambda records: records.assign(**{name: values(records)}))


def every_other(records: pd.DataFrame, value: object, name: str) -> pd.Series:
    return records[name].astype(object).where(records.index % 2 == 0, value)


def write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        target = path / name
        target.unlink()
        target.write_bytes(text if isinstance(text, bytes) else text.encode())

    return damage


def make_folder(name: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        (path / name).unlink()
        (path / name).mkdir()

    return damage


def rows_seed(value: object) -> Callable[[Path], None]:
    return metadata_edit(lambda metadata: metadata["rows"][0].update(seed=value))


# id -> (damage, what happens: "opens", "refused" (listed, not opened) or "skipped" (noted, not listed))
DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    # The known crashing cases first.
    "diverged_runs_as_a_list": (summary_edit(legacy(lambda s: s.update(diverged_runs=["Huge"]))), "refused"),
    "diverged_runs_as_a_string": (summary_edit(legacy(lambda s: s.update(diverged_runs="Huge"))), "refused"),
    "seed_column_as_text": (column("seed", lambda r: r["seed"].astype(str) + "x"), "refused"),
    "step_column_as_text": (column("step", lambda r: r["step"].astype(str)), "refused"),
    "null_task_column": (column("task", lambda r: None), "refused"),
    # Seeds elsewhere.
    "seed_column_with_nulls": (column("seed", lambda r: every_other(r, None, "seed").astype(float)), "refused"),
    "text_seed_in_metadata": (rows_seed("abc"), "refused"),
    "fractional_seed_in_metadata": (rows_seed(1.5), "refused"),
    "boolean_seed_in_metadata": (rows_seed(True), "refused"),
    "text_seed_in_old_divergences": (
        summary_edit(legacy(lambda s: s.update(diverged_runs={"Huge": {"abc": 3}}))),
        "refused",
    ),
    "old_divergence_as_text": (summary_edit(legacy(lambda s: s.update(diverged="Huge"))), "refused"),
    # The other columns of metrics.parquet.
    "some_null_runs": (column("run", lambda r: every_other(r, None, "run")), "refused"),
    "null_layer_column": (column("layer", lambda r: None), "refused"),
    "numeric_metric_column": (column("metric", lambda r: 3), "refused"),
    "text_value_column": (column("value", lambda r: r["value"].astype(str)), "refused"),
    "gradient_cosine_of_no_pair": (column("task", lambda r: r["task"].astype(str).str.replace(" ↔ ", "-")), "refused"),
    "metrics_not_parquet": (write("metrics.parquet", b"PAR1 not really parquet"), "refused"),
    "metrics_a_folder": (make_folder("metrics.parquet"), "refused"),
    # The rest of the metadata.
    "metadata_null": (summary_edit(lambda s: s.update(metadata=None)), "refused"),
    "metadata_rows_as_text": (metadata_edit(lambda m: m.update(rows="abc")), "refused"),
    "metadata_rows_of_text": (metadata_edit(lambda m: m.update(rows=["abc"])), "refused"),
    "metadata_row_without_lr": (metadata_edit(lambda m: m["rows"][0].pop("lr")), "refused"),
    "metadata_lr_as_text": (metadata_edit(lambda m: m["rows"][0].update(lr="fast")), "refused"),
    "metadata_divergences_as_object": (metadata_edit(lambda m: m.update(divergences={"a": 1})), "refused"),
    "metadata_loss_too_large_for_a_float": (
        metadata_edit(lambda m: m["divergences"][0].update(loss=10**400)),
        "refused",
    ),
    "metadata_losses_as_list": (metadata_edit(lambda m: m["divergences"][0].update(losses=[1.0])), "refused"),
    "metadata_parameters_infinite": (summary_text(r'"parameters": \d+', '"parameters": 1e400'), "refused"),
    "metadata_versions_as_list": (metadata_edit(lambda m: m.update(versions=[1, 2])), "refused"),
    "metadata_tasks_as_text": (metadata_edit(lambda m: m.update(tasks="abc")), "refused"),
    "metadata_sharing_as_text": (metadata_edit(lambda m: m.update(has_shared_parameters="yes")), "refused"),
    # config.json
    "config_a_list": (write("config.json", "[]"), "refused"),
    "config_nested_too_deeply": (write("config.json", "[" * 100_000 + "]" * 100_000), "refused"),
    "config_not_utf8": (write("config.json", b"\xff\xfe\x00"), "refused"),
    "config_a_named_pipe": (lambda p: ((p / "config.json").unlink(), os.mkfifo(p / "config.json")), "refused"),
    # summary.json: listings read it
    "summary_nested_too_deeply": (write("summary.json", "[" * 100_000 + "]" * 100_000), "skipped"),
    "summary_integer_too_long": (write("summary.json", '{"steps": ' + "9" * 5000 + "}"), "skipped"),
    "summary_a_folder": (make_folder("summary.json"), "skipped"),
    "summary_too_large": (write("summary.json", '{"title": "' + "x" * (17 * 2**20) + '"}'), "skipped"),
    "summary_a_named_pipe": (lambda p: ((p / "summary.json").unlink(), os.mkfifo(p / "summary.json")), "skipped"),
    # Odd listing values: the run is listed with defaults and opens.
    "steps_too_large_for_a_table": (summary_edit(lambda s: s.update(steps=10**30)), "opens"),
    "created_out_of_range": (summary_edit(lambda s: s.update(created="9999-12-31T23:59:59-23:59")), "opens"),
    "title_a_list": (summary_edit(lambda s: s.update(title=["x"], description=[1])), "opens"),
    # Harmless oddities: opened as they are.
    "no_records": (metrics_edit(lambda r: r.iloc[:0]), "opens"),
    "diverged_runs_as_a_list_beside_metadata": (summary_edit(lambda s: s.update(diverged_runs=["Huge"])), "opens"),
    "divergence_of_an_unknown_run": (metadata_edit(lambda m: m["divergences"][0].update(run="Ghost")), "opens"),
}


def in_a_thread(call: Callable[[], object]) -> object:
    """call(), failing (instead of hanging the test run) if it blocks, e.g. on a named pipe."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "blocked"
    return result[0]


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_run_is_listed_or_noted_and_opens_or_says_why(saved_run, runs_root, case):
    damage, expected = DAMAGES[case]
    path = copy_of(saved_run, runs_root)
    damage(path)

    runs, notes = in_a_thread(lambda: list_runs(runs_root))  # (a) never raises, never blocks

    text = "\n".join(notes)
    assert str(runs_root) not in text and str(runs_root.parent) not in text
    if expected == "skipped":
        assert runs == [] and len(notes) == 1 and notes[0].startswith(f"{path.name}: skipped, summary.json"), notes
        return
    assert [r.path for r in runs] == [path] and notes == []
    assert 0 <= runs[0].steps < 2**63  # a table column can hold it
    message = in_a_thread(lambda: open_like_the_page(path))  # (b) the run, or why not in words
    if expected == "opens":
        assert message is None
        return
    assert message is not None, "a damaged run opened"
    match = CANNOT_OPEN.fullmatch(message)
    assert match and match["name"] == path.name, message
    assert str(runs_root.parent) not in message
    assert "expected" in message or "symbolic link" in message, message


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("diverged_runs_as_a_list", r"summary\.json: expected diverged_runs to be an object .*found a list"),
        ("diverged_runs_as_a_string", r"summary\.json: expected diverged_runs to be an object .*found 'Huge'"),
        ("seed_column_as_text", r"metrics\.parquet: expected column seed to hold integers, found dtype str"),
        ("step_column_as_text", r"metrics\.parquet: expected column step to hold integers, found dtype str"),
        ("null_task_column", r"metrics\.parquet: expected column task to hold text in every row, found \d+ empty"),
        ("text_seed_in_metadata", r"summary\.json: expected metadata\.rows\[0\]\.seed to be an integer, found 'abc'"),
        ("metadata_rows_as_text", r"summary\.json: expected metadata\.rows to be a list, found 'abc'"),
        ("metadata_loss_too_large_for_a_float", r"expected metadata\.divergences\[0\]\.loss to be a number"),
        ("config_a_list", r"config\.json: expected an object, found list"),
    ],
)
def test_the_message_names_the_file_what_was_expected_and_what_was_found(saved_run, runs_root, case, message):
    path = copy_of(saved_run, runs_root)
    DAMAGES[case][0](path)
    found = open_like_the_page(path)
    assert found is not None and found.startswith(f"Cannot open {path.name} because ")
    assert re.search(message, found), found


def test_a_missing_run_folder_says_so_by_name(runs_root):
    with pytest.raises(DataError) as info:
        load_run(runs_root / "nope")
    assert str(info.value) == "Cannot open nope because expected a run folder, found nothing"


def test_an_undamaged_run_still_opens_with_its_divergences(saved_run, runs_root):
    path = copy_of(saved_run, runs_root)
    config, records = load_run(path)
    metadata = load_metadata(path, config)
    assert set(metadata.diverged_runs()) == {"Huge"}
    assert not records.empty and load_summary(path)["status"] == "finished"


# ------------------------------------------------------------------------------ symbolic links


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the runs folder that no saved run may read (think /etc/passwd)."""
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir()
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    return path


def test_a_run_folder_that_is_a_symbolic_link_is_skipped_and_refused(saved_run, runs_root, tmp_path):
    elsewhere = copy_of(saved_run, tmp_path, "elsewhere")
    link = runs_root / "20261122-134501-linked"
    link.symlink_to(elsewhere, target_is_directory=True)
    runs, notes = list_runs(runs_root)
    assert runs == []
    assert notes == [f"{link.name}: skipped, it is a symbolic link; saved runs are plain folders"]
    message = open_like_the_page(link)
    assert message == f"Cannot open {link.name} because it is a symbolic link; saved runs are plain folders"


@pytest.mark.parametrize("name", ["summary.json", "config.json", "metrics.parquet"])
def test_a_run_file_that_is_a_symbolic_link_is_refused(saved_run, runs_root, secret, name):
    path = copy_of(saved_run, runs_root)
    (path / name).unlink()
    (path / name).symlink_to(secret)
    runs, notes = list_runs(runs_root)
    if name == "summary.json":
        assert runs == []
        assert notes == [f"{path.name}: skipped, summary.json is a symbolic link; saved runs are plain files"]
    else:
        assert [r.path for r in runs] == [path] and notes == []
    expected = f"Cannot open {path.name} because {name} is a symbolic link; saved runs are plain files"
    assert open_like_the_page(path) == expected
    if name == "summary.json":
        with pytest.raises(DataError, match=re.escape(expected)):
            load_summary(path)


def test_a_symbolic_link_to_a_valid_summary_is_not_followed_either(saved_run, runs_root, tmp_path):
    """Even a link to a perfectly good summary elsewhere: the listing reads only the run's own files."""
    path = copy_of(saved_run, runs_root)
    real = tmp_path / "real-summary.json"
    shutil.move(path / "summary.json", real)
    (path / "summary.json").symlink_to(real)
    runs, notes = list_runs(runs_root)
    assert runs == [] and "symbolic link" in notes[0]


def table_run(saved_run: Path, root: Path, tmp_path: Path) -> tuple[Path, ExperimentConfig]:
    """A saved run whose config trains on a table file, with its copy kept in data/."""
    path = copy_of(saved_run, root)
    original = tmp_path / "gone" / "sales.csv"
    config, _ = load_run(path)
    table_config = ExperimentConfig.from_dict(
        {**json.loads(config.to_json()), "tasks": {"source": "table", "path": str(original), "targets": ["y"]}}
    )
    keep_table(path, "sales.csv", b"x,y\n1,2\n")
    return path, table_config


def test_a_kept_table_that_is_a_symbolic_link_is_refused(saved_run, runs_root, tmp_path, secret):
    path, config = table_run(saved_run, runs_root, tmp_path)
    assert isinstance(config.tasks, TableTasks)
    assert Path(table_for_rerun(path, config).tasks.path) == (path / "data" / "sales.csv").resolve()
    (path / "data" / "sales.csv").unlink()
    (path / "data" / "sales.csv").symlink_to(secret)
    with pytest.raises(DataError) as info:
        table_for_rerun(path, config)
    assert str(info.value) == (
        f"Cannot open {path.name} because data/sales.csv is a symbolic link; saved runs are plain files"
    )


def test_a_data_folder_that_is_a_symbolic_link_is_refused(saved_run, runs_root, tmp_path, secret):
    path, config = table_run(saved_run, runs_root, tmp_path)
    shutil.rmtree(path / "data")
    (path / "data").symlink_to(secret.parent, target_is_directory=True)
    (secret.parent / "sales.csv").write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match=r"because data is a symbolic link; saved runs are plain folders"):
        table_for_rerun(path, config)


def test_a_table_name_in_table_json_never_leaves_the_run_folder(saved_run, runs_root, tmp_path, secret):
    """table.json names the copy; a name with path parts is reduced to its last part, inside data/."""
    path, config = table_run(saved_run, runs_root, tmp_path)
    info = json.loads((path / "table.json").read_text())
    info["name"] = os.path.relpath(secret, path / "data")  # ../../../../outside/passwd
    (path / "table.json").write_text(json.dumps(info))
    (path / "data" / "sales.csv").rename(path / "data" / "passwd")
    rerun = table_for_rerun(path, config)
    assert Path(rerun.tasks.path) == (path / "data" / "passwd").resolve()


# ------------------------------------------------------------------ files left by killed saves


def temporary_file(folder: Path, target: str, age_seconds: float) -> Path:
    """A file named as _write_atomic names its temporary files, last written `age_seconds` ago."""
    path = folder / f".{target}.{'ab' * 16}.tmp"
    path.write_bytes(b"half a parquet file")
    moment = time.time() - age_seconds
    os.utime(path, (moment, moment))
    return path


def killed_save(root: Path, saved_run: Path) -> tuple[list[Path], list[Path]]:
    """Stale and fresh temporary files in a complete run, an incomplete one and a kept table's folder."""
    complete = copy_of(saved_run, root, "20261122-134501-complete")
    incomplete = root / "20261122-134502-killed"
    incomplete.mkdir()
    (complete / "data").mkdir()
    stale = [
        temporary_file(complete, "metrics.parquet", STALE_AFTER_SECONDS + 60),
        temporary_file(incomplete, "config.json", 3 * STALE_AFTER_SECONDS),
        temporary_file(complete / "data", "sales.csv", 2 * STALE_AFTER_SECONDS),
    ]
    fresh = [
        temporary_file(complete, "summary.json", 5),  # a save under way right now
        temporary_file(incomplete, "metrics.parquet", STALE_AFTER_SECONDS - 60),
    ]
    return stale, fresh


def test_listing_sweeps_stale_temporary_files_and_leaves_fresh_ones(saved_run, runs_root):
    stale, fresh = killed_save(runs_root, saved_run)
    keep = (runs_root / "20261122-134501-complete" / ".notes.tmp", runs_root / "20261122-134501-complete" / "x.tmp")
    for path in keep:  # not a name _write_atomic makes: never touched
        path.write_text("mine")
        os.utime(path, (0, 0))

    runs, notes = list_runs(runs_root)

    assert [r.name for r in runs] == ["20261122-134501-complete"]
    assert notes == ["20261122-134502-killed: incomplete (no summary.json)"]
    assert [p for p in stale if os.path.lexists(p)] == []
    assert all(p.exists() for p in fresh) and all(p.exists() for p in keep)


def test_saving_a_new_run_sweeps_stale_temporary_files(saved_run, runs_root):
    stale, fresh = killed_save(runs_root, saved_run)
    config, records = load_run(saved_run)
    path = new_run_dir(runs_root, "Next", now=NOW)
    save_run(path, config, records, load_summary(saved_run))
    assert [p for p in stale if os.path.lexists(p)] == []
    assert all(p.exists() for p in fresh)


def test_a_sweep_never_follows_links_and_says_what_it_removed(saved_run, runs_root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = temporary_file(outside, "config.json", 3 * STALE_AFTER_SECONDS)
    (runs_root / "20261122-134501-link").symlink_to(outside, target_is_directory=True)
    stale, _ = killed_save(runs_root, saved_run)
    removed = sweep_temporary_files(runs_root)
    assert sorted(removed) == sorted(stale)
    assert victim.exists(), "a file outside the runs folder, reached through a link, was removed"
    assert sweep_temporary_files(runs_root / "missing") == []


# ------------------------------------------------------------------ two runs in the same second


def test_two_runs_with_the_same_title_in_the_same_second_both_list_and_open(saved_run, runs_root):
    config, records = load_run(saved_run)
    metadata = load_metadata(saved_run, config)
    summary = load_summary(saved_run)
    table = pd.DataFrame(summary["final"])
    first = new_run_dir(runs_root, "SGD vs Huge", now=NOW)
    second = new_run_dir(runs_root, "SGD vs Huge", now=NOW)
    assert (first.name, second.name) == ("20261122-134501-sgd-vs-huge", "20261122-134501-sgd-vs-huge-2")
    for path in (first, second):
        written = run_summary(config, table, status="finished", steps=20, metadata=metadata, created=NOW)
        save_run(path, config, records, written)
    runs, notes = list_runs(runs_root)
    assert notes == [] and sorted(r.path for r in runs) == [first, second]
    assert runs[0].created == runs[1].created and runs[0].title == runs[1].title
    assert [open_like_the_page(r.path) for r in runs] == [None, None]
