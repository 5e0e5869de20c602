"""Loss weightings (equal, static, uncertainty, DWA, GradNorm) against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from mtlviz.methods.dwa import dwa_weights
from mtlviz.methods.equal import equal_weights
from mtlviz.methods.gradnorm import gradnorm_loss, gradnorm_renormalise
from mtlviz.methods.static import static_weights
from mtlviz.methods.uncertainty import uncertainty_objective

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_equal_weights_are_ones_of_the_losses_shape(dtype):
    losses = torch.tensor([[0.3, 5.0, 2.0], [1.0, 1.0, 9.0]], dtype=dtype)
    weights = equal_weights(losses)
    assert weights.dtype == dtype
    assert torch.equal(weights, torch.ones(2, 3, dtype=dtype))


def test_equal_weights_reject_a_vector():
    with pytest.raises(ValueError, match=r"expected a floating tensor of shape \(K, T\), found shape \(3,\)"):
        equal_weights(torch.ones(3))


@pytest.mark.parametrize("dtype", DTYPES)
def test_static_weights_repeat_the_given_weights_on_every_row(dtype):
    losses = torch.rand(3, 2, dtype=dtype)
    weights = static_weights(losses, [0.25, 2])
    assert weights.dtype == dtype
    assert torch.equal(weights, torch.tensor([[0.25, 2.0]] * 3, dtype=dtype))
    weights[0, 0] = 7.0  # a fresh tensor per call: writing to it changes nothing shared
    assert static_weights(losses, [0.25, 2])[1, 0] == 0.25


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0], "expected 2 task weights, found 1"),
        ([1.0, -0.5], "task weight 1: expected a finite number >= 0, found -0.5"),
        ([1.0, math.nan], "task weight 1: expected a finite number >= 0, found nan"),
        ([True, 1.0], "task weight 0: expected a finite number >= 0, found True"),
        ([0, 0.0], "expected at least one task weight above 0, found"),
    ],
)
def test_static_weights_are_validated(weights, message):
    with pytest.raises(ValueError, match=message):
        static_weights(torch.ones(1, 2), weights)


@pytest.mark.parametrize("dtype", DTYPES)
def test_uncertainty_objective_and_weights_at_hand_picked_log_variances(dtype):
    losses = torch.tensor([[2.0, 3.0], [4.0, 1.0]], dtype=dtype)
    log_vars = torch.tensor([[0.0, math.log(2)], [math.log(4), 0.0]], dtype=dtype)
    objective, weights = uncertainty_objective(losses, log_vars, [False, True])
    # Row 0: regression 0.5 e^0 * 2 + 0 = 1; classification e^-log2 * 3 + 0.5 log 2 = 1.5 + 0.5 log 2.
    # Row 1: regression 0.5 / 4 * 4 + 0.5 log 4 = 0.5 + log 2; classification 1 * 1 + 0 = 1.
    expected = torch.tensor([2.5 + 0.5 * math.log(2), 1.5 + math.log(2)], dtype=dtype)
    torch.testing.assert_close(objective, expected)
    torch.testing.assert_close(weights, torch.tensor([[0.5, 0.5], [0.125, 1.0]], dtype=dtype))
    assert objective.dtype == weights.dtype == dtype


def test_uncertainty_log_variances_settle_where_the_paper_says():
    """dJ/ds_t = 0 at s_t = log L_t (regression) and at log 2 L_t (classification)."""
    losses = torch.tensor([[0.7, 3.0, 0.2, 5.0]], dtype=torch.float64, requires_grad=True)
    optimum = torch.log(losses.detach() * torch.tensor([1.0, 1.0, 2.0, 2.0], dtype=torch.float64))
    log_vars = optimum.clone().requires_grad_(True)
    objective, weights = uncertainty_objective(losses, log_vars, [False, False, True, True])
    grad_s, grad_losses = torch.autograd.grad(objective.sum(), [log_vars, losses])
    torch.testing.assert_close(grad_s, torch.zeros_like(grad_s), atol=1e-12, rtol=0)
    torch.testing.assert_close(grad_losses, weights)  # the weights are the factors on each loss
    assert not weights.requires_grad


def test_uncertainty_gradient_points_towards_the_optimum():
    losses = torch.tensor([[2.0, 2.0]], dtype=torch.float64)
    log_vars = torch.tensor([[math.log(2) - 1, math.log(4) + 1]], dtype=torch.float64, requires_grad=True)
    objective, _ = uncertainty_objective(losses, log_vars, [False, True])
    (grad,) = torch.autograd.grad(objective.sum(), [log_vars])
    assert grad[0, 0] < 0 < grad[0, 1]  # descent raises the low s, lowers the high one


def test_uncertainty_objective_checks_its_inputs():
    with pytest.raises(ValueError, match=r"classification: expected 2 flags, found 3"):
        uncertainty_objective(torch.ones(1, 2), torch.zeros(1, 2), [True, False, True])
    with pytest.raises(ValueError, match=r"log_vars: expected shape \(1, 2\), found \(1, 3\)"):
        uncertainty_objective(torch.ones(1, 2), torch.zeros(1, 3), [True, False])


@pytest.mark.parametrize("dtype", DTYPES)
def test_dwa_equal_ratios_give_ones(dtype):
    previous = torch.tensor([[1.0, 2.0, 0.3], [4.0, 4.0, 4.0]], dtype=dtype)
    before = torch.tensor([[2.0, 4.0, 0.6], [5.0, 5.0, 5.0]], dtype=dtype)
    weights = dwa_weights(previous, before, 2.0)
    assert weights.dtype == dtype
    torch.testing.assert_close(weights, torch.ones(2, 3, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dwa_gives_more_weight_to_the_task_whose_loss_fell_less(dtype):
    previous = torch.tensor([[0.5, 0.9]], dtype=dtype)
    before = torch.tensor([[1.0, 1.0]], dtype=dtype)
    weights = dwa_weights(previous, before, 2.0)
    # r = (0.5, 0.9): w_t = 2 exp(r_t / 2) / (exp(0.25) + exp(0.45))
    total = math.exp(0.25) + math.exp(0.45)
    torch.testing.assert_close(
        weights, torch.tensor([[2 * math.exp(0.25) / total, 2 * math.exp(0.45) / total]], dtype=dtype)
    )
    assert weights[0, 1] > weights[0, 0]


def test_dwa_weights_sum_to_the_number_of_tasks():
    generator = torch.Generator().manual_seed(0)
    previous = torch.rand(6, 5, generator=generator, dtype=torch.float64) + 0.1
    before = torch.rand(6, 5, generator=generator, dtype=torch.float64) + 0.1
    for temperature in (0.1, 1.0, 2.0, 50.0):
        weights = dwa_weights(previous, before, temperature)
        torch.testing.assert_close(weights.sum(1), torch.full((6,), 5.0, dtype=torch.float64))
        assert (weights > 0).all()


def test_dwa_is_flat_at_a_huge_temperature_and_before_two_windows():
    previous = torch.tensor([[0.1, 3.0]])
    before = torch.tensor([[1.0, 1.0]])
    torch.testing.assert_close(dwa_weights(previous, before, 1e9), torch.ones(1, 2))
    assert torch.equal(dwa_weights(previous, before, math.inf), torch.ones(1, 2))
    assert torch.equal(dwa_weights(previous, None, 2.0), torch.ones(1, 2))
    # A sharper temperature spreads the same ratios further apart.
    assert dwa_weights(previous, before, 0.5)[0, 1] > dwa_weights(previous, before, 2.0)[0, 1]


def test_dwa_rejects_a_temperature_that_is_not_positive():
    for temperature in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="temperature: expected a number > 0"):
            dwa_weights(torch.ones(1, 2), torch.ones(1, 2), temperature)


@pytest.mark.parametrize(
    ("alpha", "expected_loss", "expected_grad"),
    [
        # r = (2/3, 4/3), mean G = 3. alpha 0: targets (3, 3), |2 - 3| + |4 - 3| = 2,
        # d/dw = (-1 * 2, +1 * 4). alpha 1: targets (2, 4) = G: 0. alpha 2: targets
        # (4/3, 16/3): 2/3 + 4/3 = 2, d/dw = (+2, -4).
        (0.0, 2.0, [-2.0, 4.0]),
        (1.0, 0.0, None),
        (2.0, 2.0, [2.0, -4.0]),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gradnorm_loss_by_hand(alpha, expected_loss, expected_grad, dtype):
    weights = torch.ones(1, 2, dtype=dtype, requires_grad=True)
    unweighted_norms = torch.tensor([[2.0, 4.0]], dtype=dtype)  # ||grad_W L_t||
    grad_norms = weights * unweighted_norms  # G_t = ||grad_W (w_t L_t)||
    losses = torch.tensor([[1.0, 2.0]], dtype=dtype)
    initial = torch.tensor([[2.0, 2.0]], dtype=dtype)  # L~ = (0.5, 1), mean 0.75
    loss = gradnorm_loss(weights, grad_norms, losses, initial, alpha)
    assert loss.shape == (1,) and loss.dtype == dtype
    torch.testing.assert_close(loss, torch.tensor([expected_loss], dtype=dtype), atol=1e-6, rtol=1e-6)
    if expected_grad is not None:
        # The targets are constants: differentiating mean(G) too would change these.
        (grad,) = torch.autograd.grad(loss.sum(), [weights])
        torch.testing.assert_close(grad, torch.tensor([expected_grad], dtype=dtype))


def test_gradnorm_loss_is_batched_over_rows():
    weights = torch.tensor([[1.0, 1.0], [0.5, 2.0]], dtype=torch.float64, requires_grad=True)
    grad_norms = weights * torch.tensor([[2.0, 4.0], [2.0, 1.0]], dtype=torch.float64)
    losses = torch.tensor([[1.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    initial = torch.tensor([[2.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    loss = gradnorm_loss(weights, grad_norms, losses, initial, 0.0)
    # Row 1: G = (1, 2), equal rates, target 1.5 each: 0.5 + 0.5.
    torch.testing.assert_close(loss, torch.tensor([2.0, 1.0], dtype=torch.float64))
    (grad,) = torch.autograd.grad(loss.sum(), [weights])
    torch.testing.assert_close(grad[1], torch.tensor([-2.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradnorm_renormalise_sums_to_the_number_of_tasks(dtype):
    weights = torch.tensor([[1.0, 3.0], [0.5, 0.5]], dtype=dtype, requires_grad=True)
    out = gradnorm_renormalise(weights)
    torch.testing.assert_close(out, torch.tensor([[0.5, 1.5], [1.0, 1.0]], dtype=dtype))
    assert not out.requires_grad
    driven_negative = gradnorm_renormalise(torch.tensor([[0.5, 2.5, -1.0]], dtype=dtype))
    assert (driven_negative > 0).all()
    torch.testing.assert_close(driven_negative.sum(1), torch.tensor([3.0], dtype=dtype))
