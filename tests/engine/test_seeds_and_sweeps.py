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
from mtlviz.engine import Engine
from mtlviz.rows import expand_rows, run_table
from mtlviz.errors import ConfigError

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


def records(config: ExperimentConfig) -> pd.DataFrame:
    return pd.concat(list(Engine(config).run()), ignore_index=True)


def values(frame: pd.DataFrame) -> pd.DataFrame:
    keep = frame[frame["metric"].isin(COMPARED)].drop(columns=["seconds", "seed"])
    keep = keep.astype({"run": str, "task": str, "layer": str, "metric": str})
    return keep.sort_values(["run", "metric", "task", "layer", "step"]).reset_index(drop=True)


@pytest.mark.parametrize("sharing", ["hard", "independent", "soft"])
def test_each_seed_equals_a_separate_single_seed_run(sharing):
    config = experiment(sharing)
    together = records(config)
    for seed in (5, 7):
        alone = records(dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed, seeds=1)))
        mine = values(together[together["seed"] == seed])
        theirs = values(alone)
        assert len(mine) == len(theirs) > 0
        np.testing.assert_allclose(mine["value"], theirs["value"], rtol=1e-5, atol=1e-7)
        assert (mine["step"].to_numpy() == theirs["step"].to_numpy()).all()


def test_seeds_of_a_table_each_get_their_own_split():
    tasks = TableTasks(dataset="penguins", targets=(TaskSpec("species", "auto"), TaskSpec("body_mass_g", "auto")))
    config = experiment(tasks=tasks, seeds=2, steps=20)
    together = records(config)
    alone = records(dataclasses.replace(config, train=dataclasses.replace(config.train, seed=6, seeds=1)))
    np.testing.assert_allclose(
        values(together[together["seed"] == 6])["value"], values(alone)["value"], rtol=1e-5, atol=1e-7
    )


def test_rows_share_a_start_within_a_seed_and_differ_across_seeds():
    start = records(experiment(steps=1))
    start = start[(start["metric"] == "val_loss") & (start["step"] == 0)]
    per_seed = start.pivot_table(index=["seed", "task"], columns="run", values="value", observed=True)
    # Every configuration of a seed starts from the same weights on the same validation split ...
    assert np.allclose(per_seed.to_numpy(), per_seed.to_numpy()[:, :1])
    # ... and each seed has its own weights and data.
    by_seed = per_seed.iloc[:, 0].unstack("task")
    assert by_seed.drop_duplicates().shape[0] == 3


def test_records_carry_each_rows_run_and_seed():
    frame = records(experiment(steps=10))
    pairs = set(zip(frame["run"].astype(str), frame["seed"]))
    runs = ("Adam lr=0.001", "Adam lr=0.01", "SGD")
    assert pairs == {(run, seed) for run in runs for seed in (5, 6, 7)}
    assert frame["seed"].dtype == np.int32


def test_a_sweep_expands_configuration_then_lr_then_seed():
    config = experiment(seeds=2)
    rows = expand_rows(config)
    assert [(row.run, row.seed) for row in rows] == [
        ("Adam lr=0.001", 5),
        ("Adam lr=0.001", 6),
        ("Adam lr=0.01", 5),
        ("Adam lr=0.01", 6),
        ("SGD", 5),
        ("SGD", 6),
    ]
    assert [row.optimizer.lr for row in rows[:4]] == [1e-3, 1e-3, 1e-2, 1e-2]
    assert rows[0].key == "Adam lr=0.001 (seed 5)"
    table = run_table(config)
    assert table.to_dict("list") == {
        "run": ["Adam lr=0.001", "Adam lr=0.01", "SGD"],
        "configuration": ["Adam", "Adam", "SGD"],
        "lr": [1e-3, 1e-2, 0.05],
        "method": ["Static weights"] * 3,
    }


def test_a_log_range_gives_geometric_learning_rates():
    config = ExperimentConfig.from_dict({"optimizers": [{"name": "adam", "lr": {"from": 1e-4, "to": 1e-1, "num": 4}}]})
    assert config.optimizers[0].lrs == (1e-4, 1e-3, 1e-2, 1e-1)
    assert config.runs == ("Adam lr=0.0001", "Adam lr=0.001", "Adam lr=0.01", "Adam lr=0.1")
    assert ExperimentConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("lr", "field", "fragment"),
    [
        ({"from": 1e-2, "to": 1e-3, "num": 3}, "optimizers[0].lr.to", "expected a value above from (0.01)"),
        ({"from": 1e-3, "to": 1e-2}, "optimizers[0].lr", "found keys ['from', 'to']"),
        ([1e-3] * 2, "optimizers[0].lr", "expected distinct learning rates"),
        ([1e-3 * (i + 1) for i in range(11)], "optimizers[0].lr", "expected 1 to 10 learning rates, found 11"),
        ([1e-3, -1], "optimizers[0].lr[1]", "found -1"),
    ],
)
def test_bad_sweeps_name_what_was_expected(lr, field, fragment):
    with pytest.raises(ConfigError) as caught:
        ExperimentConfig.from_dict({"optimizers": [{"name": "adam", "lr": lr}]})
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_too_many_rows_are_refused_before_training():
    with pytest.raises(ConfigError, match=r"at most 64 models .* found 8 runs x 10 seeds = 80"):
        ExperimentConfig.from_dict(
            {
                "optimizers": [{"name": "adam", "lr": [1e-4 * (i + 1) for i in range(8)]}],
                "train": {"seeds": 10},
            }
        )


def test_validation_targets_must_name_tasks():
    with pytest.raises(ConfigError, match=r"no such task; the tasks are task A, task B"):
        ExperimentConfig.from_dict({"val_targets": {"nope": 0.1}})
    config = ExperimentConfig.from_dict({"val_targets": {"task B": 0.5}})
    assert ExperimentConfig.from_json(config.to_json()).val_targets == {"task B": 0.5}
