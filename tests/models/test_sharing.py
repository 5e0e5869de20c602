"""Sharing strategies: output shapes, a fair start, what is shared, the soft penalty,
cross-stitch units and mixtures of experts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtlviz.config import ModelConfig, TaskSpec
from mtlviz.models import SHARING, build_model
from mtlviz.models.cross_stitch import initial_alpha
from mtlviz.models.layers import StackedLinear

INPUT_DIM = 5
TASKS = (
    TaskSpec("reg"),
    TaskSpec("cls", type="classification", num_classes=3),
    TaskSpec("reg2"),
)
SAME_OUTPUT = (TaskSpec("a"), TaskSpec("b"), TaskSpec("c"))
GRID = [(s, d) for s in SHARING for d in (0, 2)]


def make(
    sharing: str, depth: int, tasks=TASKS, copies: int = 3, seed: int = 0, coupling: float = 0.1, experts: int = 4
):
    config = ModelConfig(sharing=sharing, hidden=7, depth=depth, activation="tanh", coupling=coupling, experts=experts)
    return build_model(config, tasks, INPUT_DIM, copies, seed)


def perturb_rows(model: nn.Module, seed: int = 1) -> None:
    """Give every configuration row its own weights, as training would."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=generator))


@pytest.mark.parametrize(("sharing", "depth"), GRID)
def test_forward_returns_one_output_per_task(sharing, depth):
    model = make(sharing, depth, copies=4)
    outputs = model(torch.randn(6, INPUT_DIM))
    assert len(outputs) == len(TASKS)
    assert [tuple(o.shape) for o in outputs] == [(4, 6, 1), (4, 6, 3), (4, 6, 1)]


@pytest.mark.parametrize(("sharing", "depth"), GRID)
def test_every_configuration_starts_from_the_same_weights(sharing, depth):
    model = make(sharing, depth, copies=4)
    for name, p in model.named_parameters():
        assert p.shape[0] == 4, name
        for k in range(1, 4):
            assert torch.equal(p[k], p[0]), (name, k)
    # ... and so every configuration computes the same function.
    for output in model(torch.randn(5, INPUT_DIM)):
        assert torch.equal(output, output[:1].expand_as(output))


@pytest.mark.parametrize(("sharing", "depth"), GRID)
def test_same_seed_gives_same_init_and_another_seed_differs(sharing, depth):
    a, b, c = make(sharing, depth, seed=3), make(sharing, depth, seed=3), make(sharing, depth, seed=4)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb), name
        if not name.startswith("cross_stitch."):  # the paper's fixed alpha start, the same for every seed
            assert not torch.equal(pa, pc), name


@pytest.mark.parametrize(("sharing", "depth"), GRID)
def test_one_batch_per_row_equals_a_shared_batch(sharing, depth):
    model = make(sharing, depth, copies=3)
    perturb_rows(model)
    x = torch.randn(6, INPUT_DIM)
    for shared, per_row in zip(model(x), model(x.expand(3, *x.shape))):
        torch.testing.assert_close(per_row, shared)
    # Different batches per row (seeds): row k computes what it computes on its own batch alone.
    batches = torch.randn(3, 6, INPUT_DIM)
    outputs = model(batches)
    for k in range(3):
        for alone, output in zip(model(batches[k]), outputs):
            torch.testing.assert_close(output[k], alone[k])


@pytest.mark.parametrize(("sharing", "depth"), GRID)
def test_shared_parameter_names(sharing, depth):
    model = make(sharing, depth)
    names = [name for name, _ in model.named_parameters()]
    shared = model.shared_parameter_names()
    assert set(shared) <= set(names)
    if sharing == "hard" and depth > 0:
        assert sorted(shared) == sorted(n for n in names if n.startswith("trunk."))
        assert len(shared) == 2 * depth
    elif sharing == "cross_stitch" and depth > 0:
        # Every tower layer and every unit but the last, whose row t feeds only task t.
        towers = [n for n in names if n.startswith("towers.")]
        assert sorted(shared) == sorted(towers + [f"cross_stitch.{i}" for i in range(depth - 1)])
    elif sharing == "mmoe":
        assert sorted(shared) == sorted(n for n in names if n.startswith("experts."))
        assert len(shared) == 2 * max(depth, 1)  # depth 0: one linear layer per expert
        assert not any(n.startswith("gates.") for n in shared)
    else:
        assert shared == []


