"""The batched engine equals separate plain-PyTorch training, and grouping changes nothing.

The reference trains one configuration at a time the ordinary way: a K=1 model
with the same initial weights, the optimizer class with PyTorch's default
implementation over model.parameters(), zero_grad / backward / step, and losses
written with torch.nn.functional directly. Both see the same batch order.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.data.batches import BatchSampler
from mtlviz.data.sources import build_taskset
from mtlviz.engine import Engine
from mtlviz.models import SHARING, build_model
from mtlviz.optim import OPTIMIZERS

STEPS = 50
RTOL = 1e-5

# Every optimizer, with options away from the defaults so they are exercised.
CONFIGS = (
    OptimizerConfig("sgd", 0.05, "SGD"),
    OptimizerConfig("sgd", 0.02, "SGD nesterov", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    OptimizerConfig("adam", 1e-2, "Adam amsgrad", {"amsgrad": True, "weight_decay": 1e-3}),
    OptimizerConfig("adamw", 1e-2, "AdamW", {"weight_decay": 0.1, "betas": (0.8, 0.99)}),
    OptimizerConfig("rmsprop", 1e-3, "RMSprop", {"momentum": 0.5, "centered": True}),
    OptimizerConfig("adagrad", 0.05, "Adagrad", {"lr_decay": 1e-3}),
    OptimizerConfig("nadam", 2e-3, "NAdam", {"decoupled_weight_decay": True, "weight_decay": 0.01}),
    OptimizerConfig("radam", 1e-2, "RAdam", {"weight_decay": 1e-3}),
)


def experiment(sharing: str, optimizers=CONFIGS, device: str = "cpu", steps: int = STEPS) -> ExperimentConfig:
    tasks = SyntheticTasks(
        targets=(
            TaskSpec("reg", loss_scale=3.0, weight=0.5),
            TaskSpec("cls", type="classification", num_classes=3),
            TaskSpec("reg2"),
        ),
        relatedness=0.3,
        input_dim=6,
        num_samples=400,
    )
    return ExperimentConfig(
        tasks=tasks,
        model=ModelConfig(sharing=sharing, hidden=12, depth=2, coupling=0.05),
        optimizers=tuple(optimizers),
        train=TrainConfig(steps=steps, batch_size=32, eval_every=10, seed=3, device=device),
    )


def reference_run(config: ExperimentConfig, k: int) -> tuple[list[torch.Tensor], list[list[float]]]:
    """Configuration k trained alone in a plain PyTorch loop; returns final parameters and losses."""
    opt = config.optimizers[k]
    taskset = build_taskset(config.tasks, config.train.seed)
    model = build_model(config.model, taskset.tasks, taskset.input_dim, 1, config.train.seed)
    kwargs = {name: spec.default for name, spec in OPTIMIZERS[opt.name].options.items()}
    kwargs.update(opt.options)
    optimizer = OPTIMIZERS[opt.name].cls(model.parameters(), lr=opt.lr, **kwargs)  # default implementation
    sampler = BatchSampler(taskset.x_train.shape[0], config.train.batch_size, config.train.seed + 1)
    history = []
    for _ in range(config.train.steps):
        index = sampler.next()
        x, y = taskset.x_train[index], taskset.y_train[index]
        outputs = model(x)
        losses = []
        for t, task in enumerate(taskset.tasks):
            out = outputs[t][0]  # (B, out)
            if task.type == "regression":
                loss = F.mse_loss(out.squeeze(-1), y[:, t])
            else:
                loss = F.cross_entropy(out, y[:, t].long())
            losses.append(loss * task.loss_scale)
        objective = sum(task.weight * loss for task, loss in zip(taskset.tasks, losses)) + model.penalty()[0]
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()
        history.append([loss.detach().item() for loss in losses])
    return [p.detach()[0] for p in model.parameters()], history


def train_losses(records: pd.DataFrame, run: str) -> pd.Series:
    rows = records[(records["run"] == run) & (records["metric"] == "train_loss")]
    assert not rows.empty, f"no train loss recorded for {run!r}"  # two empty series would compare equal
    return rows.set_index(["step", "task"])["value"].sort_index()


@pytest.mark.parametrize("sharing", sorted(SHARING))
def test_batched_engine_equals_separate_plain_training(sharing: str, device: str) -> None:
    config = experiment(sharing, device=device)
    engine = Engine(config)
    records = pd.concat(list(engine.run()), ignore_index=True)
    assert engine.step == STEPS
    for k, opt in enumerate(config.optimizers):
        params, history = reference_run(config, k)
        for name, batched, ref in zip(
            [n for n, _ in engine.model.named_parameters()], engine.params, params, strict=True
        ):
            torch.testing.assert_close(
                batched.detach()[k].cpu(), ref, rtol=RTOL, atol=1e-6, msg=f"{opt.label}: {name} differs"
            )
        ours = train_losses(records, opt.label).unstack("task")[list(config.tasks.task_names)].to_numpy()
        torch.testing.assert_close(torch.tensor(ours), torch.tensor(history, dtype=torch.float64), rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("sharing", ["hard", "soft"])
def test_configuration_alone_gives_the_same_curve_as_in_a_group(sharing: str, device: str) -> None:
    group = experiment(sharing, device=device)
    grouped = pd.concat(list(Engine(group).run()), ignore_index=True)
    for opt in (group.optimizers[0], group.optimizers[3]):
        alone = pd.concat(list(Engine(experiment(sharing, [opt], device)).run()), ignore_index=True)
        pd.testing.assert_series_equal(train_losses(alone, opt.label), train_losses(grouped, opt.label), rtol=RTOL)
        val = alone[alone["metric"] == "val_loss"].set_index(["step", "task"])["value"].sort_index()
        val_grouped = grouped[(grouped["run"] == opt.label) & (grouped["metric"] == "val_loss")]
        assert len(val) == len(val_grouped) > 0
        pd.testing.assert_series_equal(val, val_grouped.set_index(["step", "task"])["value"].sort_index(), rtol=RTOL)


def test_all_configurations_start_from_identical_weights() -> None:
    engine = Engine(experiment("hard"))
    for p in engine.params:
        assert torch.equal(p.detach(), p.detach()[:1].expand_as(p))


def test_a_diverging_configuration_leaves_the_others_untouched(device: str) -> None:
    healthy = CONFIGS[:3]
    exploding = OptimizerConfig("sgd", 1e4, "SGD lr=1e4")
    with_bad = pd.concat(list(Engine(experiment("hard", (*healthy, exploding), device)).run()), ignore_index=True)
    without = pd.concat(list(Engine(experiment("hard", healthy, device)).run()), ignore_index=True)
    for opt in healthy:
        pd.testing.assert_series_equal(train_losses(with_bad, opt.label), train_losses(without, opt.label), rtol=RTOL)
