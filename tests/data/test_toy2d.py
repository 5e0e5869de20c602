"""The toy2d problem: its losses against the formula, autograd, the Pareto set, and the point model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mtlviz.data.toy2d import (
    FLOOR,
    START_POINTS,
    X_RANGE,
    pareto_front,
    pareto_set,
    toy2d_losses_np,
)
from mtlviz.models.toy2d import Toy2DModel, toy2d_losses

# The floors: 0.5(-x1 - 7) - tanh(-x2) = 0 at x1 = 2 tanh(x2) - 7, and f2's term is 0 at x1 = 7 - 2 tanh(x2).
ON_F1_FLOOR = (2 * math.tanh(3.0) - 7, 3.0)
ON_F2_FLOOR = (7 - 2 * math.tanh(3.0), 3.0)
POINTS = [
    (-8.5, 7.5),  # above the axis: c2 = 0, only the log-valleys
    (9.0, 9.0),
    (9.0, -1.0),  # below: c1 = 0, only the bowls
    (-8.5, -5.0),
    (3.3, -8.4),
    (0.0, 0.0),  # on the axis: c1 = c2 = 0, both losses 0
    ON_F1_FLOOR,
    ON_F2_FLOOR,
]


@pytest.mark.parametrize("point", POINTS)
def test_losses_match_the_formula(point, toy2d_reference):
    expected = toy2d_reference(*point)
    got = toy2d_losses(torch.tensor(point, dtype=torch.float64))
    assert got.dtype == torch.float64 and got.shape == (2,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.array(toy2d_losses_np(*point)), expected, rtol=1e-12, atol=1e-12)


def test_the_regions_and_the_floor():
    # Hand values, so a sign slip shared by the code and the reference still shows.
    assert toy2d_losses_np(0.0, 0.0) == (0.0, 0.0)
    l1, l2 = toy2d_losses_np(9.0, -1.0)  # c1 = 0: L_i = tanh(0.5) g_i
    assert l1 == pytest.approx(math.tanh(0.5) * ((4 + 0.1 * 49) / 10 - 20))
    assert l2 == pytest.approx(math.tanh(0.5) * ((256 + 0.1 * 49) / 10 - 20))
    floored = math.tanh(1.5) * (math.log(FLOOR) + 6)  # c1 f at the floor, log(5e-6) + 6 = -6.2
    assert toy2d_losses_np(*ON_F1_FLOOR)[0] == pytest.approx(floored, rel=1e-9)
    assert toy2d_losses_np(*ON_F2_FLOOR)[1] == pytest.approx(floored, rel=1e-9)
    assert floored == pytest.approx(math.tanh(1.5) * -6.2061, rel=1e-4)


def test_torch_and_numpy_agree_on_any_batch_shape():
    rng = np.random.default_rng(0)
    x = rng.uniform(-12, 12, size=(3, 50, 2))
    got = toy2d_losses(torch.from_numpy(x))
    assert got.shape == (3, 50, 2)
    l1, l2 = toy2d_losses_np(x[..., 0], x[..., 1])
    np.testing.assert_allclose(got[..., 0].numpy(), l1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[..., 1].numpy(), l2, rtol=1e-12, atol=1e-12)


def test_float32_points_are_evaluated_in_float64():
    x = torch.tensor([[-8.5, 7.5]], dtype=torch.float32)
    assert toy2d_losses(x).dtype == torch.float64


def test_rejects_points_without_two_coordinates():
    with pytest.raises(ValueError, match=r"expected points of shape \(\.\.\., 2\), found shape \(4, 3\)"):
        toy2d_losses(torch.zeros(4, 3))


def gradients(points: np.ndarray) -> np.ndarray:
    """(n, 2 tasks, 2 coordinates) autograd gradients of L1 and L2 at the points."""
    x = torch.tensor(points, dtype=torch.float64, requires_grad=True)
    losses = toy2d_losses(x)
    (g1,) = torch.autograd.grad(losses[:, 0].sum(), x, retain_graph=True)
    (g2,) = torch.autograd.grad(losses[:, 1].sum(), x)
    return torch.stack([g1, g2], dim=1).numpy()


@pytest.mark.parametrize("name", [n for n in START_POINTS if START_POINTS[n][1] != 0])
def test_autograd_matches_finite_differences_at_the_start_points(name):
    point = np.array([START_POINTS[name]])
    grad = gradients(point)[0]
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0
    h = 1e-6
    for coordinate in range(2):
        step = np.zeros(2)
        step[coordinate] = h
        up = np.array(toy2d_losses_np(*(point[0] + step)))
        down = np.array(toy2d_losses_np(*(point[0] - step)))
        np.testing.assert_allclose(grad[:, coordinate], (up - down) / (2 * h), rtol=1e-6, atol=1e-8)


def test_gradient_is_finite_on_the_axis():
    # (0, 0) sits on the kink between the two regions, where both clamps meet.
    assert np.isfinite(gradients(np.array([[0.0, 0.0]]))).all()


def min_norm(g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    """Norm of the smallest convex combination w g1 + (1 - w) g2, row by row."""
    diff = g1 - g2
    w = np.clip(-(g2 * diff).sum(1) / np.maximum((diff * diff).sum(1), 1e-300), 0.0, 1.0)
    return np.linalg.norm(w[:, None] * g1 + (1 - w[:, None]) * g2, axis=1)


def test_pareto_set_is_stationary():
    points = pareto_set(201)
    grads = gradients(points)
    scale = np.linalg.norm(grads, axis=2).max(axis=1)
    # The gradients are anti-parallel (or one is zero, at the ends): some convex combination vanishes.
    assert (min_norm(grads[:, 0], grads[:, 1]) <= 1e-9 * scale).all()
    # Inside, neither gradient vanishes: a genuine trade-off, not a shared minimum.
    assert (scale[1:-1] > 0.1).all()


def test_pareto_set_shape():
    points = pareto_set(201)
    assert points.shape == (201, 2)
    np.testing.assert_allclose(points[[0, -1], 0], [-7.0, 7.0])
    assert (np.diff(points[:, 0]) > 0).all()
    # Symmetric in x1, highest at x1 = 0, where the CAGrad figure draws its segment at x2 = -8.3552.
    np.testing.assert_allclose(points[:, 1], points[::-1, 1], atol=1e-12)
    assert points[100, 1] == pytest.approx(-8.3552, abs=1e-4)
    assert points[0, 1] == pytest.approx(-8.4345, abs=1e-4)
    assert (points[:, 1] <= points[100, 1] + 1e-12).all()
    with pytest.raises(ValueError, match="expected at least 2 points, found num=1"):
        pareto_set(1)


def grid_losses(num: int = 401, low: float = -12.0, high: float = 12.0) -> tuple[np.ndarray, np.ndarray]:
    axis = np.linspace(low, high, num)
    x1, x2 = np.meshgrid(axis, axis)
    points = np.stack([x1.ravel(), x2.ravel()], axis=1)
    return points, np.stack(toy2d_losses_np(points[:, 0], points[:, 1]), axis=1)


def dominated(candidates: np.ndarray, by: np.ndarray, tol: float) -> np.ndarray:
    """Whether each candidate (L1, L2) is dominated by some row of `by`: no worse in one, better by tol in the other."""
    result = np.zeros(len(candidates), dtype=bool)
    for a, b in ((0, 1), (1, 0)):
        order = np.argsort(by[:, a], kind="stable")
        best = np.minimum.accumulate(by[order, b])  # lowest loss b among rows with loss a up to here
        reach = np.searchsorted(by[order, a], candidates[:, a], side="right")
        has = reach > 0
        result[has] |= best[reach[has] - 1] < candidates[has, b] - tol
    return result


def test_pareto_front_is_not_dominated_by_a_grid():
    _, losses = grid_losses()
    front = pareto_front(401)
    assert not dominated(front, losses, tol=1e-9).any()


def test_points_off_the_pareto_set_are_dominated():
    points, losses = grid_losses(241, *X_RANGE)
    curve = pareto_set(1001)
    # The set is nearly level (x2 within 0.08), so the vertical gap is the distance to it.
    gap = np.abs(points[:, 1] - np.interp(points[:, 0], curve[:, 0], curve[:, 1]))
    away = (gap > 0.1) | (np.abs(points[:, 0]) > 7.1)
    assert away.sum() > 0.95 * len(points)
    # The losses barely change along x2 near the set: a dense front, so a point just beside it is
    # dominated by a front point rather than fall between two.
    assert dominated(losses[away], pareto_front(140_001), tol=0.0).all()


def test_pareto_front_runs_between_the_single_task_minima():
    front = pareto_front(201)
    assert front.shape == (201, 2)
    np.testing.assert_allclose(front[0], [-0.3979, -19.9894], atol=1e-4)
    np.testing.assert_allclose(front[-1], [-19.9894, -0.3979], atol=1e-4)
    np.testing.assert_allclose(front[100], [-15.0916, -15.0916], atol=1e-4)
    # Along the front one loss falls exactly as the other rises.
    assert (np.diff(front[:, 0]) < 0).all() and (np.diff(front[:, 1]) > 0).all()
    # Nothing in the plane does better on one task than the front's ends.
    _, losses = grid_losses()
    assert losses[:, 0].min() >= front[-1, 0] - 1e-9 and losses[:, 1].min() >= front[0, 1] - 1e-9


def test_start_points_lie_in_the_plotted_square_off_the_pareto_set():
    starts = np.array(list(START_POINTS.values()))
    assert ((starts >= X_RANGE[0]) & (starts <= X_RANGE[1])).all()
    losses = np.stack(toy2d_losses_np(starts[:, 0], starts[:, 1]), axis=1)
    assert dominated(losses, pareto_front(401), tol=1e-3).all()


# ----------------------------------------------------------------------------- model


def test_model_rows_start_equal_in_float64(toy2d_reference):
    model = Toy2DModel((-8.5, 7.5), num_copies=4)
    assert [name for name, _ in model.named_parameters()] == ["point"]
    assert model.point.dtype == torch.float64 and model.point.shape == (4, 2)
    assert (model.point == torch.tensor([-8.5, 7.5], dtype=torch.float64)).all()
    losses = model.closed_form_losses()
    assert losses.shape == (4, 2) and losses.dtype == torch.float64
    np.testing.assert_allclose(losses.detach().numpy(), np.tile(toy2d_reference(-8.5, 7.5), (4, 1)), rtol=1e-12)
    penalty = model.penalty()
    assert penalty.shape == (4,) and penalty.dtype == torch.float64 and (penalty == 0).all()


def test_both_tasks_reach_the_shared_point():
    model = Toy2DModel((9.0, 9.0), num_copies=2)
    assert model.shared_parameter_names() == ["point"]
    for task in range(2):
        (grad,) = torch.autograd.grad(model.closed_form_losses()[:, task].sum(), model.point)
        assert (grad.abs().sum(1) > 0).all(), task


def test_rows_are_independent_copies():
    model = Toy2DModel((-8.5, -5.0), num_copies=3)
    (grad,) = torch.autograd.grad(model.closed_form_losses()[1].sum(), model.point)
    assert (grad[[0, 2]] == 0).all() and (grad[1] != 0).any()


def test_forward_points_to_losses():
    with pytest.raises(NotImplementedError, match="expected a call to closed_form_losses"):
        Toy2DModel((0.0, 0.0), 1)(torch.zeros(1, 2))


def test_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="expected a start point"):
        Toy2DModel((1.0, 2.0, 3.0), 1)
    with pytest.raises(ValueError, match="expected at least one copy, found num_copies=0"):
        Toy2DModel((1.0, 2.0), 0)


@pytest.mark.parametrize("name", list(START_POINTS))
def test_gradient_descent_lowers_the_mean_loss(name):
    model = Toy2DModel(START_POINTS[name], num_copies=2)
    lrs = torch.tensor([[1e-3], [1e-2]], dtype=torch.float64)  # one learning rate per row
    before = model.closed_form_losses().mean(1).detach()
    for _ in range(300):
        (grad,) = torch.autograd.grad(model.closed_form_losses().mean(1).sum(), model.point)
        with torch.no_grad():
            model.point -= lrs * grad
    after = model.closed_form_losses().mean(1).detach()
    assert torch.isfinite(model.point).all()
    assert (after < before - 1e-3).all(), (before, after)
