"""Optimizer x method grids in the batched engine, and the toy2d problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtlviz.config import (
    ExperimentConfig,
    MethodConfig,
    ModelConfig,
    OptimizerConfig,
    SyntheticTasks,
    TaskSpec,
    Toy2DTasks,
    TrainConfig,
)
from mtlviz.engine import Engine
from mtlviz.errors import ConfigError, TrainingError

METHODS = (
    MethodConfig("static"),
    MethodConfig("uncertainty"),
    MethodConfig("dwa", options={"temperature": 3.0}),
    MethodConfig("gradnorm"),
    MethodConfig("pcgrad"),
    MethodConfig("mgda"),
    MethodConfig("cagrad", options={"c": 0.4}),
)
OPTIMIZERS = (OptimizerConfig("sgd", 0.05, "SGD", {"momentum": 0.9}), OptimizerConfig("adam", 1e-2, "Adam"))


def grid(methods=METHODS, optimizers=OPTIMIZERS, sharing: str = "hard", steps: int = 20) -> ExperimentConfig:
    tasks = SyntheticTasks(
        targets=(TaskSpec("a", weight=2.0), TaskSpec("b", "classification", 3), TaskSpec("c", loss_scale=5.0)),
        num_samples=256,
    )
    return ExperimentConfig(
        tasks=tasks,
        model=ModelConfig(sharing=sharing, hidden=16, depth=2),
        optimizers=optimizers,
        methods=methods,
        # batch 64 of 205 training rows: DWA's window (an epoch) is 3 steps, so its weights move.
        train=TrainConfig(steps=steps, batch_size=64, eval_every=10, stats_every=5, conflict_every=0),
    )


def losses(frame: pd.DataFrame) -> pd.DataFrame:
    keep = frame[frame["metric"].isin(["train_loss", "val_loss", "task_weight"])]
    keep = keep.astype({"run": str, "task": str, "metric": str})
    return keep.sort_values(["metric", "task", "step"])[["metric", "task", "step", "value"]].reset_index(drop=True)


def test_every_row_of_the_grid_equals_its_own_separate_run(records_of):
    together = records_of(grid())
    assert together["run"].nunique() == len(OPTIMIZERS) * len(METHODS)
    for optimizer in OPTIMIZERS:
        for method in METHODS:
            alone = losses(records_of(grid(methods=(method,), optimizers=(optimizer,))))
            mine = losses(together[together["run"] == f"{optimizer.label} · {method.label}"])
            assert len(mine) == len(alone) > 0, (optimizer.label, method.label)
            np.testing.assert_allclose(mine["value"], alone["value"], rtol=1e-5, atol=1e-6)


def weights(frame: pd.DataFrame, run: str) -> pd.DataFrame:
    rows = frame[(frame["metric"] == "task_weight") & (frame["run"] == run)]
    return rows.pivot_table(index="step", columns="task", values="value", observed=True)


def test_task_weights_are_recorded_for_every_method_that_has_them(records_of):
    frame = records_of(grid(optimizers=(OPTIMIZERS[1],)))
    prefix = "Adam · "
    static = weights(frame, prefix + "Static weights")
    assert (static["a"] == 2.0).all() and (static["b"] == 1.0).all()
    uncertainty = weights(frame, prefix + "Uncertainty weighting")
    # exp(-s) / 2 for regression and exp(-s) for classification, s starting at 0.
    assert uncertainty.iloc[0]["a"] == pytest.approx(0.5, rel=0.1) and uncertainty.iloc[0]["b"] == pytest.approx(
        1, rel=0.1
    )
    gradnorm = weights(frame, prefix + "GradNorm")
    np.testing.assert_allclose(gradnorm.sum(axis=1), 3.0, rtol=1e-5)  # GradNorm keeps sum_t w_t = T
    assert gradnorm.std().max() > 1e-3, "GradNorm's weights move"
    dwa = weights(frame, prefix + "Dynamic Weight Average")
    np.testing.assert_allclose(dwa.sum(axis=1), 3.0, rtol=1e-5)
    for name in ("MGDA", "CAGrad (c=0.4)", "PCGrad"):  # each direction is a combination sum_t c_t g_t
        assert not weights(frame, prefix + name).empty


def test_mgda_weights_lie_on_the_simplex(records_of):
    frame = records_of(grid(methods=(MethodConfig("mgda"),), optimizers=(OPTIMIZERS[1],)))
    mgda = weights(frame, "Adam")
    np.testing.assert_allclose(mgda.sum(axis=1), 1.0, atol=1e-5)
    assert (mgda.to_numpy() >= -1e-6).all()


@pytest.mark.parametrize("name", ["pcgrad", "mgda", "cagrad", "gradnorm"])
def test_gradient_methods_need_shared_parameters(name):
    with pytest.raises(TrainingError, match=rf"{name} work on the gradients of shared parameters"):
        Engine(grid(methods=(MethodConfig(name),), sharing="independent"))


def test_bad_methods_name_what_was_expected():
    with pytest.raises(ConfigError, match=r"methods\[0\]\.name: expected one of equal, static"):
        ExperimentConfig.from_dict({"methods": ["nope"]})
    with pytest.raises(ConfigError, match=r"methods\[0\]\.c: expected a number in \[0, 1\)"):
        ExperimentConfig.from_dict({"methods": [{"name": "cagrad", "c": 1.0}]})
    with pytest.raises(ConfigError, match=r"PCGrad has no option 'c'"):
        ExperimentConfig.from_dict({"methods": [{"name": "pcgrad", "c": 0.5}]})
    config = ExperimentConfig.from_dict({"methods": ["pcgrad", {"name": "dwa", "temperature": 4}]})
    assert config.runs[:2] == ("SGD · PCGrad", "SGD · Dynamic Weight Average (temperature=4)")
    assert ExperimentConfig.from_json(config.to_json()) == config


# ---------------------------------------------------------------------------- toy2d


def test_toy2d_trains_the_point_in_float64_from_its_start(records_of, toy2d_reference):
    start = (-8.5, 7.5)
    config = ExperimentConfig(
        tasks=Toy2DTasks(start=start),
        optimizers=(OptimizerConfig("adam", 0.01, "Adam"),),
        methods=(MethodConfig("equal"), MethodConfig("mgda")),
        train=TrainConfig(steps=50, eval_every=25),
    )
    frame = records_of(config)
    first = frame[(frame["metric"] == "val_loss") & (frame["step"] == 0)]
    for task, expected in zip(("L1", "L2"), toy2d_reference(*start)):
        values = first.loc[first["task"] == task, "value"]
        assert len(values) == 2  # one per method
        np.testing.assert_allclose(values, expected, rtol=1e-12)  # float64 all the way
    path = frame[(frame["metric"] == "position") & (frame["run"] == "Adam · MGDA")]
    points = path.pivot_table(index="step", columns="layer", values="value", observed=True)
    assert list(points.index) == list(range(1, 51))
    # Adam's first step moves each coordinate by about lr.
    assert abs(points.iloc[0]["x1"] - start[0]) == pytest.approx(0.01, rel=1e-3)
    last = points.iloc[-1]
    train = frame[(frame["metric"] == "val_loss") & (frame["step"] == 50) & (frame["run"] == "Adam · MGDA")]
    got = train.set_index(train["task"].astype(str))["value"]
    expected = toy2d_reference(last["x1"], last["x2"])
    assert (got["L1"], got["L2"]) == pytest.approx(expected, rel=1e-12)
