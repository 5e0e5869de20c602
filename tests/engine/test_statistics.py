"""Every update statistic against an independent computation on a tiny model.

The independent side never reads the engine's statistics code: gradients come
from a separate K=1 copy of each configuration, updates from parameter copies
taken around the step, and effective step sizes either from a hand-written
formula over the optimizer's state or, with momentum off, from -delta / grad.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.engine import Engine
from mtlviz.engine.statistics import LAYER_METRICS
from mtlviz.models import build_model
from mtlviz.records import CONFLICT_DEAD_ZONE

M = {name: i for i, name in enumerate(LAYER_METRICS)}

OPTIMIZERS = (
    OptimizerConfig("sgd", 0.1, "SGD"),
    OptimizerConfig("sgd", 0.05, "SGD L2", {"weight_decay": 0.1}),
    OptimizerConfig("adam", 0.01, "Adam b1=0", {"betas": (0.0, 0.99)}),
    OptimizerConfig("adam", 0.01, "Adam", {"weight_decay": 0.05}),
    OptimizerConfig("adamw", 0.01, "AdamW", {"weight_decay": 0.2}),
    OptimizerConfig("rmsprop", 0.01, "RMSprop"),
    OptimizerConfig("adagrad", 0.1, "Adagrad", {"lr_decay": 0.01}),
    OptimizerConfig("radam", 0.01, "RAdam"),
)


def tiny(sharing: str = "hard", stats_every: int = 1, conflict_every: int = 1, steps: int = 12) -> ExperimentConfig:
    tasks = SyntheticTasks(
        targets=(TaskSpec("a", weight=2.0), TaskSpec("b", type="classification", num_classes=3), TaskSpec("c")),
        input_dim=5,
        num_samples=300,
        relatedness=0.2,
    )
    return ExperimentConfig(
        tasks=tasks,
        model=ModelConfig(sharing=sharing, hidden=6, depth=2),
        optimizers=OPTIMIZERS,
        train=TrainConfig(steps=steps, batch_size=16, seed=1, stats_every=stats_every, conflict_every=conflict_every),
    )


def reference_task_grads(engine: Engine, k: int, x: torch.Tensor, y: torch.Tensor) -> list[list[torch.Tensor]]:
    """Per task, the gradient of w_t * L_t for configuration k, from a separate K=1 model."""
    config = engine.config
    model = build_model(config.model, engine.tasks, x.shape[1], 1, config.train.seed)
    with torch.no_grad():
        for ref, p in zip(model.parameters(), engine.params):
            ref.copy_(p.detach()[k : k + 1])
    outputs = model(x)
    grads = []
    for t, task in enumerate(engine.tasks):
        out = outputs[t][0]
        if task.type == "regression":
            loss = F.mse_loss(out.squeeze(-1), y[:, t])
        else:
            loss = F.cross_entropy(out, y[:, t].long())
        g = torch.autograd.grad(
            task.weight * task.loss_scale * loss,
            list(model.parameters()),
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
        grads.append([gi[0] for gi in g])
    return grads


def step_with_reference(engine: Engine):
    """One engine step, with everything an independent check needs captured around it."""
    x, y = engine.next_batch()
    task_grads = [reference_task_grads(engine, k, x, y) for k in range(engine.num_copies)]
    before = [p.detach().clone() for p in engine.params]
    engine.train_step(x, y)
    after = [p.detach().clone() for p in engine.params]
    stats = engine._layer_stats[-1][1]  # (M, K, L) for this step, still on the device
    return task_grads, before, after, stats


def test_norms_and_ratio_match_an_independent_computation() -> None:
    engine = Engine(tiny())
    for _ in range(3):
        task_grads, before, after, stats = step_with_reference(engine)
        for k, i in itertools.product(range(engine.num_copies), range(len(engine.params))):
            grad = sum(g[i] for g in task_grads[k])  # the full gradient is the sum of the task gradients
            update = (after[i][k] - before[i][k]).norm()
            norm = after[i][k].norm()
            torch.testing.assert_close(stats[M["grad_norm"], k, i], grad.norm(), rtol=1e-4, atol=1e-7)
            torch.testing.assert_close(stats[M["update_norm"], k, i], update, rtol=1e-5, atol=1e-8)
            torch.testing.assert_close(stats[M["param_norm"], k, i], norm, rtol=1e-6, atol=1e-8)
            torch.testing.assert_close(stats[M["update_ratio"], k, i], update / norm, rtol=1e-5, atol=1e-9)


def test_plain_sgd_update_norm_is_lr_times_grad_norm() -> None:
    engine = Engine(tiny())
    k = engine.labels.index("SGD")
    for _ in range(3):
        _, _, _, stats = step_with_reference(engine)
        torch.testing.assert_close(stats[M["update_norm"], k], 0.1 * stats[M["grad_norm"], k], rtol=1e-5, atol=0)
        assert torch.all(stats[M["effective_lr"], k] == torch.tensor(0.1))
        assert torch.all(stats[M["weight_decay_norm"], k] == 0)


@pytest.mark.parametrize("label", ["Adam b1=0", "RMSprop", "Adagrad"])
def test_effective_lr_is_minus_update_over_gradient_without_momentum(label: str) -> None:
    """With no momentum these methods step exactly -lr_eff * g, elementwise."""
    engine = Engine(tiny())
    k = engine.labels.index(label)
    for _ in range(4):
        task_grads, before, after, stats = step_with_reference(engine)
    exact = 0  # layers whose every element has a usable ratio: there the quantiles must match
    for i in range(len(engine.params)):
        grad = sum(g[i] for g in task_grads[k]).flatten()
        delta = (after[i][k] - before[i][k]).flatten()
        usable = grad.abs() > 1e-4  # away from 0/0
        ratio = (-delta[usable] / grad[usable]).double().numpy()
        p10, p50, p90 = np.quantile(ratio, [0.1, 0.5, 0.9])
        expected = torch.tensor([p50, p10, p90], dtype=torch.float32)
        got = stats[[M["effective_lr"], M["effective_lr_p10"], M["effective_lr_p90"]], k, i]
        if usable.all():
            torch.testing.assert_close(got, expected, rtol=2e-3, atol=1e-9)
            exact += 1
        assert got[1] <= got[0] <= got[2]
    assert exact > 0, "every layer had a near-zero gradient: the quantiles were never compared"


def test_adam_effective_lr_from_the_state_by_hand() -> None:
    engine = Engine(tiny())
    k = engine.labels.index("Adam")
    for _ in range(5):
        _, _, _, stats = step_with_reference(engine)
    optimizer = engine.optimizers[k]
    for i, row in enumerate(optimizer.param_groups[0]["params"]):
        state = optimizer.state[row]
        t = float(state["step"])
        v_hat = state["exp_avg_sq"] / (1 - 0.999**t)
        by_hand = 0.01 / (v_hat.sqrt() + 1e-8)
        median = torch.tensor(np.median(by_hand.flatten().double().numpy()), dtype=torch.float32)
        torch.testing.assert_close(stats[M["effective_lr"], k, i], median, rtol=1e-4, atol=0)


def test_weight_decay_part_decoupled_and_l2() -> None:
    engine = Engine(tiny())
    adamw, sgd_l2, adam = (engine.labels.index(n) for n in ("AdamW", "SGD L2", "Adam"))
    for _ in range(3):
        _, before, _, stats = step_with_reference(engine)
    for i in range(len(engine.params)):
        theta = before[i]
        # AdamW: decoupled, lr * wd * theta
        torch.testing.assert_close(
            stats[M["weight_decay_norm"], adamw, i], 0.01 * 0.2 * theta[adamw].norm(), rtol=1e-5, atol=0
        )
        # SGD with an L2 term and no momentum: the gradient gains wd * theta, the step lr * wd * theta
        torch.testing.assert_close(
            stats[M["weight_decay_norm"], sgd_l2, i], 0.05 * 0.1 * theta[sgd_l2].norm(), rtol=1e-5, atol=0
        )
        # Adam with an L2 term: that term passes through the adaptive step size
        assert 0 < stats[M["weight_decay_norm"], adam, i] < float("inf")


def test_task_gradient_norms_and_cosines_on_the_shared_trunk() -> None:
    engine = Engine(tiny())
    shared = engine.shared_index
    assert [engine.layer_names[i] for i in shared] == [
        "trunk.0.weight",
        "trunk.0.bias",
        "trunk.1.weight",
        "trunk.1.bias",
    ]
    task_grads, _, _, _ = step_with_reference(engine)
    _, norms, cosines = engine._conflicts[-1]
    for k in range(engine.num_copies):
        vectors = [torch.cat([task_grads[k][t][i].flatten() for i in shared]) for t in range(3)]
        for t in range(3):
            torch.testing.assert_close(norms[k, t], vectors[t].norm(), rtol=1e-4, atol=1e-8)
        for a, b in itertools.combinations(range(3), 2):
            cos = F.cosine_similarity(vectors[a], vectors[b], dim=0)
            torch.testing.assert_close(cosines[k, a, b], cos, rtol=1e-4, atol=1e-5)


def test_records_carry_layers_pairs_and_conflict_share() -> None:
    engine = Engine(tiny(stats_every=4, conflict_every=3, steps=12))
    records = pd.concat(list(engine.run()), ignore_index=True)
    grad = records[records["metric"] == "grad_norm"]
    assert sorted(grad["step"].unique()) == [4, 8, 12]
    assert "heads.a.weight" in set(grad["layer"]) and "trunk.0.weight" in set(grad["layer"])
    cos = records[records["metric"] == "grad_cosine"]
    assert sorted(cos["step"].unique()) == [3, 6, 9, 12]
    assert set(cos["task"]) == {"a ↔ b", "a ↔ c", "b ↔ c"} and set(cos["layer"]) == {"shared"}
    share = records[records["metric"] == "conflict_share"].set_index(["run", "step"])["value"]
    negative = cos.assign(neg=cos["value"] < -CONFLICT_DEAD_ZONE).groupby(["run", "step"])["neg"].mean()
    pd.testing.assert_series_equal(share.sort_index(), negative.sort_index(), check_names=False)
    norms = records[records["metric"] == "task_grad_norm"]
    assert set(norms["task"]) == {"a", "b", "c"}


@pytest.mark.parametrize("sharing", ["independent", "soft"])
def test_no_conflict_rows_without_shared_parameters(sharing: str) -> None:
    engine = Engine(tiny(sharing=sharing, steps=6))
    records = pd.concat(list(engine.run()), ignore_index=True)
    assert engine.metadata().has_shared_parameters is False
    assert records[records["metric"].isin(["grad_cosine", "task_grad_norm", "conflict_share"])].empty
    assert not records[records["metric"] == "update_ratio"].empty


def test_statistics_off_records_none() -> None:
    engine = Engine(tiny(stats_every=0, conflict_every=0, steps=6))
    records = pd.concat(list(engine.run()), ignore_index=True)
    # The cost charged to each row is timed, not a statistic: it comes with every evaluation.
    assert set(records["metric"]) <= {"train_loss", "val_loss", "val_accuracy", "val_r2", "val_rmse", "cost_seconds"}


def test_quantiles_of_a_large_layer_come_from_a_fair_sample() -> None:
    """Layers above QUANTILE_SAMPLE elements are summarised on a strided sample:
    the reported percentiles must still sit close to the true ones."""
    from mtlviz.engine.statistics import QUANTILE_SAMPLE

    config = tiny()
    config = ExperimentConfig(
        tasks=config.tasks,
        model=ModelConfig(sharing="hard", hidden=64, depth=2),
        optimizers=(OptimizerConfig("adam", 0.01, "Adam b1=0", {"betas": (0.0, 0.99)}),),
        train=config.train,
    )
    engine = Engine(config)
    large = engine.layer_names.index("trunk.1.weight")
    assert engine.params[large][0].numel() > QUANTILE_SAMPLE
    for _ in range(4):
        _, _, _, stats = step_with_reference(engine)
    # Every element's step size by hand from Adam's state (elements with a zero
    # gradient, dead units, included: their step sizes are the largest).
    optimizer = engine.optimizers[0]
    state = optimizer.state[optimizer.param_groups[0]["params"][large]]
    v_hat = state["exp_avg_sq"] / (1 - 0.99 ** float(state["step"]))
    rate = (0.01 / (v_hat.sqrt() + 1e-8)).flatten().double().numpy()
    for metric, q in (("effective_lr_p10", 10), ("effective_lr", 50), ("effective_lr_p90", 90)):
        low, high = np.percentile(rate, [q - 4, q + 4])
        assert low <= float(stats[M[metric], 0, large]) <= high, metric


def test_conflict_share_counts_only_cosines_below_the_dead_zone() -> None:
    """A cosine of -0.02 is near orthogonal, not conflict: of (-0.02, -0.3, 0.5) one pair conflicts."""
    engine = Engine(tiny(steps=3))
    k, t = engine.num_copies, len(engine.tasks)
    cosines = torch.eye(t).repeat(k, 1, 1)
    for (a, b), value in zip(engine.pairs, (-0.02, -0.3, 0.5)):
        cosines[:, a, b] = cosines[:, b, a] = value
    engine._conflicts = [(3, torch.ones(k, t), cosines)]
    frames = pd.concat(engine._conflict_records({3: 0.5}), ignore_index=True)
    share = frames[frames["metric"] == "conflict_share"]
    assert len(share) == k and np.allclose(share["value"], 1 / 3)


MOMENTUM = (
    OptimizerConfig("sgd", 0.1, "SGD"),
    OptimizerConfig("sgd", 0.1, "SGD m=0.9", {"momentum": 0.9}),
    OptimizerConfig("sgd", 0.1, "Nesterov", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    OptimizerConfig("adam", 0.01, "Adam"),
)


@pytest.mark.parametrize("label", ["SGD m=0.9", "Nesterov"])
def test_momentum_records_the_measured_step_computed_by_hand(label: str) -> None:
    """With momentum lr is not the step per unit gradient: the engine records |dtheta| / |g|
    per element instead (as measured_step), and no closed-form effective_lr for that row."""
    from mtlviz.engine.statistics import MEASURED_GRADIENT_FLOOR

    base = tiny()
    engine = Engine(ExperimentConfig(tasks=base.tasks, model=base.model, optimizers=MOMENTUM, train=base.train))
    k = engine.labels.index(label)
    for _ in range(4):
        task_grads, before, after, stats = step_with_reference(engine)
    medians = []
    for i in range(len(engine.params)):
        grad = sum(g[i] for g in task_grads[k]).flatten().double()
        delta = (after[i][k] - before[i][k]).flatten().double()
        usable = grad.abs() > MEASURED_GRADIENT_FLOOR * grad.norm() / grad.numel() ** 0.5
        ratio = (delta[usable].abs() / grad[usable].abs()).numpy()
        p10, p50, p90 = np.quantile(ratio, [0.1, 0.5, 0.9])
        got = stats[[M["measured_step"], M["measured_step_p10"], M["measured_step_p90"]], k, i]
        torch.testing.assert_close(got, torch.tensor([p50, p10, p90], dtype=torch.float32), rtol=2e-3, atol=1e-9)
        medians.append(p50)
    # Momentum carries earlier gradients into the step: per unit of this gradient it is not lr.
    assert sum(abs(m - 0.1) > 0.01 for m in medians) > len(medians) / 2, medians
    closed_form = stats[[M["effective_lr"], M["effective_lr_p10"], M["effective_lr_p90"]], k]
    assert torch.isnan(closed_form).all()  # no closed form to report for this row
    for exact in (engine.labels.index("SGD"), engine.labels.index("Adam")):
        assert torch.isfinite(stats[M["effective_lr"], exact]).all()
        assert torch.isnan(stats[M["measured_step"], exact]).all()


def test_records_name_the_kind_of_each_rows_step_size() -> None:
    base = tiny(stats_every=2, conflict_every=0, steps=6)
    engine = Engine(ExperimentConfig(tasks=base.tasks, model=base.model, optimizers=MOMENTUM, train=base.train))
    records = pd.concat(list(engine.run()), ignore_index=True)
    runs = records.groupby("metric", observed=True)["run"].unique()
    assert set(runs["effective_lr"]) == {"SGD", "Adam"}
    assert set(runs["measured_step"]) == {"SGD m=0.9", "Nesterov"}
