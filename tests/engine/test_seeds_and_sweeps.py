"""Seeds and learning-rate sweeps: extra rows of one batched engine that stay exact."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mtlviz.config import (
    ExperimentConfig,
    ModelConfig,
    OptimizerConfig,
    SyntheticTasks,
    TableTasks,
    TaskSpec,
    TrainConfig,
)

COMPARED = ["train_loss", "val_loss", "val_accuracy", "val_r2", "grad_norm", "update_norm"]


def experiment(sharing: str = "hard", seeds: int = 3, steps: int = 40, tasks=None) -> ExperimentConfig:
    tasks = tasks or SyntheticTasks(
        targets=(TaskSpec("a"), TaskSpec("b", type="classification", num_classes=3)), num_samples=400
    )
    return ExperimentConfig(
        tasks=tasks,
        model=ModelConfig(sharing=sharing, hidden=16, depth=1),
        optimizers=(OptimizerConfig("adam", (1e-3, 1e-2)), OptimizerConfig("sgd", 0.05, "SGD", {"momentum": 0.9})),
        train=TrainConfig(steps=steps, batch_size=32, eval_every=10, seed=5, seeds=seeds, stats_every=10),
    )


def values(frame: pd.DataFrame) -> pd.DataFrame:
    keep = frame[frame["metric"].isin(COMPARED)].drop(columns=["seconds", "seed"])
    keep = keep.astype({"run": str, "task": str, "layer": str, "metric": str})
    return keep.sort_values(["run", "metric", "task", "layer", "step"]).reset_index(drop=True)


@pytest.mark.parametrize("sharing", ["hard", "independent", "soft"])
def test_each_seed_equals_a_separate_single_seed_run(sharing, records_of):
    config = experiment(sharing)
    together = records_of(config)
    for seed in (5, 7):
        alone = records_of(dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed, seeds=1)))
        mine = values(together[together["seed"] == seed])
        theirs = values(alone)
        assert len(mine) == len(theirs) > 0
        np.testing.assert_allclose(mine["value"], theirs["value"], rtol=1e-5, atol=1e-7)
        assert (mine["step"].to_numpy() == theirs["step"].to_numpy()).all()


def test_seeds_of_a_table_each_get_their_own_split(records_of):
    tasks = TableTasks(dataset="penguins", targets=(TaskSpec("species", "auto"), TaskSpec("body_mass_g", "auto")))
    config = experiment(tasks=tasks, seeds=2, steps=20)
    together = records_of(config)
    alone = records_of(dataclasses.replace(config, train=dataclasses.replace(config.train, seed=6, seeds=1)))
    mine, theirs = values(together[together["seed"] == 6]), values(alone)
    assert len(mine) == len(theirs) > 0
    np.testing.assert_allclose(mine["value"], theirs["value"], rtol=1e-5, atol=1e-7)


def test_rows_share_a_start_within_a_seed_and_differ_across_seeds(records_of):
    start = records_of(experiment(steps=1))
    start = start[(start["metric"] == "val_loss") & (start["step"] == 0)]
    per_seed = start.pivot_table(index=["seed", "task"], columns="run", values="value", observed=True)
    # Every configuration of a seed starts from the same weights on the same validation split ...
    assert np.allclose(per_seed.to_numpy(), per_seed.to_numpy()[:, :1])
    # ... and each seed has its own weights and data.
    by_seed = per_seed.iloc[:, 0].unstack("task")
    assert by_seed.drop_duplicates().shape[0] == 3


def test_records_carry_each_rows_run_and_seed(records_of):
    frame = records_of(experiment(steps=10))
    pairs = set(zip(frame["run"].astype(str), frame["seed"]))
    runs = ("Adam lr=0.001", "Adam lr=0.01", "SGD")
    assert pairs == {(run, seed) for run in runs for seed in (5, 6, 7)}
    assert frame["seed"].dtype == np.int32
