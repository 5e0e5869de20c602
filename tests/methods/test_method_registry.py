"""Method registry: every spec is complete, cites its paper, builds an object that keeps the spec's promises,
and the callables run on float64 and float32.

That the package imports without torch is checked in tests/test_layering.py; that every
option's default passes its own bounds, in tests/test_options.py.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

import pytest
import torch

from mtlviz.config import TaskSpec
from mtlviz.methods import METHODS, MethodContext, MethodSpec
from mtlviz.methods.base import Combined, Method
from mtlviz.methods.cagrad import cagrad
from mtlviz.methods.dwa import dwa_weights
from mtlviz.methods.equal import equal_weights
from mtlviz.methods.gradnorm import gradnorm_loss, gradnorm_renormalise
from mtlviz.methods.mgda import mgda
from mtlviz.methods.pcgrad import pcgrad
from mtlviz.methods.static import static_weights
from mtlviz.methods.uncertainty import uncertainty_objective

K, T, P = 3, 4, 6


@pytest.mark.parametrize("name", list(METHODS))
def test_spec_is_complete(name):
    spec = METHODS[name]
    assert name == name.lower()
    assert spec.title and spec.paper
    assert spec.help.endswith(".") and spec.help.count(". ") == 0  # one sentence
    for key, option in spec.options.items():
        assert option.help, key  # the sidebar shows it under the option's widget


@pytest.mark.parametrize("name", [name for name, spec in METHODS.items() if spec.paper != "baseline (no paper)"])
def test_module_docstring_names_the_method_and_cites_the_spec_paper(name):
    spec = METHODS[name]
    docstring = importlib.import_module(f"mtlviz.methods.{name}").__doc__
    first_author = spec.paper.split()[0].rstrip(",")
    year = re.search(r"\d{4}", spec.paper).group()
    assert first_author in docstring and year in docstring
    assert spec.title.split()[0] in docstring


TASKS = (TaskSpec("a", weight=2.0), TaskSpec("b", "classification", 3), TaskSpec("c"), TaskSpec("d", weight=0.5))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(METHODS))
def test_the_built_object_keeps_the_specs_promises(name, dtype):
    spec = METHODS[name]
    method = spec.build({}, MethodContext(K, TASKS, torch.device("cpu"), dtype, window=2, seed=0))
    assert isinstance(method, Method)
    generator = torch.Generator().manual_seed(0)
    learned = torch.full((K, T), method.learned_start, dtype=dtype, requires_grad=True) if spec.learns_weights else None
    for _ in range(3):  # a few steps, so that DWA's windows turn over
        losses = torch.rand(K, T, generator=generator, dtype=dtype) + 0.1
        terms, shown = method.objectives(losses, learned)
        assert terms.shape == shown.shape == (K, T) and terms.dtype == shown.dtype == dtype
        assert not shown.requires_grad
        if not spec.adapts_weights:  # the engine's fast path multiplies by `weights` instead of calling objectives
            assert method.weights.shape == (K, T) and method.weights.dtype == dtype
            assert torch.equal(terms, losses * method.weights) and torch.equal(shown, method.weights)
    if spec.per_task_gradients:
        grads = torch.randn(K, T, P, generator=generator, dtype=dtype)
        result = method.combine(grads)
        assert (result is not None) == (spec.kind == "combination")
        if result is not None:
            assert result.direction.shape == (K, P) and result.weights.shape == (K, T)
        if spec.learns_weights:
            grad = method.learned_gradient(learned.detach(), grads, losses)
            assert grad is not None and grad.shape == (K, T)
    if spec.learns_weights:
        new = method.after_step(learned.detach())
        assert new is None or new.shape == (K, T)


def test_the_defaults_fill_the_options_a_config_leaves_out():
    context = MethodContext(1, TASKS, torch.device("cpu"), torch.float64, window=1, seed=0)
    assert METHODS["cagrad"].build({}, context).c == METHODS["cagrad"].options["c"].default
    assert METHODS["cagrad"].build({"c": 0.25}, context).c == 0.25


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "reweighting"}, "kind: expected one of weighting, combination, found 'reweighting'"),
        ({"builder": "mtlviz.methods.static"}, "builder: expected 'module:attribute'"),
        ({"learns_weights": True}, "learned weights and combinations adapt their weights"),
        ({"kind": "combination", "adapts_weights": True}, "a combination needs per-task gradients"),
    ],
)
def test_a_spec_that_contradicts_itself_is_refused(changes, message):
    fields = {
        "name": "new",
        "title": "New",
        "kind": "weighting",
        "paper": "-",
        "builder": "m:C",
        "adapts_weights": False,
    }
    with pytest.raises(ValueError, match=message):
        MethodSpec(**(fields | changes))


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
