"""Rows: the models an experiment trains side by side, in the order the engine stacks them."""

from __future__ import annotations

import pytest

from mtlviz.config import ExperimentConfig, MethodConfig, OptimizerConfig, TrainConfig
from mtlviz.rows import expand_rows, rows_from_optimizers, run_table

SWEEP = (OptimizerConfig("adam", (1e-3, 1e-2)), OptimizerConfig("sgd", 0.05, "SGD", {"momentum": 0.9}))


def test_a_sweep_expands_configuration_then_lr_then_seed():
    config = ExperimentConfig(optimizers=SWEEP, train=TrainConfig(seed=5, seeds=2))
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


def test_with_several_methods_a_configuration_is_an_optimizer_and_method_pair():
    config = ExperimentConfig(optimizers=SWEEP[:1], methods=(MethodConfig("equal"), MethodConfig("mgda")))
    rows = expand_rows(config)
    assert [(row.run, row.configuration) for row in rows] == [
        ("Adam lr=0.001 · Equal weights", "Adam · Equal weights"),
        ("Adam lr=0.001 · MGDA", "Adam · MGDA"),
        ("Adam lr=0.01 · Equal weights", "Adam · Equal weights"),
        ("Adam lr=0.01 · MGDA", "Adam · MGDA"),
    ]
    assert rows[0].key == rows[0].run  # one seed: the run alone is unique


def test_rows_from_optimizers_refuse_a_sweep():
    (row,) = rows_from_optimizers(SWEEP[1:], seed=3)
    assert (row.run, row.seed, row.optimizer) == ("SGD", 3, SWEEP[1])
    with pytest.raises(ValueError, match="rows take one learning rate each; expand a sweep with expand_rows"):
        rows_from_optimizers(SWEEP, seed=3)
