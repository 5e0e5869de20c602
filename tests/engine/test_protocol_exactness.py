"""A searched row, with its schedule, warmup and clipping, equals its own plain-PyTorch run.

The reference is written here with torch directly: a K=1 model, the optimizer's
default implementation over model.parameters(), the schedule composed from
torch.optim.lr_scheduler by hand, torch.nn.utils.clip_grad_norm_ before each step.
The engine trains every trial of a grid as rows of one batched model.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

from mtlviz.config import ExperimentConfig
from mtlviz.data.batches import BatchSampler
from mtlviz.data.sources import build_taskset
from mtlviz.engine import Engine
from mtlviz.engine.schedules import build_scheduler
from mtlviz.models import build_model
from mtlviz.optim import OPTIMIZERS

STEPS = 40
RTOL = 1e-5
DEVICE = os.environ.get("MTLVIZ_TEST_DEVICE", "cpu")  # as tests/conftest.py: a module-wide run needs it here


def searched(device: str) -> ExperimentConfig:
    return ExperimentConfig.from_dict(
        {
            "tasks": {
                "targets": [{"name": "reg", "loss_scale": 3.0}, {"name": "cls", "type": "classification"}],
                "input_dim": 6,
                "num_samples": 400,
                "test_fraction": 0.2,
            },
            "model": {"hidden": 12, "depth": 2},
            "optimizers": [
                {
                    "name": "sgd",
                    "label": "SGD",
                    "lr": [0.05, 0.2],
                    "momentum": 0.9,
                    "schedule": {"name": "cosine", "warmup_steps": [0, 8]},
                    "clip_norm": 0.5,  # small enough that most steps are clipped
                },
                {
                    "name": "adamw",
                    "label": "AdamW",
                    "lr": [0.01, 0.03],
                    "weight_decay": 0.1,
                    "schedule": {"name": "linear", "warmup_steps": [3, 5]},
                    "clip_norm": [0.5, 50.0],
                },
                {
                    "name": "adam",
                    "label": "Adam",
                    "lr": [0.01, 0.02],
                    "schedule": {"name": "step", "step_size": 10, "gamma": 0.5, "warmup_steps": [0, 4]},
                },
            ],
            "train": {"steps": STEPS, "batch_size": 32, "eval_every": 10, "seed": 3, "device": device},
        }
    )


def reference_schedule(optimizer: torch.optim.Optimizer, name: str, warmup: int, steps: int, **step):
    """The schedule composed from torch.optim.lr_scheduler directly (not through mtlviz)."""
    decay = {
        "cosine": lambda: lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps - warmup),
        "linear": lambda: lr_scheduler.LinearLR(optimizer, 1.0, 0.0, total_iters=steps - warmup),
        "step": lambda: lr_scheduler.StepLR(optimizer, step_size=step.get("step_size", 0), gamma=step.get("gamma", 0)),
    }[name]()
    if not warmup:
        return decay
    ramp = lr_scheduler.LinearLR(optimizer, 1.0 / (warmup + 1), 1.0, total_iters=warmup)
    return lr_scheduler.SequentialLR(optimizer, [ramp, decay], milestones=[warmup])


def reference_run(config: ExperimentConfig, row) -> dict:
    """One row trained alone, the plain way."""
    opt = row.optimizer
    taskset = build_taskset(config.tasks, config.train.seed)
    model = build_model(config.model, taskset.tasks, taskset.input_dim, 1, config.train.seed)
    kwargs = {name: spec.default for name, spec in OPTIMIZERS[opt.name].options.items()}
    kwargs.update(opt.options)
    optimizer = OPTIMIZERS[opt.name].cls(model.parameters(), lr=opt.lr, **kwargs)
    schedule = opt.schedule
    extra = {"step_size": schedule.step_size, "gamma": schedule.gamma} if schedule.name == "step" else {}
    scheduler = reference_schedule(optimizer, schedule.name, schedule.warmup_steps, STEPS, **extra)
    sampler = BatchSampler(taskset.x_train.shape[0], config.train.batch_size, config.train.seed + 1)
    out = {"losses": [], "lr": [], "norm": [], "clipped": 0}
    for _ in range(STEPS):
        index = sampler.next()
        x, y = taskset.x_train[index], taskset.y_train[index]
        outputs = model(x)
        losses = [F.mse_loss(outputs[0][0].squeeze(-1), y[:, 0]) * 3.0, F.cross_entropy(outputs[1][0], y[:, 1].long())]
        optimizer.zero_grad()
        sum(losses).backward()
        if opt.clip_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), opt.clip_norm)
            out["norm"].append(float(norm))
            out["clipped"] += float(norm) > opt.clip_norm
        out["lr"].append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        out["losses"].append([loss.item() for loss in losses])
    out["params"] = [p.detach()[0] for p in model.parameters()]
    return out


def of(records: pd.DataFrame, run: str, metric: str) -> pd.DataFrame:
    rows = records[(records["run"] == run) & (records["metric"] == metric)]
    assert not rows.empty, f"no {metric} recorded for {run!r}"
    return rows


@pytest.fixture(scope="module")
def trained():
    config = searched(DEVICE)
    engine = Engine(config)
    records = pd.concat(list(engine.run()), ignore_index=True)
    return config, engine, records


def test_a_searched_grid_trains_every_trial_as_a_row(trained) -> None:
    config, engine, _ = trained
    assert len(engine.rows) == 4 + 8 + 4  # lr x warmup, lr x warmup x clip, lr x warmup
    assert {row.run for row in engine.rows} >= {"SGD lr=0.05 warmup=8", "AdamW lr=0.03 warmup=5 clip=50"}


def test_every_searched_row_equals_its_own_plain_pytorch_run(trained) -> None:
    config, engine, records = trained
    names = [n for n, _ in engine.model.named_parameters()]
    for k, row in enumerate(engine.rows):
        ref = reference_run(config, row)
        for name, batched, expected in zip(names, engine.params, ref["params"], strict=True):
            torch.testing.assert_close(
                batched.detach()[k].cpu(), expected, rtol=RTOL, atol=1e-6, msg=f"{row.run}: {name}"
            )
        losses = of(records, row.run, "train_loss").pivot_table(index="step", columns="task", values="value")
        torch.testing.assert_close(
            torch.tensor(losses[["reg", "cls"]].to_numpy()),
            torch.tensor(ref["losses"], dtype=torch.float64),
            rtol=RTOL,
            atol=1e-6,
        )
        # The recorded rate is the scheduler's for each step.
        lrs = of(records, row.run, "lr").sort_values("step")["value"].to_numpy()
        np.testing.assert_allclose(lrs, ref["lr"], rtol=1e-12)
        if row.optimizer.clip_norm is not None:
            norms = of(records, row.run, "pre_clip_norm").sort_values("step")["value"].to_numpy()
            np.testing.assert_allclose(norms, ref["norm"], rtol=1e-4)  # a norm of float32 gradients
            share = of(records, row.run, "clipped_share").sort_values("step")["value"].iloc[-1]
            assert share == pytest.approx(ref["clipped"] / STEPS)
        else:
            assert records[(records["run"] == row.run) & (records["metric"] == "pre_clip_norm")].empty


def test_clipping_was_exercised_and_a_large_clip_norm_never_clips(trained) -> None:
    _, _, records = trained
    shares = records[records["metric"] == "clipped_share"].groupby("run")["value"].last()
    assert shares["SGD lr=0.2 warmup=0"] > 0.5
    assert shares["AdamW lr=0.01 warmup=3 clip=50"] == 0.0


def test_the_step_size_statistics_use_the_scheduled_rate() -> None:
    """Plain SGD's closed-form step size is its lr: with a warmup it must rise with the schedule."""
    config = ExperimentConfig.from_dict(
        {
            "optimizers": [{"name": "sgd", "lr": 0.1, "schedule": {"name": "constant", "warmup_steps": 9}}],
            "train": {"steps": 20, "stats_every": 1, "conflict_every": 0, "device": "cpu"},
        }
    )
    records = pd.concat(list(Engine(config).run()), ignore_index=True)
    rates = records[records["metric"] == "effective_lr"].groupby("step")["value"].first()
    assert rates[1] == pytest.approx(0.01)  # lr / (warmup + 1)
    assert rates[5] == pytest.approx(0.05)
    assert rates[15] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("name", "warmup", "expected"),
    [
        ("cosine", 4, [0.2, 0.4, 0.6, 0.8, 1.0, 0.9619, 0.8536, 0.6913, 0.5, 0.3087, 0.1464, 0.0381]),
        ("linear", 2, [1 / 3, 2 / 3, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]),
        ("constant", 3, [0.25, 0.5, 0.75] + [1.0] * 9),
        ("cosine", 0, [0.5 * (1 + np.cos(np.pi * t / 12)) for t in range(12)]),
    ],
)
def test_schedules_have_their_closed_form(name: str, warmup: int, expected: list[float]) -> None:
    from mtlviz.config import Schedule

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = build_scheduler(optimizer, Schedule(name, warmup), 12)
    seen = []
    for _ in range(12):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(seen, expected, atol=1e-4)


def test_a_constant_schedule_without_warmup_builds_no_scheduler() -> None:
    from mtlviz.config import Schedule

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert build_scheduler(optimizer, Schedule("constant", 0), 10) is None
    assert build_scheduler(optimizer, None, 10) is None