@pytest.mark.parametrize(("sharing", "depth"), GRID)
def test_shared_parameters_are_exactly_those_with_gradient_from_several_tasks(sharing, depth):
    # Behavioural check of shared_parameter_names: backpropagate each task alone and
    # see which parameter entries it reaches. Independent towers are stacked (K, T, ...)
    # tensors, so the per-task slice is what must be touched by one task only.
    model = make(sharing, depth, copies=2)
    perturb_rows(model)
    x = torch.randn(8, INPUT_DIM)
    reached: dict[str, list[torch.Tensor]] = {name: [] for name, _ in model.named_parameters()}
    for t in range(len(TASKS)):
        model.zero_grad()
        model(x)[t].pow(2).sum().backward()
        for name, p in model.named_parameters():
            grad = p.grad if p.grad is not None else torch.zeros_like(p)
            reached[name].append(grad != 0)
    shared = set(model.shared_parameter_names())
    for name, masks in reached.items():
        overlap = torch.stack(masks).sum(0) > 1  # entries reached by more than one task
        assert bool(overlap.any()) == (name in shared), name


@pytest.mark.parametrize(("sharing", "depth"), GRID)
def test_each_row_is_an_independent_network(sharing, depth):
    # Row k of the stacked model equals the same network built with K = 1 and row-k weights.
    stacked = make(sharing, depth, copies=3)
    perturb_rows(stacked)
    x = torch.randn(9, INPUT_DIM)
    outputs = stacked(x)
    for k in range(3):
        single = make(sharing, depth, copies=1)
        with torch.no_grad():
            for p, q in zip(single.parameters(), stacked.parameters()):
                p.copy_(q[k : k + 1])
        for t, (expected, output) in enumerate(zip(single(x), outputs)):
            torch.testing.assert_close(output[k : k + 1], expected, msg=f"row {k}, task {t}")


@pytest.mark.parametrize("sharing", ["independent", "soft", "soft_chain", "cross_stitch"])
@pytest.mark.parametrize("depth", [0, 2])
def test_independent_towers_differ_between_tasks_at_init(sharing, depth):
    model = make(sharing, depth, tasks=SAME_OUTPUT)
    for name, p in model.towers.named_parameters():
        assert p.shape[:2] == (3, 3), name  # (K, T, ...)
        for t in range(1, 3):
            assert not torch.equal(p[:, t], p[:, 0]), (name, t)
    heads = model.heads
    assert not torch.equal(heads[0].weight, heads[1].weight)
    # Different towers give different predictions for the same input.
    outputs = model(torch.randn(4, INPUT_DIM))
    assert not torch.allclose(outputs[0], outputs[1])


@pytest.mark.parametrize("sharing", ["hard", "independent", "cross_stitch", "mmoe"])
@pytest.mark.parametrize("depth", [0, 2])
def test_strategies_without_coupling_have_zero_penalty(sharing, depth):
    model = make(sharing, depth, copies=2)
    perturb_rows(model)
    assert torch.equal(model.penalty(), torch.zeros(2))


# ------------------------------------------------------------------- stacked layers


def test_stacked_linear_with_one_copy_is_nn_linear():
    layer = StackedLinear((1,), 4, 3, torch.Generator().manual_seed(0))
    assert layer.weight.shape == (1, 4, 3)
    assert layer.bias.shape == (1, 1, 3)
    reference = nn.Linear(4, 3)
    with torch.no_grad():
        reference.weight.copy_(layer.weight[0].T)  # nn.Linear stores (out, in)
        reference.bias.copy_(layer.bias[0, 0])
    x = torch.randn(10, 4)
    out = layer(x)
    assert out.shape == (1, 10, 3)
    torch.testing.assert_close(out[0], reference(x))


def test_stacked_linear_init_matches_nn_linear_bounds():
    layer = StackedLinear((2,), 16, 8, torch.Generator().manual_seed(0))
    bound = 1 / 16**0.5
    assert layer.weight.abs().max() <= bound
    assert layer.bias.abs().max() <= bound
    assert layer.weight.abs().max() > 0.8 * bound  # uniform over the whole range, not a narrower one


def test_stacked_linear_with_inner_stack_runs_each_entry_on_its_own_input():
    layer = StackedLinear((2, 3), 4, 5, torch.Generator().manual_seed(0))
    with torch.no_grad():
        layer.weight.add_(torch.randn(layer.weight.shape))
    x = torch.randn(2, 3, 6, 4)  # (K, T, B, in)
    out = layer(x)
    assert out.shape == (2, 3, 6, 5)
    for k in range(2):
        for t in range(3):
            expected = x[k, t] @ layer.weight[k, t] + layer.bias[k, t]
            torch.testing.assert_close(out[k, t], expected)
    # A 2-D input is shared by every entry.
    shared = torch.randn(6, 4)
    out = layer(shared)
    torch.testing.assert_close(out[1, 2], shared @ layer.weight[1, 2] + layer.bias[1, 2])


