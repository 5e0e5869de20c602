"""Optimizer registry: specs agree with torch.optim, options reach torch, every optimizer trains."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest
import torch

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TrainConfig
from mtlviz.engine import Engine
from mtlviz.optim import OPTIMIZERS, build_optimizer

# A learning rate each optimizer makes clear progress with in ~150 steps.
REASONABLE_LR = {
    "sgd": 0.05,
    "adam": 0.01,
    "adamw": 0.01,
    "rmsprop": 0.003,
    "adagrad": 0.1,
    "nadam": 0.01,
    "radam": 0.03,
}


pytestmark = pytest.mark.usefixtures("one_thread")  # as in the dashboard's jobs


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_option_defaults_match_torch(name):
    spec = OPTIMIZERS[name]
    signature = inspect.signature(spec.cls.__init__).parameters
    for key, option in spec.options.items():
        assert key in signature, f"{spec.cls.__name__} has no argument {key!r}"
        assert option.default == signature[key].default, key
        if option.kind == "bool":
            assert isinstance(option.default, bool), key  # torch's 0 would equal False


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_build_optimizer_uses_registry_defaults(name):
    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = build_optimizer(name, params, 0.123)
    assert isinstance(optimizer, OPTIMIZERS[name].cls)
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.123
    assert group["params"] == params
    for key, option in OPTIMIZERS[name].options.items():
        assert group[key] == option.default, key


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
        ("adam", {"betas": [0.8, 0.95], "amsgrad": True, "eps": 1e-6}),
        ("adamw", {"weight_decay": 0.2}),
        ("rmsprop", {"alpha": 0.9, "momentum": 0.5, "centered": True}),
        ("adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.5}),
        ("nadam", {"momentum_decay": 0.01, "decoupled_weight_decay": True}),
        ("radam", {"decoupled_weight_decay": True, "weight_decay": 0.1}),
    ],
)
def test_build_optimizer_passes_options_through(name, options):
    optimizer = build_optimizer(name, [torch.nn.Parameter(torch.zeros(3))], 0.01, options)
    group = optimizer.param_groups[0]
    for key, value in options.items():
        expected = tuple(value) if key == "betas" else value
        assert group[key] == expected, key


def test_build_optimizer_takes_a_generator_of_params():
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(4))]
    optimizer = build_optimizer("sgd", (p for p in params), 0.1)
    assert optimizer.param_groups[0]["params"] == params


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_a_step_matches_torch_with_the_same_options(name):
    # Beyond the param group: build_optimizer's (fused/foreach) optimizer moves the
    # parameters exactly as a plainly constructed torch optimizer does.
    options = {"weight_decay": 0.1}
    a = torch.nn.Parameter(torch.linspace(-1, 1, 6))
    b = torch.nn.Parameter(a.detach().clone())
    ours = build_optimizer(name, [a], 0.05, options)
    defaults = {k: o.default for k, o in OPTIMIZERS[name].options.items()}
    theirs = OPTIMIZERS[name].cls([b], lr=0.05, **{**defaults, **options})
    for _ in range(3):
        for p, optimizer in ((a, ours), (b, theirs)):
            optimizer.zero_grad()
            (p**3).sum().backward()
            optimizer.step()
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, torch.linspace(-1, 1, 6))


@pytest.mark.parametrize("depth", [0, 1])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_lowers_the_training_loss(name, depth):
    config = ExperimentConfig(
        tasks=SyntheticTasks(relatedness=0.9, input_dim=8, num_samples=1000),
        model=ModelConfig(sharing="hard", hidden=32, depth=depth),
        optimizers=(OptimizerConfig(name, REASONABLE_LR[name]),),
        train=TrainConfig(steps=150, batch_size=64, eval_every=150, seed=0, device="cpu"),
    )
    engine = Engine(config)
    records = pd.concat(list(engine.run()), ignore_index=True)
    assert engine.step == 150
    assert engine.metadata().divergences == ()
    train = records[records["metric"] == "train_loss"].pivot_table(index="step", columns="task", values="value")
    assert list(train.index) == list(range(1, 151))
    first, last = train.iloc[:5].mean(), train.iloc[-10:].mean()
    for task in ("task A", "task B"):
        assert last[task] < 0.5 * first[task], (task, first[task], last[task])
    val = records[records["metric"] == "val_loss"].pivot_table(index="step", columns="task", values="value")
    assert list(val.index) == [0, 150]
    assert (val.loc[150] < 0.5 * val.loc[0]).all()
