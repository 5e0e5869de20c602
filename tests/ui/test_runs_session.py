"""Saved runs right after they end: a job is finished only once its save has finished, and on a
shared server (MTLVIZ_RUNS_VISIBLE=session) this session's runs are listed however many others
saved newer ones."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_app import started_app

from mtlviz import run as run_module
from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TrainConfig
from mtlviz.jobs import FINISHED, TrainingJob
from mtlviz.store import SUMMARY_FILE, list_runs, runs_dir

SAVE_SECONDS = 1.0


def small_config() -> ExperimentConfig:
    return ExperimentConfig(
        tasks=SyntheticTasks(num_samples=300),
        model=ModelConfig(hidden=8, depth=1),
        optimizers=(OptimizerConfig("sgd", 0.05, "SGD"),),
        train=TrainConfig(steps=10, batch_size=32, eval_every=5, device="cpu"),
    )


def test_a_job_is_finished_only_once_its_save_has_finished(runs_directory, monkeypatch):
    save = run_module.save_run

    def slow_save(*args, **kwargs):
        time.sleep(SAVE_SECONDS)  # a slow disk: the page must not call the job finished meanwhile
        return save(*args, **kwargs)

    monkeypatch.setattr(run_module, "save_run", slow_save)
    job = TrainingJob(small_config(), save_to=runs_directory).start()
    seen = []
    deadline = time.monotonic() + 60
    while not job.ended and time.monotonic() < deadline:
        seen.append((job.status, job.saved))
        time.sleep(0.01)
    job.join(timeout=30)
    assert job.status == FINISHED and job.saved is not None, job.save_error
    assert not [status for status, saved in seen if status == FINISHED and saved is None]
    assert (job.saved / SUMMARY_FILE).is_file()
    # Listed as soon as it is finished.
    assert [r.path for r in list_runs(runs_directory)[0]] == [job.saved]


def test_an_uploaded_table_is_kept_with_the_run_the_job_saves(runs_directory):
    job = TrainingJob(small_config(), save_to=runs_directory, table_file=("my data.csv", b"a,b\n1,2\n")).start()
    job.join(timeout=60)
    assert job.saved is not None, job.save_error
    assert (job.saved / "data" / "my data.csv").read_bytes() == b"a,b\n1,2\n"
    assert json.loads((job.saved / "table.json").read_text())["name"] == "my data.csv"


def fake_run(root: Path, name: str, created: str) -> Path:
    """A run directory as listings read it: summary.json alone."""
    path = root / name
    path.mkdir(parents=True)
    summary = {"title": name, "created": created, "status": "finished", "steps": 10, "runs": ["SGD"], "tasks": ["a"]}
    (path / SUMMARY_FILE).write_text(json.dumps(summary))
    return path


def test_in_session_mode_this_sessions_run_is_listed_behind_200_newer_runs_of_others(
    runs_directory, monkeypatch: pytest.MonkeyPatch, jobs
):
    monkeypatch.setenv("MTLVIZ_RUNS_VISIBLE", "session")
    root = runs_dir()
    mine = fake_run(root, "20260101-000000-mine", "2026-01-01T00:00:00+00:00")
    for i in range(201):
        fake_run(root, f"20260102-{i:06d}-other", f"2026-01-02T00:{i // 60:02d}:{i % 60:02d}+00:00")
    at = started_app()
    at.session_state["own_runs"] = [str(mine)]
    at.segmented_control(key="results").set_value("saved").run()
    assert not at.exception, at.exception
    options = at.multiselect(key="open_runs").options  # as shown: "title · ..."
    assert [o.split(" · ")[0] for o in options] == ["20260101-000000-mine"]
