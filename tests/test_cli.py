"""The headless CLI, run as users run it: `python -m mtlviz` in a subprocess.

Each subprocess pays a few seconds of imports, so the ones this module needs are
started together by one fixture and run side by side; the cases that need only
the return code and the printed text run in-process through `main`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mtlviz import budget
from mtlviz import cli as cli_module
from mtlviz import run as run_module
from mtlviz.cli import main
from mtlviz.config import ExperimentConfig
from mtlviz.engine import Engine
from mtlviz.errors import ConfigError
from mtlviz.records import COLUMNS, without_clocks
from mtlviz.store import list_runs, load_run, load_summary, save_run

ROOT = Path(__file__).resolve().parents[1]
STEPS = 60

SMALL_CONFIG = {
    "tasks": {
        "targets": [{"name": "price"}, {"name": "click", "type": "classification", "num_classes": 3}],
        "num_samples": 400,
        "input_dim": 8,
    },
    "model": {"sharing": "hard", "hidden": 16, "depth": 1},
    "optimizers": [{"name": "sgd", "lr": 0.05, "momentum": 0.9}, {"name": "adam", "lr": 0.01, "label": "Adam"}],
    "train": {"steps": STEPS, "batch_size": 32, "eval_every": 25, "seed": 3, "device": "cpu"},
}
LABELS = ("SGD lr=0.05", "Adam")
TASKS = ("price", "click")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    out: Path


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mtlviz", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> dict[str, Result]:
    """Every subprocess of this module, started at once and awaited together."""
    base = tmp_path_factory.mktemp("cli")
    config_path = base / "config.json"
    config_path.write_text(json.dumps(SMALL_CONFIG), encoding="utf-8")
    bad_path = base / "bad.json"
    bad_path.write_text(json.dumps({**SMALL_CONFIG, "train": {"steps": 0}}), encoding="utf-8")
    jobs = {
        "first": (base / "first", ["run", str(config_path), "--out", str(base / "first"), "--quiet"]),
        "second": (base / "second", ["run", str(config_path), "--out", str(base / "second"), "--quiet"]),
        "bad": (base / "bad", ["run", str(bad_path), "--out", str(base / "bad"), "--quiet"]),
    }
    processes = {name: (out, start(*args)) for name, (out, args) in jobs.items()}
    results = {}
    try:
        for name, (out, process) in processes.items():
            stdout, stderr = process.communicate(timeout=120)
            results[name] = Result(process.returncode, stdout, stderr, out)
    finally:
        for _, process in processes.values():
            if process.poll() is None:  # only after a timeout: leave no stray run behind
                process.kill()
                process.communicate()
    return results


@pytest.fixture(scope="module")
def metrics(cli) -> pd.DataFrame:
    first = cli["first"]
    assert first.returncode == 0, first.stderr
    return pd.read_parquet(first.out / "metrics.parquet")


def test_run_writes_the_parsed_config(cli):
    result = cli["first"]
    assert result.returncode == 0, result.stderr
    written = ExperimentConfig.from_json((result.out / "config.json").read_text(encoding="utf-8"))
    assert written == ExperimentConfig.from_dict(SMALL_CONFIG)
    assert written.labels == LABELS


TASK_METRICS = {"train_loss", "val_loss", "val_r2", "val_accuracy"}


def test_metrics_have_the_record_schema(metrics):
    assert list(metrics.columns) == COLUMNS
    assert set(metrics["run"]) == set(LABELS)
    assert set(metrics["metric"]) >= TASK_METRICS
    per_task = metrics[metrics["metric"].isin(TASK_METRICS)]
    assert set(per_task["task"]) == set(TASKS)
    assert (per_task["layer"] == "").all()  # task-level metrics have no layer
    assert metrics["value"].notna().all()
    assert (metrics["seconds"] >= 0).all()


def test_train_loss_is_recorded_for_every_step_run_and_task(metrics):
    train = metrics[metrics["metric"] == "train_loss"]
    assert len(train) == STEPS * len(LABELS) * len(TASKS)
    for (run, task), frame in train.groupby(["run", "task"]):
        assert sorted(frame["step"]) == list(range(1, STEPS + 1)), (run, task)


def test_validation_is_recorded_at_start_every_eval_and_end(metrics):
    val = metrics[metrics["metric"] == "val_loss"]
    steps = {key: sorted(frame["step"]) for key, frame in val.groupby(["run", "task"])}
    assert steps == {(run, task): [0, 25, 50, STEPS] for run in LABELS for task in TASKS}
    scores = metrics[metrics["metric"].isin(["val_r2", "val_accuracy"])]
    assert set(scores.loc[scores["metric"] == "val_r2", "task"]) == {"price"}
    assert set(scores.loc[scores["metric"] == "val_accuracy", "task"]) == {"click"}


def test_run_prints_a_summary_table(cli):
    lines = cli["first"].stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "val loss" in line)
    table = lines[header + 1 : header + 1 + len(LABELS) * len(TASKS)]
    for task in TASKS:
        for label in LABELS:
            assert sum(task in line and label in line and "ok" in line for line in table) == 1, (task, label)
    assert sum("*" in line for line in table) == len(TASKS)  # one best run per task
    assert "metrics.parquet" in lines[-1]


def test_quiet_run_writes_no_progress_bar(cli):
    assert "steps/s" not in cli["first"].stderr
    assert "Traceback" not in cli["first"].stderr


def test_the_same_config_gives_identical_metrics(cli, metrics):
    second = cli["second"]
    assert second.returncode == 0, second.stderr
    again = pd.read_parquet(second.out / "metrics.parquet")
    pd.testing.assert_frame_equal(without_clocks(metrics), without_clocks(again))


def test_a_bad_config_exits_2_with_the_message_and_no_traceback(cli):
    result = cli["bad"]
    assert result.returncode == 2
    assert result.stderr.startswith("error: train.steps: ")
    assert "found 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not result.out.exists()


# ------------------------------------------------------------------------ in-process


def test_example_config_prints_a_valid_config(capsys):
    assert main(["example-config"]) == 0
    captured = capsys.readouterr()
    assert ExperimentConfig.from_json(captured.out) == ExperimentConfig()
    assert captured.err == ""


def expected_message(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.from_json(text)
    return str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({**SMALL_CONFIG, "modle": {}}),
        json.dumps({**SMALL_CONFIG, "model": {"depth": 99}}),
        json.dumps({**SMALL_CONFIG, "optimizers": [{"name": "sgd", "lr": 0.1, "betas": [0.9, 0.99]}]}),
        '{"train": {"steps": 10,}}',
    ],
    ids=["unknown_key", "out_of_range", "unknown_option", "invalid_json"],
)
def test_invalid_configs_exit_2_with_the_validation_message(tmp_path, capsys, text):
    config = tmp_path / "config.json"
    config.write_text(text, encoding="utf-8")
    code = main(["run", str(config), "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == f"error: {expected_message(text)}\n"
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


def test_a_missing_config_file_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    code = main(["run", str(missing), "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith(f"error: cannot read config {missing}")
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------ saved runs


def strict_json(path: Path) -> dict:
    def reject(constant):
        raise AssertionError(f"{path} holds the non-standard JSON constant {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def test_run_writes_a_strict_summary_with_the_listing_keys(cli):
    result = cli["first"]
    summary = strict_json(result.out / "summary.json")
    assert summary["title"] == "SGD lr=0.05 vs Adam"
    assert (summary["status"], summary["steps"]) == ("finished", STEPS)
    assert summary["runs"] == list(LABELS)
    assert summary["tasks"] == list(TASKS)
    created = datetime.fromisoformat(summary["created"])
    assert created.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - created).total_seconds()) < 600
    assert set(summary["best"]) == set(TASKS)


def test_run_without_out_writes_a_new_directory_in_the_runs_folder(tmp_path, runs_directory, capsys):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({**SMALL_CONFIG, "train": {**SMALL_CONFIG["train"], "steps": 5}}))
    assert main(["run", str(config_path), "--quiet"]) == 0
    assert main(["run", str(config_path), "--quiet"]) == 0
    first, second = sorted(runs_directory.iterdir())
    # The same title: the names differ by their time, or by a -2 suffix within one second.
    for path in (first, second):
        assert re.fullmatch(r"\d{8}-\d{6}-sgd-lr-0-05-vs-adam(-2)?", path.name)
    for path in (first, second):
        config, _ = load_run(path)
        assert config.train.steps == 5
        assert load_summary(path)["status"] == "finished"
    runs, notes = list_runs(runs_directory)
    assert sorted(r.name for r in runs) == [first.name, second.name]
    assert notes == []
    out = capsys.readouterr().out
    assert f"wrote {first}" in out
    assert f"wrote {second}" in out


def test_rerun_of_a_saved_run_reproduces_its_metrics(cli, metrics, runs_directory, capsys):
    assert main(["rerun", str(cli["first"].out), "--quiet"]) == 0
    [again_path] = runs_directory.iterdir()
    config, again = load_run(again_path)
    assert config == ExperimentConfig.from_dict(SMALL_CONFIG)
    # The same config and seed give the same numbers; only the wall-clock times differ.
    pd.testing.assert_frame_equal(without_clocks(metrics), without_clocks(again))
    assert f"wrote {again_path}" in capsys.readouterr().out


def test_rerun_into_an_explicit_directory(cli, tmp_path, capsys):
    out = tmp_path / "copy"
    assert main(["rerun", str(cli["first"].out), "--out", str(out), "--quiet"]) == 0
    assert load_summary(out)["steps"] == STEPS
    capsys.readouterr()


@pytest.mark.parametrize("make", ["empty_dir", "missing"])
def test_rerun_of_a_directory_without_config_exits_2_with_one_line(tmp_path, runs_directory, capsys, make):
    run_dir = tmp_path / "not-a-run"
    if make == "empty_dir":
        run_dir.mkdir()
    assert main(["rerun", str(run_dir), "--quiet"]) == 2
    captured = capsys.readouterr()
    found = "no config.json in it" if make == "empty_dir" else "no such directory"
    assert captured.err == f"error: {run_dir}: expected a saved run directory, found {found}\n"
    assert captured.out == ""
    assert not runs_directory.exists()


class InterruptedAtOnce(Engine):
    """Interrupted (as by Ctrl-C) before its first chunk, the step-0 evaluation, comes out."""

    def run(self, stop=None, **options):
        raise KeyboardInterrupt
        yield  # a generator, as Engine.run is


def test_interrupt_before_anything_was_recorded_saves_nothing(tmp_path, runs_directory, monkeypatch, capsys):
    monkeypatch.setattr(run_module, "Engine", InterruptedAtOnce)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(SMALL_CONFIG))
    assert main(["run", str(config_path), "--quiet"]) == 130
    assert "nothing saved" in capsys.readouterr().err
    assert not runs_directory.exists()


class SignalledEngine(Engine):
    """Sends this process SIGINT, as a terminal's Ctrl-C does, once two chunks have come out."""

    def run(self, stop=None, **options):
        for i, chunk in enumerate(super().run(stop)):
            if i == 2:
                os.kill(os.getpid(), signal.SIGINT)
            yield chunk


