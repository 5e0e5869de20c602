"""The sharing-strategy registry (mtlviz/models/registry.py): each spec builds its strategy, and
says which ModelConfig fields the strategy reads (the sidebar shows only those)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mtlviz.config import ModelConfig, TaskSpec
from mtlviz.models import SHARING, build_model
from mtlviz.models.base import MultiTaskModel

TASKS = (TaskSpec("a"), TaskSpec("b", type="classification", num_classes=3))
COMMON = {"sharing", "hidden", "depth", "activation"}  # read by every strategy, always shown
# A value of every other ModelConfig field that differs from its default.
CHANGED = {"coupling": 0.7, "experts": 2}


def test_every_strategy_builds_a_multitask_model():
    for spec in SHARING.values():
        assert issubclass(spec.model_class(), MultiTaskModel), spec.name


def test_every_optional_field_is_tried():
    assert set(CHANGED) == {f.name for f in dataclasses.fields(ModelConfig)} - COMMON


def behaviour(config: ModelConfig) -> list[torch.Tensor]:
    """What a model built from `config` does: its parameters' shapes, its penalty and its outputs."""
    model = build_model(config, TASKS, 5, 2, seed=0)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    shapes = torch.tensor([s for p in model.parameters() for s in p.shape], dtype=torch.float32)
    return [shapes, model.penalty().detach(), *[o.detach() for o in model(x)]]


def reads(sharing: str, field: str) -> bool:
    base = ModelConfig(sharing=sharing, hidden=6, depth=1)
    a, b = behaviour(base), behaviour(dataclasses.replace(base, **{field: CHANGED[field]}))
    return len(a) != len(b) or any(x.shape != y.shape or not torch.equal(x, y) for x, y in zip(a, b))


CASES = [(name, field) for name in SHARING for field in CHANGED]


@pytest.mark.parametrize(("name", "field"), CASES)
def test_uses_lists_exactly_the_fields_the_strategy_reads(name: str, field: str):
    assert reads(name, field) == (field in SHARING[name].uses)
