"""Jobs train in worker processes: a memory kill, a crash or a slow step ends that job only, on time."""

from __future__ import annotations

import os
import signal
import time

import pandas as pd
import pytest

from mtlviz.budget import Limits
from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TrainConfig
from mtlviz.jobs import FAILED, FINISHED, RUNNING, STOPPED, JobSlots, TrainingJob
from mtlviz.records import without_clocks
from mtlviz.worker import describe_exit


def config(steps: int, **train) -> ExperimentConfig:
    return ExperimentConfig(
        optimizers=(OptimizerConfig("sgd", 0.05), OptimizerConfig("adam", 0.01)),
        train=TrainConfig(steps=steps, eval_every=10, **train),
    )


def huge(batch: int = 2048) -> ExperimentConfig:
    """Seconds per step on a CPU, and far more memory than a small budget."""
    return ExperimentConfig(
        tasks=SyntheticTasks(input_dim=256),
        model=ModelConfig(hidden=1024, depth=8),
        optimizers=tuple(OptimizerConfig("adam", 0.001, label=f"Adam {i}") for i in range(8)),
        train=TrainConfig(steps=10, batch_size=batch, eval_every=5),
    )


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def numbers(job: TrainingJob) -> pd.DataFrame:
    frame = without_clocks(job.frame())
    return frame.sort_values(["metric", "run", "seed", "task", "layer", "step"], ignore_index=True, kind="stable")


def test_a_worker_trains_the_same_numbers_as_this_process() -> None:
    isolated = TrainingJob(config(60), JobSlots(1)).start()
    here = TrainingJob(config(60), JobSlots(1), isolated=False).start()
    isolated.join(120)
    here.join(120)
    assert (isolated.status, here.status) == (FINISHED, FINISHED)
    assert isolated.worker_pid not in (None, os.getpid()) and here.worker_pid is None
    pd.testing.assert_frame_equal(numbers(isolated), numbers(here))
    assert isolated.progress().step == 60 and isolated.metadata == here.metadata


def test_a_worker_killed_by_the_system_fails_its_job_only() -> None:
    slots = JobSlots(2)
    victim = TrainingJob(config(100_000), slots).start()
    bystander = TrainingJob(config(300), slots).start()
    wait_for(lambda: victim.progress().step > 20)
    os.kill(victim.worker_pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    victim.join(30)
    bystander.join(120)
    assert victim.status == FAILED
    assert "was killed, most often by the system for lack of memory (SIGKILL)" in victim.error
    assert not victim.frame().empty  # what it recorded before is still shown
    assert bystander.status == FINISHED and bystander.progress().step == 300
    assert slots.running == 0


def test_a_job_past_its_memory_budget_runs_out_of_memory_alone() -> None:
    slots = JobSlots(2)
    greedy = TrainingJob(huge(), slots, limits=Limits(memory_bytes=300 * 2**20, seconds=None)).start()
    bystander = TrainingJob(config(200), slots).start()
    greedy.join(120)
    bystander.join(120)
    assert greedy.status == FAILED and greedy.error.startswith("out of memory"), greedy.error
    assert bystander.status == FINISHED


def test_stop_ends_a_job_within_two_seconds_even_in_the_middle_of_a_long_step() -> None:
    job = TrainingJob(huge(batch=4096)).start()
    wait_for(lambda: job.status == RUNNING and job.metadata is not None)  # the model is built: steps take seconds
    begin = time.monotonic()
    job.stop()
    job.join(10)
    assert job.status == STOPPED and time.monotonic() - begin < 2.0


@pytest.mark.parametrize("isolated", [True, False], ids=["in a worker", "in this process"])
def test_a_job_past_its_time_budget_is_stopped_saved_and_says_why(tmp_path, isolated: bool) -> None:
    limits = Limits(None, seconds=1.0)
    job = TrainingJob(config(100_000), JobSlots(1), save_to=tmp_path, limits=limits, isolated=isolated).start()
    job.join(60)
    assert job.status == STOPPED and job.saved is not None
    assert job.stop_reason == "it reached this server's time budget of 1 s per run"
    assert job.progress().step < 100_000 and not job.frame().empty


def test_a_person_stopping_a_job_is_not_given_a_reason() -> None:
    job = TrainingJob(config(100_000), JobSlots(1)).start()
    wait_for(lambda: job.progress().step > 0)
    job.stop()
    job.stop("it reached this server's time budget")  # too late: the person's Stop came first
    job.join(30)
    assert job.status == STOPPED and job.stop_reason == ""


def test_how_a_worker_ended_is_said_in_words() -> None:
    assert describe_exit(-9) == "the training process was killed, most often by the system for lack of memory (SIGKILL)"
    assert describe_exit(-11) == "the training process crashed (a segmentation fault) (SIGSEGV)"
    assert describe_exit(-10) == "the training process ended (SIGUSR1)"
    assert describe_exit(3) == "the training process ended unexpectedly (exit status 3)"
    assert describe_exit(None) == "the training process stopped answering"
