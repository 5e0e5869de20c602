"""A new method is one spec and its object: registered here, not in the engine, it trains through TaskMethods."""

from __future__ import annotations

import pytest
import torch

from mtlviz.config import MethodConfig, TaskSpec
from mtlviz.engine.methods import TaskMethods
from mtlviz.methods import METHODS, MethodContext, MethodSpec
from mtlviz.methods.base import Combined, Method

TASKS = (TaskSpec("a", weight=2.0), TaskSpec("b", weight=0.5))


class Halves(Method):
    """Weight 1/2 on every loss, for ever."""

    def __init__(self, options: dict, context: MethodContext):
        self.weights = torch.full((context.rows, len(context.tasks)), 0.5, device=context.device, dtype=context.dtype)


class Doubled(Method):
    """A combination that doubles the summed task gradients, with learned weights that count the steps."""

    learned_start = 3.0

    def __init__(self, options: dict, context: MethodContext):
        self.scale = options["scale"]

    def objectives(self, losses, learned):
        return losses * learned.detach(), learned.detach()

    def combine(self, task_grads):
        return Combined(self.scale * task_grads.sum(1), torch.full_like(task_grads[:, :, 0], self.scale))

    def learned_gradient(self, learned, layer_grads, losses):
        return -losses

    def after_step(self, learned):
        return learned + 1


@pytest.fixture
def plugged(monkeypatch):
    fields = {"kind": "weighting", "paper": "baseline (no paper)"}
    monkeypatch.setitem(
        METHODS, "halves", MethodSpec("halves", "Halves", builder=f"{__name__}:Halves", adapts_weights=False, **fields)
    )
    monkeypatch.setitem(
        METHODS,
        "doubled",
        MethodSpec(
            "doubled",
            "Doubled",
            "combination",
            "baseline (no paper)",
            f"{__name__}:Doubled",
            {"scale": METHODS["cagrad"].options["c"]},
            learns_weights=True,
            per_task_gradients=True,
        ),
    )


def build(*methods: MethodConfig) -> TaskMethods:
    return TaskMethods(list(methods), TASKS, torch.device("cpu"), torch.float64, window=1, seed=0, has_shared=True)


def test_a_fixed_weighting_takes_the_fast_path_next_to_static_rows(plugged):
    methods = build(MethodConfig("halves"), MethodConfig("static"), MethodConfig("halves"))
    assert methods.learned is None and not methods.per_task
    losses = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
    expected = torch.tensor([[0.5, 0.5], [2.0, 0.5], [0.5, 0.5]], dtype=torch.float64)
    assert torch.equal(methods.task_objectives(losses), losses * expected)
    assert torch.equal(methods.last_weights, expected)


def test_a_combination_with_learned_weights_gets_every_hook_on_its_own_rows(plugged):
    methods = build(MethodConfig("static"), MethodConfig("doubled", options={"scale": 0.25}), MethodConfig("doubled"))
    assert methods.per_task
    assert torch.equal(methods.learned.detach(), torch.tensor([[0.0, 0.0], [3.0, 3.0], [3.0, 3.0]]).double())
    losses = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
    terms = methods.task_objectives(losses)
    torch.testing.assert_close(terms, losses * torch.tensor([[2.0, 0.5], [3.0, 3.0], [3.0, 3.0]]).double())

    task_grads = torch.arange(18, dtype=torch.float64).view(3, 2, 3)  # (K, T, P): one shared (K, 3) parameter
    penalty = torch.tensor([[0.1, 0.2, 0.3]], dtype=torch.float64).expand(3, -1)
    total = [task_grads.sum(1) + penalty, torch.zeros(3, 2, dtype=torch.float64)]  # shared, then the learned
    methods.combine(total, task_grads, [0], losses)
    scale = torch.tensor([[1.0], [0.25], [0.5]], dtype=torch.float64)  # static keeps the sum; 0.5 is the default
    torch.testing.assert_close(total[0], scale * task_grads.sum(1) + penalty)
    torch.testing.assert_close(total[1], torch.cat([torch.zeros(1, 2), -losses[1:]]).double())
    torch.testing.assert_close(methods.last_weights, torch.tensor([[2.0, 0.5], [0.25, 0.25], [0.5, 0.5]]).double())

    methods.after_step()
    assert torch.equal(methods.learned.detach(), torch.tensor([[0.0, 0.0], [4.0, 4.0], [4.0, 4.0]]).double())
