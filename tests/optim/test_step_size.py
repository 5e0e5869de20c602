"""Step-size rules against the real optimizer: without momentum each step is -lr_eff * g, elementwise.

The rules (mtlviz/optim/step_size.py) read lr_eff from the optimizer's own state; with the
first moment off (beta1 = 0, momentum 0) the optimizer's actual change of every element is
-lr_eff * g, so the rule can be checked against the step itself, every step.
"""

from __future__ import annotations

import pytest
import torch

from mtlviz.optim import OPTIMIZERS

NO_MOMENTUM = {"betas": (0.0, 0.99)}
CASES = [
    pytest.param("sgd", {}, id="sgd"),
    pytest.param("adam", NO_MOMENTUM, id="adam"),
    pytest.param("adam", {**NO_MOMENTUM, "amsgrad": True}, id="adam-amsgrad"),
    pytest.param("adamw", {**NO_MOMENTUM, "weight_decay": 0.0}, id="adamw"),
    pytest.param("nadam", NO_MOMENTUM, id="nadam"),
    pytest.param("radam", NO_MOMENTUM, id="radam"),  # steps 1 to 5 like SGD, rectified from step 6 on
    pytest.param("rmsprop", {}, id="rmsprop"),
    pytest.param("rmsprop", {"centered": True}, id="rmsprop-centered"),
    pytest.param("adagrad", {"lr_decay": 0.1}, id="adagrad"),
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_the_rule_gives_the_step_the_optimizer_takes(name: str, options: dict) -> None:
    spec = OPTIMIZERS[name]
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=torch.float64)) for shape in (7, (3, 4))]
    optimizer = spec.build(params, 0.05, options)
    resolved = spec.resolved(options)
    for step in range(1, 11):
        grads = [torch.randn(p.shape, generator=generator, dtype=torch.float64) for p in params]
        before = [p.detach().clone() for p in params]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer.step()
        rates = spec.step_size(0.05, resolved, [optimizer.state[p] for p in params])
        if isinstance(rates, float):  # one rate for every element
            rates = [torch.full_like(p, rates) for p in params]
        assert len(rates) == len(params)
        for p, g, old, rate in zip(params, grads, before, rates):
            torch.testing.assert_close(p.detach() - old, -rate * g, rtol=1e-9, atol=1e-12, msg=f"step {step}")


@pytest.mark.parametrize(
    ("name", "options", "exact"),
    [
        pytest.param("sgd", {}, True, id="sgd"),
        pytest.param("sgd", {"weight_decay": 0.1}, True, id="sgd-l2"),  # lr multiplies g + wd * theta exactly
        pytest.param("sgd", {"momentum": 0.9}, False, id="sgd-momentum"),
        pytest.param("sgd", {"momentum": 0.9, "nesterov": True}, False, id="sgd-nesterov"),
        pytest.param("adam", {}, True, id="adam"),  # lr_eff multiplies the first moment exactly
        pytest.param("adamw", {}, True, id="adamw"),
        pytest.param("nadam", {}, True, id="nadam"),
        pytest.param("rmsprop", {}, True, id="rmsprop"),
        pytest.param("rmsprop", {"momentum": 0.9}, False, id="rmsprop-momentum"),
        pytest.param("adagrad", {}, True, id="adagrad"),
    ],
)
def test_the_spec_says_whether_its_rule_is_exact(name: str, options: dict, exact: bool) -> None:
    spec = OPTIMIZERS[name]
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = spec.build([param], 0.01, options)
    param.grad = torch.ones(3)
    optimizer.step()
    assert spec.step_size_exact(spec.resolved(options), [optimizer.state[param]]) is exact


def test_radam_has_no_closed_form_before_its_rectification() -> None:
    """Before rectification RAdam steps like SGD with momentum; from step 6 on (beta2 0.999) its rule is exact."""
    spec = OPTIMIZERS["radam"]
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = spec.build([param], 0.01)
    exact = []
    for _ in range(8):
        param.grad = torch.ones(3)
        optimizer.step()
        exact.append(spec.step_size_exact(spec.resolved(), [optimizer.state[param]]))
    assert exact == [False] * 5 + [True] * 3