# --------------------------------------------------------------------- soft penalty


def tower_vectors(model) -> torch.Tensor:
    """(K, T, n): every task's coupled parameters flattened, the way the paper writes theta_t."""
    k, t = model.num_copies, len(model.heads)
    parts = [p.reshape(k, t, -1) for p in model.towers.parameters()]
    parts.append(torch.stack([h.weight.reshape(k, -1) for h in model.heads], 1))
    parts.append(torch.stack([h.bias.reshape(k, -1) for h in model.heads], 1))
    return torch.cat(parts, 2)


@pytest.mark.parametrize("sharing", ["soft", "soft_chain"])
@pytest.mark.parametrize("depth", [0, 2])
def test_soft_penalty_is_zero_when_all_task_networks_are_equal(sharing, depth):
    model = make(sharing, depth, tasks=SAME_OUTPUT, copies=2, coupling=0.5)
    perturb_rows(model)
    assert (model.penalty() > 0).all()
    with torch.no_grad():
        for p in model.towers.parameters():
            p.copy_(p[:, :1].expand_as(p))
        for head in model.heads[1:]:
            head.weight.copy_(model.heads[0].weight)
            head.bias.copy_(model.heads[0].bias)
    torch.testing.assert_close(model.penalty(), torch.zeros(2))


@pytest.mark.parametrize("depth", [0, 2])
def test_soft_mean_penalty_matches_hand_computation(depth):
    coupling = 0.37
    model = make("soft", depth, tasks=SAME_OUTPUT, copies=2, coupling=coupling)
    perturb_rows(model)
    theta = tower_vectors(model)  # (K, T, n)
    expected = coupling * (theta - theta.mean(1, keepdim=True)).pow(2).sum((1, 2))
    penalty = model.penalty()
    assert penalty.shape == (2,)
    torch.testing.assert_close(penalty, expected)
    # The rows were perturbed differently, so the two configurations pay different penalties.
    assert not torch.allclose(penalty[0], penalty[1])


@pytest.mark.parametrize("depth", [0, 2])
def test_soft_chain_penalty_matches_hand_computation(depth):
    coupling = 0.37
    model = make("soft_chain", depth, tasks=SAME_OUTPUT, copies=2, coupling=coupling)
    perturb_rows(model)
    theta = tower_vectors(model)  # (K, T, n)
    expected = coupling * sum((theta[:, t] - theta[:, t + 1]).pow(2).sum(1) for t in range(2))
    torch.testing.assert_close(model.penalty(), expected)


def test_soft_penalty_scales_with_coupling_and_has_gradient():
    model = make("soft", 2, tasks=SAME_OUTPUT, copies=2, coupling=1.0)
    heavy = make("soft", 2, tasks=SAME_OUTPUT, copies=2, coupling=3.0)
    torch.testing.assert_close(heavy.penalty(), 3.0 * model.penalty())
    model.penalty().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.towers.parameters())


def test_soft_heads_of_different_sizes_are_not_coupled():
    model = make("soft", 0, tasks=TASKS, copies=2)  # depth 0: only heads, and their shapes differ
    perturb_rows(model)
    assert torch.equal(model.penalty(), torch.zeros(2))


# --------------------------------------------------------------------- cross-stitch


def copy_parameters(target: nn.Module, source: nn.Module, rename: dict[str, str] | None = None) -> None:
    """Copy every parameter of `source` into `target` (by name, after `rename` of prefixes)."""
    params = dict(target.named_parameters())
    with torch.no_grad():
        for name, p in source.named_parameters():
            for old, new in (rename or {}).items():
                name = name.replace(old, new, 1) if name.startswith(old) else name
            params[name].copy_(p.reshape(params[name].shape))


def test_cross_stitch_alpha_starts_as_in_the_paper():
    alpha = initial_alpha(3)
    torch.testing.assert_close(alpha.diagonal(), torch.full((3,), 0.9))
    torch.testing.assert_close(alpha[0, 1:], torch.full((2,), 0.05))
    torch.testing.assert_close(alpha.sum(1), torch.ones(3))  # every task's activation keeps its scale
    assert torch.equal(initial_alpha(1), torch.ones(1, 1))
    model = make("cross_stitch", 2, copies=2)
    assert len(model.cross_stitch) == 2  # one unit per hidden layer
    for unit in model.cross_stitch:
        assert unit.shape == (2, 3, 3)  # (K, T, T)
        assert torch.equal(unit, alpha.expand(2, 3, 3))


