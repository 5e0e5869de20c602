"""Background jobs: status, stop, failure, slots and the per-session registry."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest
import torch

from mtlviz import jobs, run
from mtlviz.config import ExperimentConfig, OptimizerConfig, TrainConfig
from mtlviz.errors import BudgetError
from mtlviz.jobs import FAILED, FINISHED, QUEUED, RUNNING, STOPPED, ClientJobs, JobRegistry, JobSlots, TrainingJob
from mtlviz.records import without_clocks


def config(steps: int) -> ExperimentConfig:
    return ExperimentConfig(optimizers=(OptimizerConfig("sgd", 0.05),), train=TrainConfig(steps=steps, eval_every=10))


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def test_job_finishes_and_keeps_its_records() -> None:
    job = TrainingJob(config(40), JobSlots(1)).start()
    job.join(30)
    assert job.status == FINISHED
    progress = job.progress()
    assert progress.step == 40 and progress.fraction == 1.0 and progress.eta_seconds is None
    assert job.log.frame()["step"].max() == 40


def test_stop_at_any_moment_and_twice_is_harmless() -> None:
    job = TrainingJob(config(100_000), JobSlots(1)).start()
    wait_for(lambda: job.progress().step > 0)
    job.stop()
    job.stop()
    job.join(30)
    assert job.status == STOPPED
    job.stop()  # after the end: still harmless
    assert job.status == STOPPED
    assert 0 < job.progress().step < 100_000


def test_a_failing_job_says_why_and_frees_its_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    slots = JobSlots(1)

    class Broken:
        def __init__(self, *args):
            raise RuntimeError("boom")

    monkeypatch.setattr(run, "Engine", Broken)
    job = TrainingJob(config(10), slots, isolated=False).start()
    job.join(30)
    assert job.status == FAILED and "boom" in job.error
    assert slots.running == 0


def test_extra_jobs_queue_in_order_and_report_their_position() -> None:
    slots = JobSlots(1)
    first = TrainingJob(config(100_000), slots).start()
    wait_for(lambda: first.status == RUNNING)
    second = TrainingJob(config(20), slots).start()
    third = TrainingJob(config(20), slots).start()
    wait_for(lambda: second.queue_position == 1 and third.queue_position == 2)
    assert second.status == QUEUED and third.status == QUEUED
    first.stop()
    second.join(30)
    third.join(30)
    assert (second.status, third.status) == (FINISHED, FINISHED)
    assert slots.running == 0


def test_stopping_a_queued_job_leaves_the_queue() -> None:
    slots = JobSlots(1)
    blocker = TrainingJob(config(100_000), slots).start()
    wait_for(lambda: blocker.status == RUNNING)
    queued = TrainingJob(config(20), slots).start()
    wait_for(lambda: queued.queue_position == 1)
    queued.stop()
    queued.join(5)
    assert queued.status == STOPPED and queued.queue_position is None
    blocker.stop()
    blocker.join(30)


def test_registry_stop_all_leaves_no_training_thread() -> None:
    registry = JobRegistry()
    a = registry.submit(config(100_000), JobSlots(2))
    wait_for(lambda: a.status == RUNNING)
    assert [j.id for j in registry.active()] == [a.id]
    registry.stop_all()
    a.join(30)
    assert registry.active() == []
    assert not any(t.name.startswith("mtlviz-job-") and t.is_alive() for t in threading.enumerate())
    assert registry.get(a.id) is a and registry.get("nope") is None


def test_a_session_forgets_the_records_of_its_ended_runs() -> None:
    registry = JobRegistry()
    first = registry.submit(config(100_000), JobSlots(2))
    first.stop()
    first.join(30)
    assert not first.frame().empty
    second = registry.submit(config(20), JobSlots(2))
    second.join(30)
    assert second.status == FINISHED and not second.frame().empty
    # The ended run is on disk (or was never to be kept): its records no longer use the server's memory.
    assert first.frame().empty and registry.get(first.id) is None


def test_one_person_cannot_hold_every_slot() -> None:
    clients = ClientJobs(cap=1)
    tab, other_tab, someone_else = JobRegistry(clients), JobRegistry(clients), JobRegistry(clients)
    slots = JobSlots(4)
    running = tab.submit(config(100_000), slots, client="10.0.0.7")
    with pytest.raises(BudgetError, match="at most 1 per person"):
        other_tab.submit(config(20), slots, client="10.0.0.7")
    assert someone_else.submit(config(20), slots, client="10.0.0.8").id  # someone else still gets a slot
    running.stop()
    running.join(30)
    # The cap counts what is training or waiting: once it ended, the same person may start again.
    other_tab.submit(config(20), slots, client="10.0.0.7").join(30)
    assert other_tab.active() == []


def test_the_per_person_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert jobs._per_client(4) == 2 and jobs._per_client(1) == 1
    monkeypatch.setenv("MTLVIZ_JOBS_PER_CLIENT", "0")
    assert jobs._per_client(4) == 0  # off: a class behind one shared address
    monkeypatch.setenv("MTLVIZ_JOBS_PER_CLIENT", "-1")
    with pytest.raises(ValueError, match="MTLVIZ_JOBS_PER_CLIENT must be an integer of at least 0, found '-1'"):
        jobs._per_client(4)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20 GiB"), "smaller batch size"),
        # What torch raises for a device fault (a RuntimeError subclass): chosen by type, not by its text.
        (torch.AcceleratorError("CUDA error: an illegal memory access was encountered"), "Try device 'cpu'"),
    ],
)
def test_device_faults_fail_only_that_job_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str
) -> None:
    slots = JobSlots(2)

    class Faulty:
        def __init__(self, *args):
            raise error

    healthy = TrainingJob(config(300), slots, isolated=False).start()
    wait_for(lambda: healthy.progress().step > 0)  # its engine exists before the patch
    monkeypatch.setattr(run, "Engine", Faulty)
    broken = TrainingJob(config(30), slots, isolated=False).start()
    broken.join(30)
    healthy.join(30)
    assert broken.status == FAILED and expected in broken.error
    assert healthy.status == FINISHED
    assert slots.running == 0


def test_a_plain_runtime_error_is_not_called_a_gpu_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Faulty:
        def __init__(self, *args):
            raise RuntimeError("the CUDA word in an unrelated message")

    monkeypatch.setattr(run, "Engine", Faulty)
    job = TrainingJob(config(10), JobSlots(1), isolated=False).start()
    job.join(30)
    assert job.status == FAILED and job.error.startswith("RuntimeError:") and "GPU error" not in job.error


def test_the_job_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTLVIZ_MAX_JOBS", "7")
    assert jobs._capacity() == 7
    monkeypatch.setenv("MTLVIZ_MAX_JOBS", "zero")
    with pytest.raises(ValueError, match="MTLVIZ_MAX_JOBS must be a positive integer, found 'zero'"):
        jobs._capacity()


def test_finished_and_stopped_runs_are_kept_in_the_runs_directory(tmp_path) -> None:
    from mtlviz.store import list_runs, load_run

    done = TrainingJob(config(30), JobSlots(1), save_to=tmp_path).start()
    done.join(30)
    stopped = TrainingJob(config(100_000), JobSlots(1), save_to=tmp_path).start()
    wait_for(lambda: stopped.progress().step > 20)
    stopped.stop()
    stopped.join(30)
    assert done.saved is not None and stopped.saved is not None and done.saved != stopped.saved
    runs, notes = list_runs(tmp_path)
    assert notes == []
    assert sorted(r.status for r in runs) == ["finished", "stopped"]
    saved_config, records = load_run(done.saved)
    assert saved_config == done.config
    # The saved metrics are the job's own, value for value.
    mine = done.log.frame().sort_values(["metric", "run", "task", "layer", "step"], ignore_index=True)
    theirs = records.sort_values(["metric", "run", "task", "layer", "step"], ignore_index=True)
    assert (mine["value"].to_numpy() == theirs["value"].to_numpy()).all()


def test_a_run_that_cannot_be_saved_still_finishes(tmp_path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    job = TrainingJob(config(20), JobSlots(1), save_to=blocked).start()
    job.join(30)
    assert job.status == FINISHED
    assert job.saved is None and str(blocked) in job.save_error


def test_a_paced_job_takes_steps_over_pace_seconds_and_records_the_same_numbers() -> None:
    steps, pace = 50, 50
    fast = TrainingJob(config(steps), JobSlots(1)).start()
    fast.join(30)
    slow = TrainingJob(config(steps), JobSlots(1), pace=pace).start()
    slow.join(30)
    assert (fast.status, slow.status) == (FINISHED, FINISHED)
    assert slow.progress().elapsed >= steps / pace

    def numbers(job: TrainingJob):
        frame = without_clocks(job.log.frame())
        return frame.sort_values(["metric", "run", "seed", "task", "layer", "step"], ignore_index=True, kind="stable")

    pd.testing.assert_frame_equal(numbers(fast), numbers(slow))


def test_stop_ends_a_paced_job_within_two_seconds() -> None:
    job = TrainingJob(config(10_000), JobSlots(1), pace=10).start()
    wait_for(lambda: job.progress().step > 0)
    begin = time.monotonic()
    job.stop()
    job.join(5)
    assert job.status == STOPPED and time.monotonic() - begin < 2.0
