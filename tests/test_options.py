"""OptionSpec: the one check of an option's value, and every registry option's default passes it."""

from __future__ import annotations

import pytest

from mtlviz.errors import ConfigError
from mtlviz.methods import METHODS
from mtlviz.optim import OPTIMIZERS
from mtlviz.options import OptionSpec

REGISTRY_OPTIONS = [
    pytest.param(option, id=f"{spec.name}.{key}")
    for registry in (OPTIMIZERS, METHODS)
    for spec in registry.values()
    for key, option in spec.options.items()
]


@pytest.mark.parametrize("option", REGISTRY_OPTIONS)
def test_every_registry_default_passes_its_own_check(option: OptionSpec) -> None:
    assert option.validate("x", option.default) == option.default


UNIT = OptionSpec("float", 0.5, 0.0, 1.0, high_inclusive=False)
BETAS = OptionSpec("betas", (0.9, 0.999), 0.0, 1.0, high_inclusive=False)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        (UNIT, 0, 0.0),
        (UNIT, 0.999, 0.999),
        (OptionSpec("float", 0.5, 0.0, 1.0), 1, 1.0),  # inclusive by default
        (BETAS, [0.8, 0.99], (0.8, 0.99)),  # JSON's list becomes the pair torch takes
        (OptionSpec("bool", False), True, True),
    ],
)
def test_valid_values_come_back_in_their_kind(option: OptionSpec, value: object, expected: object) -> None:
    checked = option.validate("x", value)
    assert checked == expected and type(checked) is type(expected)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (UNIT, 1.0, "x: expected a number in [0, 1), found 1.0"),
        (UNIT, -0.1, "x: expected a number in [0, 1), found -0.1"),
        (UNIT, float("nan"), "x: expected a number in [0, 1), found nan"),
        (UNIT, True, "x: expected a number in [0, 1), found True"),
        (UNIT, 10**400, "x: expected a number in [0, 1), found an integer too large for a float"),
        (BETAS, [0.9, 1.0], "x[1]: expected a number in [0, 1), found 1.0"),
        (BETAS, [0.9], "x: expected a pair [beta1, beta2], each a number in [0, 1), found [0.9]"),
        (OptionSpec("bool", False), 1, "x: expected true or false, found 1"),
    ],
)
def test_invalid_values_name_the_path_the_range_and_the_value(option: OptionSpec, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        option.validate("x", value)
    assert str(caught.value) == message
