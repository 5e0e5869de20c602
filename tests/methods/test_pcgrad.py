"""PCGrad: hand-made projections, and a reference that projects the gradient vectors themselves."""

from __future__ import annotations

import itertools

import pytest
import torch

from mtlviz.methods.pcgrad import pcgrad, pcgrad_orders

DTYPES = [torch.float32, torch.float64]


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def reference(grads: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """The paper's Algorithm 1 on vectors, one row and one task at a time."""
    out = []
    for row in grads:
        total = torch.zeros_like(row[0])
        for i, order in enumerate(orders.tolist()):
            projected = row[i].clone()
            for j in order:
                dot = projected @ row[j]
                if dot < 0:
                    projected = projected - dot / (row[j] @ row[j]) * row[j]
            total += projected
        out.append(total)
    return torch.stack(out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conflicting_pair_by_hand(dtype):
    # g1 . g2 = -1. g1 off g2: (1, 0) - (-1 / 2)(-1, 1) = (0.5, 0.5); g2 off the original
    # g1: (-1, 1) - (-1)(1, 0) = (0, 1). Sum (0.5, 1.5) = 2 g1 + 1.5 g2.
    grads = torch.tensor([[[1.0, 0.0], [-1.0, 1.0]]], dtype=dtype)
    result = pcgrad(grads, generator())
    torch.testing.assert_close(result.direction, torch.tensor([[0.5, 1.5]], dtype=dtype))
    torch.testing.assert_close(result.weights, torch.tensor([[2.0, 1.5]], dtype=dtype))
    assert result.direction.dtype == dtype


def test_projected_gradient_no_longer_conflicts():
    grads = torch.tensor([[[1.0, 0.0], [-1.0, 1.0]]], dtype=torch.float64)
    weights = pcgrad(grads, generator()).weights
    # For two tasks each projected g_i is g_i + coefficient * g_j; g1's part is (0.5, 0.5).
    projected_first = grads[0, 0] + (weights[0, 1] - 1.0) * grads[0, 1]
    assert abs(projected_first @ grads[0, 1]) < 1e-12


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_that_do_not_conflict_are_summed_unchanged(dtype):
    grads = torch.tensor([[[1.0, 0.0, 2.0], [1.0, 1.0, 0.0], [0.0, 3.0, 1.0]]], dtype=dtype)
    result = pcgrad(grads, generator())
    torch.testing.assert_close(result.direction, grads.sum(1))
    torch.testing.assert_close(result.weights, torch.ones(1, 3, dtype=dtype))


def test_orthogonal_gradients_are_not_projected():
    grads = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert torch.equal(pcgrad(grads, generator()).direction, torch.tensor([[1.0, 1.0]]))


@pytest.mark.parametrize("num_tasks", [3, 4, 6])
def test_matches_the_vector_algorithm_for_the_same_orders(num_tasks):
    grads = torch.randn(5, num_tasks, 7, generator=generator(num_tasks), dtype=torch.float64)
    result = pcgrad(grads, generator(1))
    orders = pcgrad_orders(num_tasks, generator(1))  # the same draw as inside pcgrad
    expected = reference(grads, orders)
    torch.testing.assert_close(result.direction, expected)
    torch.testing.assert_close(torch.einsum("kt,ktp->kp", result.weights, grads), expected)


def test_the_order_matters_and_follows_the_generator():
    # Task 0 conflicts with both others; which projection comes first changes the result.
    grads = torch.tensor([[[1.0, 0.0, 0.0], [-1.0, 2.0, 0.0], [-1.0, 0.0, 3.0]]], dtype=torch.float64)
    directions = {tuple(pcgrad(grads, generator(seed)).direction[0].tolist()) for seed in range(20)}
    assert len(directions) > 1
    first = pcgrad(grads, generator(3)).direction
    assert torch.equal(first, pcgrad(grads, generator(3)).direction)


def test_orders_visit_every_other_task_in_every_order():
    seen: set[tuple[int, ...]] = set()
    for seed in range(200):
        orders = pcgrad_orders(3, generator(seed))
        assert orders.shape == (3, 2)
        for i, order in enumerate(orders.tolist()):
            assert sorted(order) == [j for j in range(3) if j != i]
            seen.add((i, *order))
    assert seen == {(i, *p) for i in range(3) for p in itertools.permutations([j for j in range(3) if j != i])}


def test_rows_are_independent():
    grads = torch.randn(4, 3, 5, generator=generator(7), dtype=torch.float64)
    batched = pcgrad(grads, generator(2)).direction
    for k in range(4):
        torch.testing.assert_close(batched[k : k + 1], pcgrad(grads[k : k + 1], generator(2)).direction)


def test_float32_agrees_with_float64():
    grads = torch.randn(3, 4, 50, generator=generator(5), dtype=torch.float64)
    exact = pcgrad(grads, generator(0)).direction
    single = pcgrad(grads.float(), generator(0)).direction
    torch.testing.assert_close(single.double(), exact, atol=1e-4, rtol=1e-4)


def test_rejects_gradients_that_are_not_three_dimensional():
    with pytest.raises(
        ValueError, match=r"grads: expected a floating tensor of shape \(K, T, P\), found shape \(2, 3\)"
    ):
        pcgrad(torch.ones(2, 3), generator())
