"""Engine behaviour: what it records, when, and how it stops."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
import torch

from mtlviz.config import (
    ExperimentConfig,
    ModelConfig,
    OptimizerConfig,
    SyntheticTasks,
    TableTasks,
    TaskSpec,
    TrainConfig,
)
from mtlviz.engine import Engine, resolve_device
from mtlviz.errors import TrainingError
from mtlviz.records import COLUMNS


def small(steps: int = 60, eval_every: int = 20, **train) -> ExperimentConfig:
    tasks = SyntheticTasks(
        targets=(TaskSpec("a"), TaskSpec("b", type="classification", num_classes=4)), num_samples=600
    )
    opts = (OptimizerConfig("sgd", 0.05, "SGD"), OptimizerConfig("adam", 1e-2, "Adam"))
    return ExperimentConfig(
        tasks=tasks, optimizers=opts, train=TrainConfig(steps=steps, eval_every=eval_every, **train)
    )


def run(config: ExperimentConfig, stop: threading.Event | None = None) -> tuple[Engine, pd.DataFrame]:
    engine = Engine(config)
    return engine, pd.concat(list(engine.run(stop)), ignore_index=True)


def test_records_follow_the_schema() -> None:
    _, records = run(small(steps=45, eval_every=20))
    assert list(records.columns) == COLUMNS
    train = records[records["metric"] == "train_loss"]
    # One train loss per step, configuration and task.
    assert sorted(train["step"].unique()) == list(range(1, 46))
    assert len(train) == 45 * 2 * 2
    # Validation at initialisation, every eval_every steps and at the end.
    val = records[records["metric"] == "val_loss"]
    assert sorted(val["step"].unique()) == [0, 20, 40, 45]
    # Accuracy for the classification task, R^2 for the regression task, nothing else.
    assert set(records.loc[records["metric"] == "val_accuracy", "task"]) == {"b"}
    assert set(records.loc[records["metric"] == "val_r2", "task"]) == {"a"}
    assert set(records.loc[records["metric"] == "val_rmse", "task"]) == {"a"}  # regression only
    # Synthetic targets are not rescaled, so RMSE^2 is the validation MSE (loss_scale 1).
    rmse = records[records["metric"] == "val_rmse"].set_index(["run", "step"])["value"]
    mse = records[(records["metric"] == "val_loss") & (records["task"] == "a")].set_index(["run", "step"])["value"]
    pd.testing.assert_series_equal((rmse**2).sort_index(), mse.sort_index(), check_names=False, rtol=1e-5)
    acc = records.loc[records["metric"] == "val_accuracy", "value"]
    assert acc.between(0, 1).all()
    task_level = records["metric"].isin(["train_loss", "val_loss", "val_accuracy", "val_r2", "val_rmse"])
    assert (records.loc[task_level, "layer"] == "").all()
    seconds = train.groupby("step")["seconds"].first().to_numpy()
    assert np.all(np.diff(seconds) >= 0) and seconds[0] >= 0


def test_same_seed_same_numbers_and_another_seed_differs() -> None:
    _, first = run(small(seed=5))
    _, second = run(small(seed=5))
    _, other = run(small(seed=6))
    values = ["run", "step", "task", "metric", "value"]
    timed = [
        frame[frame["metric"] != "cost_seconds"].reset_index(drop=True) for frame in (first, second)
    ]  # clocks differ
    pd.testing.assert_frame_equal(timed[0][values], timed[1][values])
    assert not np.allclose(first["value"].to_numpy(), other["value"].to_numpy()[: len(first)])


def test_training_lowers_the_validation_loss() -> None:
    _, records = run(small(steps=200, eval_every=50))
    val = records[records["metric"] == "val_loss"].pivot_table(index="step", columns=["run", "task"], values="value")
    assert (val.iloc[-1] < 0.7 * val.iloc[0]).all()


def test_stop_ends_the_run_early_with_a_final_evaluation() -> None:
    stop = threading.Event()
    engine = Engine(small(steps=10_000, eval_every=1000))
    chunks = []
    for chunk in engine.run(stop):
        chunks.append(chunk)
        if engine.step >= 30:
            stop.set()
    records = pd.concat(chunks, ignore_index=True)
    assert 30 <= engine.step < 100
    assert records.loc[records["metric"] == "val_loss", "step"].max() == engine.step


def test_non_finite_loss_marks_the_configuration_diverged() -> None:
    config = small(steps=80)
    config = ExperimentConfig(
        tasks=config.tasks,
        optimizers=(OptimizerConfig("sgd", 0.05, "ok"), OptimizerConfig("sgd", 1e4, "huge")),
        train=config.train,
    )
    engine, records = run(config)
    diverged = engine.metadata().diverged_runs()
    assert set(diverged) == {"huge"}
    step = diverged["huge"][config.train.seed]
    assert records.loc[records["run"] == "huge", "step"].max() <= step  # nothing after it
    assert np.isfinite(records["value"]).all()
    assert engine.step == 80  # the healthy configuration trained to the end


def test_batch_size_larger_than_the_data_uses_all_rows() -> None:
    config = small(steps=5, batch_size=4096)
    engine = Engine(config)
    assert engine.samplers[0].batch_size == engine.taskset.x_train.shape[0]
    assert len(list(engine.run())) > 0


def test_cuda_request_without_cuda_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(TrainingError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_an_exploding_but_finite_loss_is_divergence_too() -> None:
    """Adam at a huge lr keeps its loss finite while it explodes."""
    config = small(steps=60)
    config = ExperimentConfig(
        tasks=config.tasks,
        optimizers=(OptimizerConfig("sgd", 0.05, "ok"), OptimizerConfig("adam", 1000.0, "adam 1000")),
        train=TrainConfig(steps=60, eval_every=20, divergence_factor=100.0),
    )
    engine, records = run(config)
    (event,) = engine.metadata().divergences
    assert event.run == "adam 1000"
    step, loss = event.step, event.loss
    first = records[(records["run"] == "adam 1000") & (records["metric"] == "train_loss") & (records["step"] == 1)]
    # The tripping task's loss passed 100 times its own first loss; every task's loss at that step is kept.
    first_of_task = first.loc[first["task"] == event.task, "value"].item()
    assert loss is not None and np.isfinite(loss) and loss > 100 * first_of_task
    assert event.losses[event.task] == loss and set(event.losses) == set(engine.task_names)
    trained = records[(records["run"] == "adam 1000") & (records["metric"] == "train_loss")]
    assert trained["step"].max() == step  # the explosion itself is kept on the chart, nothing after it
    assert records.loc[records["run"] == "ok", "step"].max() == 60


@pytest.mark.parametrize("sharing", ["hard", "mmoe", "cross_stitch"])
def test_one_task_with_shared_parameters_trains_and_records_its_gradient_norm(sharing: str) -> None:
    """One target has no task pair: no cosines, but the run must not crash at the conflict step."""
    config = ExperimentConfig(
        tasks=TableTasks(dataset="penguins", targets=(TaskSpec("species", type="auto"),)),
        model=ModelConfig(sharing=sharing, hidden=8, depth=1),
        optimizers=(OptimizerConfig("sgd", 0.05, "SGD"),),
        train=TrainConfig(steps=20, eval_every=10, conflict_every=10, device="cpu"),
    )
    engine, records = run(config)
    assert engine.step == 20
    assert set(records.loc[records["metric"] == "task_grad_norm", "step"]) == {10, 20}
    assert records[records["metric"].isin(["grad_cosine", "conflict_share"])].empty