@pytest.mark.parametrize("depth", [0, 2])
def test_cross_stitch_with_identity_units_is_the_independent_strategy(depth):
    independent = make("independent", depth, copies=2)
    perturb_rows(independent)
    model = make("cross_stitch", depth, copies=2)
    copy_parameters(model, independent)
    with torch.no_grad():
        for unit in model.cross_stitch:
            unit.copy_(torch.eye(3).expand_as(unit))
    x = torch.randn(7, INPUT_DIM)
    for expected, output in zip(independent(x), model(x)):
        torch.testing.assert_close(output, expected)
    # The paper's mixing units change the function: they really act at depth > 0.
    if depth:
        with torch.no_grad():
            for unit in model.cross_stitch:
                unit.copy_(initial_alpha(3).expand_as(unit))
        assert not torch.allclose(model(x)[0], independent(x)[0])


def test_cross_stitch_matches_a_hand_written_network():
    # Row by row and task by task with plain matmuls: h'_t = sum_s alpha[t, s] h_s after each layer.
    model = make("cross_stitch", 2, copies=2)
    perturb_rows(model)
    x = torch.randn(5, INPUT_DIM)
    outputs = model(x)
    for k in range(2):
        h = [x] * 3
        for layer, alpha in zip(model.towers, model.cross_stitch):
            h = [torch.tanh(h[t] @ layer.weight[k, t] + layer.bias[k, t]) for t in range(3)]
            h = [sum(alpha[k, t, s] * h[s] for s in range(3)) for t in range(3)]
        for t, head in enumerate(model.heads):
            torch.testing.assert_close(outputs[t][k], h[t] @ head.weight[k] + head.bias[k])


# ------------------------------------------------------------------------------ MMoE


def test_mmoe_with_one_expert_is_hard_sharing():
    # A softmax over one expert is 1, so its single expert is a shared trunk.
    hard = make("hard", 2, copies=2)
    perturb_rows(hard)
    model = make("mmoe", 2, copies=2, experts=1)
    perturb_rows(model)  # the gates keep their own (now irrelevant) weights
    copy_parameters(model, hard, rename={"trunk.": "experts."})
    x = torch.randn(7, INPUT_DIM)
    for expected, output in zip(hard(x), model(x)):
        torch.testing.assert_close(output, expected)


@pytest.mark.parametrize("depth", [0, 2])
def test_mmoe_matches_a_hand_written_network(depth):
    model = make("mmoe", depth, copies=2, experts=3)
    perturb_rows(model)
    x = torch.randn(5, INPUT_DIM)
    outputs = model(x)
    for k in range(2):
        experts = []
        for e in range(3):
            h = x
            for layer in model.experts:
                h = h @ layer.weight[k, e] + layer.bias[k, e]
                h = torch.tanh(h) if depth else h  # depth 0: linear experts
            experts.append(h)
        for t, head in enumerate(model.heads):
            gate = torch.softmax(x @ model.gates.weight[k, t] + model.gates.bias[k, t], -1)  # (B, E)
            mixed = sum(gate[:, e : e + 1] * experts[e] for e in range(3))
            torch.testing.assert_close(outputs[t][k], mixed @ head.weight[k] + head.bias[k])


def test_mmoe_experts_and_gates_differ_at_init():
    model = make("mmoe", 2, copies=2, experts=3)
    assert model.gates.weight.shape == (2, 3, INPUT_DIM, 3)  # (K, T, in, experts)
    for name, p in model.experts.named_parameters():
        assert p.shape[:2] == (2, 3), name  # (K, E, ...)
        assert not torch.equal(p[:, 1], p[:, 0]), name
    assert not torch.equal(model.gates.weight[:, 1], model.gates.weight[:, 0])
    # The gates pass gradient to every expert, and each task's gate only from that task.
    model(torch.randn(4, INPUT_DIM))[0].sum().backward()
    assert model.gates.weight.grad[:, 0].abs().sum() > 0
    assert torch.equal(model.gates.weight.grad[:, 1:], torch.zeros_like(model.gates.weight[:, 1:]))
    assert (model.experts[0].weight.grad.flatten(2).abs().sum(2) > 0).all()
