"""Method registry: every method is described, cites its paper, and its callable runs on float64."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

import pytest
import torch

import mtlviz.methods
from mtlviz.methods import (
    KINDS,
    METHODS,
    Combined,
    cagrad,
    dwa_weights,
    equal_weights,
    gradnorm_loss,
    gradnorm_renormalise,
    mgda,
    pcgrad,
    static_weights,
    uncertainty_objective,
)
from mtlviz.optim import OptionSpec

K, T, P = 3, 4, 6


def test_the_registry_holds_the_methods():
    assert list(METHODS) == ["equal", "static", "uncertainty", "dwa", "gradnorm", "pcgrad", "mgda", "cagrad"]
    assert {name for name, spec in METHODS.items() if spec.kind == "combination"} == {"pcgrad", "mgda", "cagrad"}
    assert {name for name, spec in METHODS.items() if spec.learns_weights} == {"uncertainty", "gradnorm"}
    assert {name for name, spec in METHODS.items() if spec.per_task_gradients} == {
        "gradnorm",
        "pcgrad",
        "mgda",
        "cagrad",
    }


@pytest.mark.parametrize("name", list(METHODS))
def test_spec_is_complete(name):
    spec = METHODS[name]
    assert spec.name == name == name.lower()
    assert spec.kind in KINDS
    assert spec.title and spec.paper
    assert spec.help.endswith(".") and spec.help.count(". ") == 0  # one sentence
    for key, option in spec.options.items():
        assert isinstance(option, OptionSpec), key
        assert option.kind == "float" and option.help, key
        assert option.low <= option.default, key
        assert option.default <= option.high if option.high_inclusive else option.default < option.high, key


@pytest.mark.parametrize("name", [name for name, spec in METHODS.items() if spec.paper != "baseline (no paper)"])
def test_module_docstring_names_the_method_and_cites_the_spec_paper(name):
    spec = METHODS[name]
    docstring = importlib.import_module(f"mtlviz.methods.{name}").__doc__
    first_author = spec.paper.split()[0].rstrip(",")
    year = re.search(r"\d{4}", spec.paper).group()
    assert first_author in docstring and year in docstring
    assert spec.title.split()[0] in docstring


def test_static_uses_the_tasks_weight_field():
    assert METHODS["static"].options == {}
    assert "weight field" in METHODS["static"].help


def _inputs(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "losses": torch.rand(K, T, generator=generator, dtype=dtype) + 0.1,
        "other": torch.rand(K, T, generator=generator, dtype=dtype) + 0.1,
        "grads": torch.randn(K, T, P, generator=generator, dtype=dtype),
    }


def _default(name: str, key: str):
    return METHODS[name].options[key].default


# Every callable with the registry's option defaults; each returns the tensors to check.
CALLS: dict[str, Callable[[dict[str, torch.Tensor]], list[torch.Tensor]]] = {
    "equal": lambda x: [equal_weights(x["losses"])],
    "static": lambda x: [static_weights(x["losses"], [1.0, 0.5, 2.0, 0.0])],
    "uncertainty": lambda x: list(uncertainty_objective(x["losses"], x["other"], [True, False, True, False])),
    "dwa": lambda x: [dwa_weights(x["losses"], x["other"], _default("dwa", "temperature"))],
    "gradnorm": lambda x: [
        gradnorm_loss(x["other"], x["other"] * 2, x["losses"], x["losses"] + 1, _default("gradnorm", "alpha")),
        gradnorm_renormalise(x["other"]),
    ],
    "pcgrad": lambda x: _combined(pcgrad(x["grads"], torch.Generator().manual_seed(0))),
    "mgda": lambda x: _combined(mgda(x["grads"])),
    "cagrad": lambda x: _combined(cagrad(x["grads"], _default("cagrad", "c"))),
}


def _combined(result: Combined) -> list[torch.Tensor]:
    assert result.direction.shape == (K, P)
    assert result.weights is None or result.weights.shape == (K, T)
    return [result.direction] + ([] if result.weights is None else [result.weights])


def test_every_method_has_a_call():
    assert set(CALLS) == set(METHODS)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(METHODS))
def test_callable_keeps_the_dtype_and_leaves_its_inputs_alone(name, dtype):
    inputs = _inputs(dtype)
    before = {key: value.clone() for key, value in inputs.items()}
    outputs = CALLS[name](inputs)
    for output in outputs:
        assert output.dtype == dtype
        assert torch.isfinite(output).all()
    for key, value in inputs.items():
        assert torch.equal(value, before[key]), key


def test_combination_outputs_have_no_autograd_history():
    grads = torch.randn(K, T, P, dtype=torch.float64, requires_grad=True)
    for result in (pcgrad(grads, torch.Generator().manual_seed(0)), mgda(grads), cagrad(grads, 0.5)):
        assert not result.direction.requires_grad
        assert result.weights is None or not result.weights.requires_grad


def test_package_exports_resolve():
    for name in mtlviz.methods.__all__:
        assert getattr(mtlviz.methods, name) is not None
