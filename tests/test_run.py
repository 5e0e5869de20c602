"""The one run pipeline: what it returns, what it saves, and how it stops."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TrainConfig
from mtlviz.records import without_clocks
from mtlviz.run import FINISHED, STOPPED, run_experiment
from mtlviz.store import list_runs, load_metadata, load_run, load_summary

pytestmark = pytest.mark.usefixtures("one_thread")


def config(steps: int = 30, sharing: str = "hard") -> ExperimentConfig:
    return ExperimentConfig(
        tasks=SyntheticTasks(num_samples=300),
        model=ModelConfig(sharing=sharing, hidden=16, depth=1),
        optimizers=(OptimizerConfig("sgd", 0.05, "ok"), OptimizerConfig("sgd", 1e4, "huge")),
        train=TrainConfig(steps=steps, eval_every=10, device="cpu"),
    )


def test_a_run_returns_records_metadata_and_a_summary_that_agree(tmp_path):
    chunks = []
    result = run_experiment(config(), on_chunk=lambda chunk, metadata, step: chunks.append((len(chunk), step)))
    assert result.status == FINISHED and result.steps == 30
    assert sum(n for n, _ in chunks) == len(result.records) and chunks[-1][1] == 30
    (event,) = result.metadata.divergences
    assert event.run == "huge" and result.metadata.diverged_runs() == {"huge": {0: event.step}}
    # The summary's status comes from the same event, not from its own reading of the records.
    statuses = set(result.summary.loc[result.summary["run"] == "huge", "status"])
    assert statuses == {f"diverged at step {event.step}"}
    assert result.metadata.has_shared_parameters is True and result.saved is None


@pytest.mark.parametrize("sharing", ["cross_stitch", "mmoe", "independent"])
def test_the_saved_run_keeps_the_engine_facts(tmp_path, sharing):
    result = run_experiment(config(steps=20, sharing=sharing), save_to=lambda: tmp_path / "run")
    assert result.saved == tmp_path / "run" and not result.save_error
    saved = load_metadata(result.saved)
    assert saved == result.metadata
    assert saved.has_shared_parameters is (sharing != "independent")
    loaded_config, records = load_run(result.saved)
    assert loaded_config == result.config and len(records) == len(result.records)
    assert load_summary(result.saved)["status"] == FINISHED


def test_a_stop_event_ends_the_run_as_stopped_and_it_is_still_saved(tmp_path):
    stop = threading.Event()

    def stop_after_first(chunk, metadata, step):
        if step >= 10:
            stop.set()

    result = run_experiment(config(steps=10_000), stop=stop, on_chunk=stop_after_first, save_to=lambda: tmp_path / "r")
    assert result.status == STOPPED and 10 <= result.steps < 10_000
    assert result.records["step"].max() == result.steps
    runs, _ = list_runs(tmp_path)
    assert [(r.status, r.steps) for r in runs] == [(STOPPED, result.steps)]


def test_a_failed_save_is_reported_and_the_run_kept(tmp_path):
    def broken():
        raise OSError("disk full")

    result = run_experiment(config(steps=10), save_to=broken)
    assert result.saved is None and "disk full" in result.save_error
    assert not result.records.empty


def without_seconds(records):
    keys = ["metric", "run", "seed", "task", "layer", "step"]
    return without_clocks(records).sort_values(keys, ignore_index=True, kind="stable")


def test_a_paced_run_takes_its_time_and_has_the_same_numbers():
    steps, pace = 60, 50.0
    fast = run_experiment(config(steps))
    begin = time.perf_counter()
    slow = run_experiment(config(steps), pace=pace)
    assert time.perf_counter() - begin >= steps / pace
    # Progress moves step by step, not in chunks: the steps are spread over the run.
    train = slow.records[slow.records["metric"] == "train_loss"].groupby("step")["seconds"].first()
    assert train[30] >= 0.9 * 30 / pace
    pd.testing.assert_frame_equal(without_seconds(fast.records), without_seconds(slow.records))


def test_stop_ends_a_slow_paced_run_at_once():
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    begin = time.perf_counter()
    result = run_experiment(config(10_000), stop=stop, pace=1.0)  # 1 step/s: hours at this pace
    assert result.status == STOPPED and time.perf_counter() - begin < 2.0
