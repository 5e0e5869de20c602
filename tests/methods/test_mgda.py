"""MGDA: hand-made min-norm points, a brute-force grid, and the optimality conditions."""

from __future__ import annotations

import pytest
import torch

from mtlviz.methods.mgda import mgda, mgda_weights

DTYPES = [torch.float32, torch.float64]


def squared_norm(weights: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    """(K,) ||sum_t w_t g_t||^2 from the Gram matrix."""
    return torch.einsum("ks,kst,kt->k", weights, gram, weights)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("grads", "weights", "direction"),
    [
        ([[1.0, 0.0], [0.0, 1.0]], [0.5, 0.5], [0.5, 0.5]),  # orthogonal, equal norms: the middle
        ([[1.0, 0.0], [2.0, 0.0]], [1.0, 0.0], [1.0, 0.0]),  # same direction: the shorter one
        ([[1.0, 0.0], [-1.0, 0.0]], [0.5, 0.5], [0.0, 0.0]),  # opposed: Pareto-stationary, no step
        ([[3.0, 1.0], [3.0, 1.0]], [0.5, 0.5], [3.0, 1.0]),  # identical: any lambda, the same point
        # g1 = (1, 0), g2 = (0, 2): lambda_1 = (g2 - g1).g2 / ||g1 - g2||^2 = 4 / 5.
        ([[1.0, 0.0], [0.0, 2.0]], [0.8, 0.2], [0.8, 0.4]),
    ],
)
def test_two_tasks_by_hand(grads, weights, direction, dtype):
    result = mgda(torch.tensor([grads], dtype=dtype))
    torch.testing.assert_close(result.weights, torch.tensor([weights], dtype=dtype))
    torch.testing.assert_close(result.direction, torch.tensor([direction], dtype=dtype))
    assert result.direction.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_orthonormal_gradients_meet_in_the_middle(dtype):
    result = mgda(torch.eye(3, dtype=dtype)[None])
    torch.testing.assert_close(result.weights, torch.full((1, 3), 1 / 3, dtype=dtype))
    torch.testing.assert_close(result.direction, torch.full((1, 3), 1 / 3, dtype=dtype))


def test_three_tasks_agree_with_a_brute_force_grid(simplex_grid):
    grads = torch.randn(6, 3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grads[3, 2] = -grads[3, 0] - grads[3, 1]  # 0 in the hull: the minimum norm is 0
    gram = grads @ grads.transpose(1, 2)
    grid = simplex_grid(3, 300)  # (N, 3)
    on_grid = torch.einsum("ns,kst,nt->kn", grid, gram, grid)  # (K, N)
    best = on_grid.argmin(1)
    result = mgda(grads)
    scale = gram.diagonal(dim1=1, dim2=2).amax(1)
    found = squared_norm(result.weights, gram)
    assert (found <= on_grid.min(1).values + 1e-12 * scale).all()  # never worse than the grid
    assert (on_grid.min(1).values - found <= 1e-3 * scale).all()  # and the grid comes close
    for k in (0, 1, 2, 4, 5):  # a unique minimiser: the grid's best point is within a grid cell or two
        torch.testing.assert_close(result.weights[k], grid[best[k]], atol=1e-2, rtol=0)
    assert found[3] < 1e-12 * scale[3]


@pytest.mark.parametrize("num_tasks", [3, 4, 8])
@pytest.mark.parametrize("dtype", DTYPES)
def test_optimality_conditions(num_tasks, dtype):
    """At the min-norm point d every task gets at least ||d||^2 (equality on the support):
    g_t . d >= ||d||^2, so the step along -d decreases every task's loss."""
    generator = torch.Generator().manual_seed(num_tasks)
    common = torch.randn(6, 1, 200, generator=generator, dtype=torch.float64)
    grads = torch.randn(6, num_tasks, 200, generator=generator, dtype=torch.float64) + 0.5 * common
    grads = grads * torch.rand(6, num_tasks, 1, generator=generator, dtype=torch.float64).add(0.2)
    result = mgda(grads.to(dtype))
    weights, direction = result.weights.double(), result.direction.double()
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(6, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(direction, torch.einsum("kt,ktp->kp", weights, grads), atol=1e-4, rtol=1e-4)
    gains = torch.einsum("ktp,kp->kt", grads, direction)  # (K, T) g_t . d
    norm = (direction * direction).sum(1, keepdim=True)  # (K, 1) ||d||^2
    scale = (grads * grads).sum(2).amax(1, keepdim=True)
    tolerance = 1e-3 * scale if dtype == torch.float32 else 1e-5 * scale
    assert (gains >= norm - tolerance).all()
    support = weights > 1e-3
    assert ((gains - norm).abs()[support] <= tolerance.expand_as(gains)[support]).all()


def test_rows_get_their_own_answers():
    grads = torch.tensor(
        [
            [[1.0, 0.0], [0.0, 1.0]],
            [[1.0, 0.0], [2.0, 0.0]],
            [[1.0, 0.0], [-1.0, 0.0]],
        ]
    )
    result = mgda(grads)
    torch.testing.assert_close(result.weights, torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]]))
    torch.testing.assert_close(result.direction, torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 0.0]]))
    three = torch.randn(4, 3, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    batched = mgda(three).weights
    for k in range(4):
        torch.testing.assert_close(batched[k : k + 1], mgda(three[k : k + 1]).weights)


def test_a_single_task_keeps_its_gradient():
    grads = torch.tensor([[[2.0, -1.0]]])
    result = mgda(grads)
    assert torch.equal(result.direction, grads[:, 0]) and torch.equal(result.weights, torch.ones(1, 1))


def test_linearly_dependent_gradients_reach_zero():
    # Eight gradients in the plane spread around the origin: the hull holds 0, and
    # most faces are singular; the exact solver still finds a point of norm 0.
    angles = torch.linspace(0, 2 * torch.pi, 9, dtype=torch.float64)[:-1] + 0.1
    grads = torch.stack([angles.cos(), angles.sin()], 1)[None] * torch.arange(1, 9, dtype=torch.float64)[None, :, None]
    result = mgda(grads)
    assert torch.linalg.vector_norm(result.direction) < 1e-12
    assert (result.weights >= 0).all()
    torch.testing.assert_close(result.weights.sum(1), torch.ones(1, dtype=torch.float64))


def test_no_point_of_the_simplex_does_better(seed):
    grads = torch.randn(4, 5, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    gram = grads @ grads.transpose(1, 2)
    found = squared_norm(mgda_weights(gram), gram)  # (K,)
    points = torch.distributions.Dirichlet(torch.full((5,), 0.3, dtype=torch.float64)).sample((20_000,))
    others = torch.einsum("ns,kst,nt->kn", points, gram, points)
    assert (found[:, None] <= others + 1e-12).all()


def test_too_many_tasks_for_the_solver_are_refused():
    with pytest.raises(ValueError, match="expected at most 10 tasks for the simplex solver, found 11"):
        mgda(torch.randn(1, 11, 3))