def test_ctrl_c_saves_what_was_recorded_as_a_stopped_run_and_exits_130(tmp_path, runs_directory, monkeypatch, capsys):
    # Python turns SIGINT into KeyboardInterrupt unless it started with the signal ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(run_module, "Engine", SignalledEngine)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(SMALL_CONFIG))
    try:
        code = main(["run", str(config_path), "--quiet"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    [path] = runs_directory.iterdir()
    _, records = load_run(path)
    summary = strict_json(path / "summary.json")
    last = int(records.loc[records["metric"] == "train_loss", "step"].max())
    assert (summary["status"], summary["steps"]) == ("stopped", last)
    assert 0 < last < STEPS
    assert [r.status for r in list_runs(runs_directory)[0]] == ["stopped"]
    assert f"stopped at step {last} of {STEPS}" in capsys.readouterr().err


def saved(root: Path, name: str, created: str, status: str, steps: int) -> None:
    summary = {"title": name, "created": created, "status": status, "steps": steps, "runs": ["SGD", "Adam"]}
    save_run(root / name, ExperimentConfig.from_dict(SMALL_CONFIG), pd.DataFrame({"run": ["SGD"]}), summary)


def test_runs_lists_saved_runs_newest_first_with_notes(tmp_path, capsys):
    saved(tmp_path, "20260101-000000-old", "2026-01-01T00:00:00+00:00", "finished", 60)
    saved(tmp_path, "20260301-000000-new", "2026-03-01T00:00:00+00:00", "stopped", 1234)
    (tmp_path / "20260201-000000-crashed").mkdir()
    assert main(["runs", "--dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"2 saved runs in {tmp_path}, newest first"
    assert lines[1].split() == ["name", "status", "steps", "configurations", "experiment"]
    assert lines[2].split()[:5] == ["20260301-000000-new", "stopped", "1234", "SGD,", "Adam"]
    assert lines[3].split()[:5] == ["20260101-000000-old", "finished", "60", "SGD,", "Adam"]
    # What the experiment was, from its config (these summaries predate descriptions).
    assert lines[2].endswith("synthetic, 2 tasks, relatedness 0.5 · Hard sharing · Static weights · seed 3 · 60 steps")
    assert lines[4:] == ["note: 20260201-000000-crashed: incomplete (no summary.json)"]
    column = lines[1].index("status")  # columns line up
    assert lines[2][column:].startswith("stopped")
    assert lines[3][column:].startswith("finished")


def test_runs_reads_the_runs_directory_from_the_environment(runs_directory, capsys):
    assert main(["runs"]) == 0
    assert capsys.readouterr().out == f"no saved runs in {runs_directory}\n"
    saved(runs_directory, "only", "2026-01-01T00:00:00+00:00", "finished", 60)
    assert main(["runs"]) == 0
    assert "only" in capsys.readouterr().out.splitlines()[2]


def test_run_onto_a_folder_that_is_not_empty_exits_2_unless_asked_to_replace(tmp_path, capsys):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({**SMALL_CONFIG, "train": {**SMALL_CONFIG["train"], "steps": 5}}))
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    assert main(["run", str(config_path), "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: --out {out}: expected a new or empty folder, found a folder with 1 entry. Pass --replace to "
        "overwrite the run in it, or choose another folder\n"
    )
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    # A finished run's folder is not empty either; --replace (or --force) writes the new run over it.
    assert main(["run", str(config_path), "--out", str(out), "--quiet", "--replace"]) == 0
    assert main(["run", str(config_path), "--out", str(out), "--quiet"]) == 2
    assert main(["run", str(config_path), "--out", str(out), "--quiet", "--force"]) == 0
    assert load_summary(out)["steps"] == 5
    assert (out / "notes.txt").read_text() == "my notes"  # only the run's own files are replaced
    capsys.readouterr()


def table_run(folder: Path) -> Path:
    """A CSV and a config naming it by a relative path, in `folder`; the config's path."""
    folder.mkdir()
    rows = [f"{i % 7 / 7:.3f},{(i * 3) % 11 / 11:.3f},{(i % 7) * 0.5 + i % 3:.3f},{i % 2}" for i in range(120)]
    (folder / "sales.csv").write_text("x1,x2,price,bought\n" + "\n".join(rows) + "\n")
    config = {
        "tasks": {"source": "table", "path": "sales.csv", "targets": [{"name": "price"}, {"name": "bought"}]},
        "model": {"hidden": 8, "depth": 1},
        "optimizers": [{"name": "sgd", "lr": 0.05}],
        "train": {"steps": 5, "batch_size": 16, "eval_every": 5, "device": "cpu"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder / "config.json"


def test_rerun_of_a_run_on_a_table_file_works_from_any_folder(tmp_path, monkeypatch, capsys):
    config_path = table_run(tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    assert main(["run", str(config_path), "--out", str(tmp_path / "first"), "--quiet"]) == 0
    # The table travels with the run: a copy, and which file it is.
    copy = tmp_path / "first" / "data" / "sales.csv"
    assert copy.read_bytes() == (tmp_path / "project" / "sales.csv").read_bytes()
    assert json.loads((tmp_path / "first" / "table.json").read_text())["name"] == "sales.csv"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["rerun", str(tmp_path / "first"), "--out", str(tmp_path / "again"), "--quiet"]) == 0, (
        capsys.readouterr().err
    )
    _, first = load_run(tmp_path / "first")
    _, again = load_run(tmp_path / "again")
    pd.testing.assert_frame_equal(without_clocks(first), without_clocks(again))
    assert (tmp_path / "again" / "data" / "sales.csv").is_file()  # and a rerun's rerun works too


def test_rerun_without_the_tables_copy_says_which_file_to_put_where(tmp_path, monkeypatch, capsys):
    config_path = table_run(tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    assert main(["run", str(config_path), "--out", str(tmp_path / "first"), "--quiet"]) == 0
    digest = json.loads((tmp_path / "first" / "table.json").read_text())["sha256"]
    (tmp_path / "first" / "data" / "sales.csv").unlink()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["rerun", str(tmp_path / "first"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"sales.csv (sha256 {digest})" in err
    assert f"Put that file at {tmp_path / 'first' / 'data' / 'sales.csv'}" in err


@pytest.mark.parametrize("where", ["runs folder is a file", "--out under a file"])
def test_a_runs_folder_that_cannot_hold_the_run_is_refused_before_training(tmp_path, monkeypatch, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(SMALL_CONFIG))
    trained = []
    monkeypatch.setattr(run_module, "Engine", lambda *args, **kwargs: trained.append(1))
    if where == "runs folder is a file":
        monkeypatch.setenv("MTLVIZ_RUNS_DIR", str(blocker))
        args = ["run", str(config_path), "--quiet"]
    else:
        args = ["run", str(config_path), "--quiet", "--out", str(blocker / "run")]
    assert main(args) == 2
    assert f"{blocker}: expected a folder to save runs in, found a file" in capsys.readouterr().err
    assert trained == []  # nothing trained


# ------------------------------------------------------------------------ the memory budget

BIG_MODEL = {**SMALL_CONFIG, "model": {"sharing": "hard", "hidden": 1024, "depth": 4}}


@pytest.fixture
def machine_of(monkeypatch):
    """Pretend this machine has `bytes` of memory (the CLI's budget is 80% of it)."""

    def make(size: int) -> None:
        monkeypatch.setattr(budget, "physical_memory", lambda: size)

    return make


@pytest.fixture
def no_training(monkeypatch) -> list:
    """Records every training the CLI starts (and starts none)."""
    started = []
    monkeypatch.setattr(cli_module, "run_experiment", lambda *args, **kwargs: started.append(args))
    return started


@pytest.mark.parametrize("command", ["run", "rerun"])
def test_a_run_too_big_for_the_machine_is_refused_in_one_line_before_training(
    tmp_path, runs_directory, capsys, machine_of, no_training, command
):
    machine_of(100_000_000)  # a budget of 80 MB
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(BIG_MODEL), encoding="utf-8")
    target = folder / "config.json" if command == "run" else folder
    code = main([command, str(target), "--out", str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    config = ExperimentConfig.from_dict(BIG_MODEL)
    estimate = budget.estimate_run(config)
    assert code == 2
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n")
    assert captured.err.startswith("error: this run is too big for this machine: memory: it needs about ")
    assert estimate.describe() in captured.err
    assert "over the budget of 80 MB per run" in captured.err
    assert "smaller width (1,024), depth (4) or batch (32)" in captured.err
    assert captured.out == ""
    assert no_training == []
    assert not (tmp_path / "out").exists() and not runs_directory.exists()


def test_a_run_that_fits_the_machine_trains(tmp_path, capsys, machine_of):
    machine_of(1_000_000_000)  # 800 MB: the small config needs a few
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({**SMALL_CONFIG, "train": {**SMALL_CONFIG["train"], "steps": 5}}))
    assert main(["run", str(config_path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert (tmp_path / "out" / "metrics.parquet").is_file()
    capsys.readouterr()


def test_a_table_is_prepared_once_and_estimated_with_its_prepared_sizes(tmp_path, monkeypatch, capsys, machine_of):
    import mtlviz.data.table as table_module

    prepared = []
    build = table_module.build_table_taskset

    def counted(*args, **kwargs):
        prepared.append(args[2])  # the seed
        return build(*args, **kwargs)

    monkeypatch.setattr(table_module, "build_table_taskset", counted)
    estimated = []
    estimate_run = budget.estimate_run
    monkeypatch.setattr(cli_module, "estimate_run", lambda *a, **k: estimated.append(k) or estimate_run(*a, **k))
    config_path = table_run(tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    machine_of(10_000_000_000)
    assert main(["run", str(config_path), "--out", str(tmp_path / "first"), "--quiet"]) == 0, capsys.readouterr()
    assert prepared == [0]  # for the estimate, and training used that preparation
    [sizes] = estimated
    assert len(sizes["output_dims"]) == 2 and sizes["input_dim"] == 2 and 80 <= sizes["train_rows"] < 120
    # With too little memory even the table's run is refused, after preparing it and before training.
    machine_of(1_000)
    assert main(["run", str(config_path), "--out", str(tmp_path / "second"), "--quiet"]) == 2
    assert "over the budget of 800 bytes per run" in capsys.readouterr().err
    assert not (tmp_path / "second").exists()
