"""One session cannot take the server down: budgets before Start, isolated jobs, caps, the server's own stops."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, buttons, has_summary, page_text, run_until, started_app

from mtlviz import jobs as job_module
from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TrainConfig
from mtlviz.jobs import TrainingJob
from mtlviz.share import QUERY_KEY, encode_config
from mtlviz.ui import page

APP_TIMEOUT = 60


def huge(batch: int = 4096) -> ExperimentConfig:
    return ExperimentConfig(
        tasks=SyntheticTasks(input_dim=256),
        model=ModelConfig(hidden=1024, depth=8),
        optimizers=tuple(OptimizerConfig("adam", 0.001, label=f"Adam {i}") for i in range(8)),
        train=TrainConfig(steps=10, batch_size=batch, eval_every=5),
    )


def opened(config: ExperimentConfig) -> AppTest:
    """A fresh session opened from a link to `config`."""
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    at.query_params[QUERY_KEY] = encode_config(config)
    at.run()
    assert not at.exception, at.exception
    return at


def errors(at: AppTest) -> str:
    return " ".join(str(e.value) for e in at.error)


def test_an_experiment_over_the_servers_memory_budget_cannot_start(
    jobs: list[TrainingJob], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTLVIZ_JOB_MEMORY_MB", "1000")
    at = opened(huge())
    text = errors(at)
    assert "Cannot start yet" in text and "too big for this machine" in text, page_text(at)
    assert "over the budget of 1.05 GB per run" in text
    assert buttons(at)["start"] is False and jobs == []


def test_a_run_past_the_servers_time_budget_cannot_start(
    jobs: list[TrainingJob], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MTLVIZ_JOB_SECONDS", "5")
    at = started_app(APP_TIMEOUT)
    at.number_input(key="steps").set_value(100_000).run()
    text = errors(at)
    assert "time: projected" in text and "the budget per run is 5 s" in text, page_text(at)
    assert buttons(at)["start"] is False


def test_a_run_out_of_memory_fails_alone_while_another_session_trains_on(
    jobs: list[TrainingJob], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The estimate would refuse it; with the check out of the way, the worker's own limit is what is tested.
    monkeypatch.setattr(page, "budget_problems", lambda config, choice: [])
    monkeypatch.setenv("MTLVIZ_JOB_MEMORY_MB", "300")
    greedy = opened(huge(batch=2048))
    other = started_app(APP_TIMEOUT)
    other.number_input(key="steps").set_value(300).run()
    greedy.button(key="start").click().run()
    other.button(key="start").click().run()
    run_until(greedy, lambda a: "Training failed" in errors(a), 120, "out-of-memory failure")
    assert "out of memory" in errors(greedy)
    run_until(other, has_summary, 120, "summary of the other session")
    assert [job.status for job in jobs] == ["failed", "finished"]


def test_a_run_stopped_by_the_server_says_why(jobs: list[TrainingJob], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(page, "budget_problems", lambda config, choice: [])
    monkeypatch.setenv("MTLVIZ_JOB_SECONDS", "1")
    at = started_app(APP_TIMEOUT)
    at.number_input(key="steps").set_value(100_000).run()
    at.button(key="start").click().run()
    run_until(at, lambda a: any("Stopped by the server" in w.value for w in a.warning), 60, "server's stop")
    warning = next(w.value for w in at.warning if "Stopped by the server" in w.value)
    assert "it reached this server's time budget of 1 s per run" in warning
    run_until(at, has_summary, 30, "summary of what was trained")


def test_one_person_cannot_hold_every_slot(jobs: list[TrainingJob], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(page, "client_address", lambda: "10.1.2.3")
    monkeypatch.setattr(job_module.CLIENTS, "cap", 1)
    first, second = started_app(APP_TIMEOUT), started_app(APP_TIMEOUT)
    first.number_input(key="steps").set_value(100_000).run()
    first.button(key="start").click().run()
    second.button(key="start").click().run()
    assert "Not started: you already have 1 run training or waiting (at most 1 per person" in errors(second)
    assert len(jobs) == 1


def test_a_link_with_a_large_validation_fraction_opens(jobs: list[TrainingJob]) -> None:
    at = opened(ExperimentConfig(tasks=SyntheticTasks(val_fraction=0.8)))
    assert at.slider(key="val_fraction").value == pytest.approx(0.8)
    assert not at.error
