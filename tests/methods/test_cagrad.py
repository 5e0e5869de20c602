"""CAGrad: the mean gradient at c = 0, hand-made cases, a brute-force grid and the paper's guarantees."""

from __future__ import annotations

import math

import pytest
import torch

from mtlviz.methods.cagrad import cagrad, cagrad_objective, cagrad_weights

DTYPES = [torch.float32, torch.float64]


def random_gradients(seed: int, rows: int, tasks: int, size: int) -> torch.Tensor:
    """Gradients with a shared component and unequal norms, as tasks of one network have."""
    generator = torch.Generator().manual_seed(seed)
    common = torch.randn(rows, 1, size, generator=generator, dtype=torch.float64)
    grads = torch.randn(rows, tasks, size, generator=generator, dtype=torch.float64) + 0.5 * common
    return grads * torch.rand(rows, tasks, 1, generator=generator, dtype=torch.float64).mul(3).add(0.2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_c_gives_exactly_the_mean_gradient(dtype):
    grads = random_gradients(0, 3, 4, 9).to(dtype)
    result = cagrad(grads, 0.0)
    assert torch.equal(result.direction, grads.mean(1))
    torch.testing.assert_close(result.weights, torch.full((3, 4), 0.25, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_orthogonal_equal_norm_gradients_stay_along_the_mean(dtype):
    # By symmetry w = (1/2, 1/2), so g_w = g0 = (1/2, 1/2) and ||g_w|| = ||g0||: the update is
    # g0 + c g0, divided by 1 + c^2. For c = 0.5: 1.5 / 1.25 * (1/2, 1/2) = (0.6, 0.6).
    grads = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=dtype)
    result = cagrad(grads, 0.5)
    torch.testing.assert_close(result.direction, torch.tensor([[0.6, 0.6]], dtype=dtype))
    torch.testing.assert_close(result.weights, torch.tensor([[0.6, 0.6]], dtype=dtype))
    assert result.direction.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_conflicting_pair_by_hand(dtype):
    # g1 = (1, 0), g2 = (-0.5, 0): g0 = (0.25, 0), sqrt(phi) = 0.5 * 0.25 = 0.125. With
    # x = 1.5 w1 - 0.5 the first coordinate of g_w, F = 0.25 x + 0.125 |x|, least at x = -0.5:
    # w = (0, 1), g_w = g2. d = (g0 + 0.125 / 0.5 * g2) / 1.25 = (0.125, 0) / 1.25 = (0.1, 0),
    # that is 0.4 g1 + 0.6 g2.
    grads = torch.tensor([[[1.0, 0.0], [-0.5, 0.0]]], dtype=dtype)
    result = cagrad(grads, 0.5)
    torch.testing.assert_close(result.direction, torch.tensor([[0.1, 0.0]], dtype=dtype))
    torch.testing.assert_close(result.weights, torch.tensor([[0.4, 0.6]], dtype=dtype))


@pytest.mark.parametrize("c", [0.1, 0.5, 0.9])
def test_two_tasks_reach_the_minimum_of_a_fine_grid(c, simplex_grid):
    grads = random_gradients(1, 8, 2, 6)
    gram = grads @ grads.transpose(1, 2)
    grid = simplex_grid(2, 20_000)  # (N, 2)
    on_grid = cagrad_objective(grid.expand(8, -1, -1), gram, c)  # (K, N)
    found = cagrad_objective(cagrad_weights(gram, c), gram, c)
    scale = gram.diagonal(dim1=1, dim2=2).amax(1)
    assert (found <= on_grid.min(1).values + 1e-10 * scale).all()


def test_three_tasks_reach_the_minimum_of_a_grid(simplex_grid):
    grads = random_gradients(2, 6, 3, 5)
    gram = grads @ grads.transpose(1, 2)
    grid = simplex_grid(3, 300)
    on_grid = cagrad_objective(grid.expand(6, -1, -1), gram, 0.5)
    found = cagrad_objective(cagrad_weights(gram, 0.5), gram, 0.5)
    scale = gram.diagonal(dim1=1, dim2=2).amax(1)
    assert (found <= on_grid.min(1).values + 1e-10 * scale).all()


@pytest.mark.parametrize("num_tasks", [2, 3, 5, 8])
@pytest.mark.parametrize("c", [0.2, 0.5, 0.95])
def test_the_update_keeps_the_papers_guarantees(num_tasks, c):
    """Before the 1 / (1 + c^2) rescale the update lies on the sphere ||d - g0|| = c ||g0||, and
    it helps the worst-off task at least as much as the mean gradient g0 does (g0 is in the ball)."""
    grads = random_gradients(num_tasks, 6, num_tasks, 40)
    result = cagrad(grads, c)
    mean = grads.mean(1)  # (K, P)
    update = result.direction * (1 + c**2)  # (K, P)
    torch.testing.assert_close(
        torch.linalg.vector_norm(update - mean, dim=1), c * torch.linalg.vector_norm(mean, dim=1)
    )
    worst_cagrad = torch.einsum("ktp,kp->kt", grads, update).amin(1)
    worst_mean = torch.einsum("ktp,kp->kt", grads, mean).amin(1)
    assert (worst_cagrad >= worst_mean - 1e-9).all()
    torch.testing.assert_close(result.direction, torch.einsum("kt,ktp->kp", result.weights, grads))


def test_rows_get_their_own_answers():
    grads = torch.cat([torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]), torch.tensor([[[1.0, 0.0], [-0.5, 0.0]]])]).double()
    result = cagrad(grads, 0.5)
    torch.testing.assert_close(result.direction, torch.tensor([[0.6, 0.6], [0.1, 0.0]], dtype=torch.float64))
    many = random_gradients(3, 4, 4, 10)
    batched = cagrad(many, 0.5).direction
    for k in range(4):
        torch.testing.assert_close(batched[k : k + 1], cagrad(many[k : k + 1], 0.5).direction)


def test_float32_agrees_with_float64():
    grads = random_gradients(4, 5, 4, 100)
    exact = cagrad(grads, 0.5).direction
    single = cagrad(grads.float(), 0.5).direction.double()
    assert (torch.linalg.vector_norm(single - exact, dim=1) <= 1e-4 * torch.linalg.vector_norm(exact, dim=1)).all()


@pytest.mark.parametrize("num_tasks", [4, 8])
def test_no_point_of_the_simplex_does_better(num_tasks, seed):
    grads = random_gradients(6, 4, num_tasks, 3)  # P < T: many faces are singular
    gram = grads @ grads.transpose(1, 2)
    found = cagrad_objective(cagrad_weights(gram, 0.5), gram, 0.5)  # (K,)
    points = torch.distributions.Dirichlet(torch.full((num_tasks,), 0.3, dtype=torch.float64)).sample((20_000,))
    others = cagrad_objective(points.expand(4, -1, -1), gram, 0.5)  # (K, N)
    assert (found[:, None] <= others + 1e-12).all()


def test_zero_gradients_give_a_zero_update():
    result = cagrad(torch.zeros(2, 3, 4), 0.5)
    assert torch.equal(result.direction, torch.zeros(2, 4))
    assert torch.isfinite(result.weights).all()


@pytest.mark.parametrize("c", [-0.1, 1.0, math.nan])
def test_c_must_lie_in_zero_one(c):
    with pytest.raises(ValueError, match=r"c: expected a number in \[0, 1\), found"):
        cagrad(torch.ones(1, 2, 3), c)
