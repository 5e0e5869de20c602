"""OptionSpec: one option of an interchangeable thing (an optimizer, a multi-task method).

Torch-free, so the config, the sidebar and the specs all read the same
defaults and bounds; `validate` is the one place a value is checked against them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mtlviz.errors import ConfigError

KINDS = ("float", "bool", "betas")


@dataclass(frozen=True)
class OptionSpec:
    """One option: kind is "float", "bool" or "betas" (a pair of floats)."""

    kind: str
    default: Any
    low: float = 0.0
    high: float = float("inf")
    high_inclusive: bool = True
    help: str = ""

    def describe(self) -> str:
        if self.kind == "bool":
            return "true or false"
        close = "]" if self.high_inclusive else ")"
        rng = f"a number in [{self.low:g}, {self.high:g}{close}"
        return f"a pair [beta1, beta2], each {rng}" if self.kind == "betas" else rng

    def validate(self, path: str, value: Any) -> Any:
        """The value, checked against this spec (a tuple for betas); ConfigError naming `path` otherwise."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(path, f"expected true or false, found {value!r}")
            return value
        if self.kind == "betas":
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise ConfigError(path, f"expected {self.describe()}, found {value!r}")
            return tuple(self._number(f"{path}[{i}]", v, False) for i, v in enumerate(value))
        return self._number(path, value, self.high_inclusive)

    def _number(self, path: str, value: Any, high_inclusive: bool) -> float:
        close = "]" if high_inclusive else ")"
        interval = f"[{self.low:g}, {self.high:g}{close}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, f"expected a number in {interval}, found {value!r}")
        try:
            number = float(value)
        except OverflowError:
            raise ConfigError(
                path, f"expected a number in {interval}, found an integer too large for a float"
            ) from None
        ok = (
            math.isfinite(number)
            and number >= self.low
            and (number <= self.high if high_inclusive else number < self.high)
        )
        if not ok:
            raise ConfigError(path, f"expected a number in {interval}, found {number!r}")
        return number
