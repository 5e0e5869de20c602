"""Each optimizer spec knows how much state it keeps, which the memory budget counts before anything is built."""

from __future__ import annotations

import pytest
import torch

from mtlviz.optim import OPTIMIZERS


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_slots_match_what_torch_keeps(name: str) -> None:
    """Against torch itself: parameter-sized state tensors after one step, per option set."""
    spec = OPTIMIZERS[name]
    variants = [{}]
    for option, value in (("momentum", 0.9), ("amsgrad", True), ("centered", True)):
        if option in spec.options:
            variants += [{option: value}]
    if "momentum" in spec.options and "centered" in spec.options:
        variants.append({"momentum": 0.9, "centered": True})
    for options in variants:
        parameter = torch.nn.Parameter(torch.randn(5, 3))
        optimizer = spec.build([parameter], 0.01, options)
        parameter.grad = torch.randn(5, 3)
        optimizer.step()
        kept = sum(
            torch.is_tensor(value) and value.shape == parameter.shape
            for state in optimizer.state.values()
            for value in state.values()
        )
        assert spec.state_slots(spec.resolved(options)) == kept, (name, options)
