"""Search spaces: the values a configuration's nuisance hyperparameters are tried at.

Any numeric knob of an optimizer configuration (lr, an option such as
weight_decay or momentum, betas, schedule.warmup_steps, clip_norm) may be given
as a space instead of a value:

    [0, 0.01, 0.1]                                  values (grid and sampling)
    {"values": [[0.9, 0.999], [0.95, 0.999]]}       values, any kind (betas pairs)
    {"from": 1e-4, "to": 1e-1, "num": 4, "scale": "log"}
                                                    a range: num points in a grid,
                                                    continuous when sampled
    {"distribution": "log-uniform", "low": 1e-4, "high": 1e-1}
                                                    sampling only ("uniform" too)

An experiment's `search` says how spaces become trials: a grid (every
combination) or quasi-random sampling (`torch.quasirandom.SobolEngine`) with a
trial budget, the same for every configuration. Each trial is one concrete
configuration (one value per knob), trained as a row of the batched engine.

Torch-free at import: torch is loaded only to draw Sobol points.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mtlviz.errors import ConfigError

SCALES = ("log", "linear")
DISTRIBUTIONS = {"log-uniform": "log", "uniform": "linear"}
SEARCH_METHODS = ("grid", "sobol")
# Short names in trial labels ("Adam lr=0.001 wd=0.01"); other knobs use their own name.
SHORT = {"weight_decay": "wd", "momentum": "mom", "schedule.warmup_steps": "warmup", "clip_norm": "clip"}

# Checks one value of a knob: (path, value) -> the value, or a ConfigError naming path.
Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Space:
    """One searched knob: listed values, a range (num grid points, or continuous) or a distribution."""

    kind: str  # "values", "range" or "distribution"
    values: tuple = ()  # kind "values"
    low: float = 0.0
    high: float = 0.0
    num: int = 0  # a range's points in a grid (0: none given, so it can only be sampled)
    scale: str = "log"
    integer: bool = False  # values are whole numbers (warmup steps)

    @property
    def gridded(self) -> bool:
        return self.kind == "values" or (self.kind == "range" and self.num >= 2)

    def grid(self) -> tuple:
        """Every value a grid tries."""
        if self.kind == "values":
            return self.values
        if self.scale == "log":
            ratio = (self.high / self.low) ** (1 / (self.num - 1))
            points = [self.low * ratio**i for i in range(self.num)]
        else:
            points = [self.low + (self.high - self.low) * i / (self.num - 1) for i in range(self.num)]
        return tuple(self._tidy(p) for p in points)

    def sample(self, u: float) -> Any:
        """The value at quantile u in [0, 1): a listed value, or a point of the range on its scale."""
        if self.kind == "values":
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.scale == "log":
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return self._tidy(value)

    @property
    def bounds(self) -> tuple[float, float] | None:
        """(lowest, highest) value this space can give, for numbers; None for listed pairs."""
        if self.kind != "values":
            return (self.low, self.high)
        if all(isinstance(v, int | float) for v in self.values):
            return (min(self.values), max(self.values))
        return None

    def _tidy(self, value: float) -> float | int:
        if self.integer:
            return int(round(value))
        return float(f"{value:.4g}")  # legends read 0.001, not 0.0010000000000000002

    def to_json(self) -> Any:
        if self.kind == "values":
            return {"values": [list(v) if isinstance(v, tuple) else v for v in self.values]}
        if self.kind == "range":
            data: dict[str, Any] = {"from": self.low, "to": self.high, "scale": self.scale}
            if self.num:
                data["num"] = self.num
            return data
        name = next(d for d, s in DISTRIBUTIONS.items() if s == self.scale)
        return {"distribution": name, "low": self.low, "high": self.high}


def is_space(value: Any, pair: bool = False) -> bool:
    """Whether a config value is a space rather than one value (a pair's one value is itself a list)."""
    if isinstance(value, dict):
        return True
    return isinstance(value, list | tuple) and not pair


def parse_space(path: str, raw: Any, check: Check, *, integer: bool = False, max_values: int = 64) -> Space:
    """A space from its JSON form; every problem names `path`, the value found and what is allowed."""
    if isinstance(raw, list | tuple):
        raw = {"values": list(raw)}
    if not isinstance(raw, dict):
        raise ConfigError(path, f"expected a value, a list of values, a range or a distribution; found {raw!r}")
    keys = set(raw)
    if "values" in keys:
        _only(path, keys, {"values"})
        values = raw["values"]
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(path, f"expected a non-empty list of values to search, found {values!r}")
        if len(values) > max_values:
            raise ConfigError(path, f"expected at most {max_values} values to search, found {len(values)}")
        checked = tuple(check(f"{path}[{i}]", v) for i, v in enumerate(values))
        if integer:
            checked = tuple(int(v) for v in checked)
        if len(set(checked)) != len(checked):
            raise ConfigError(path, f"expected distinct values, found {list(checked)}")
        numbers = all(isinstance(v, int | float) for v in checked)
        return Space("values", tuple(sorted(checked)) if numbers else checked, integer=integer)
    if "distribution" in keys:
        _only(path, keys, {"distribution", "low", "high"}, required={"distribution", "low", "high"})
        name = raw["distribution"]
        if name not in DISTRIBUTIONS:
            raise ConfigError(f"{path}.distribution", f"expected one of {', '.join(DISTRIBUTIONS)}; found {name!r}")
        low, high = _bounds(path, raw["low"], raw["high"], "low", "high", DISTRIBUTIONS[name], check)
        return Space("distribution", low=low, high=high, scale=DISTRIBUTIONS[name], integer=integer)
    if "from" in keys or "to" in keys:
        _only(path, keys, {"from", "to", "num", "scale"}, required={"from", "to"})
        scale = raw.get("scale", "log")
        if scale not in SCALES:
            raise ConfigError(f"{path}.scale", f"expected one of {', '.join(SCALES)}; found {scale!r}")
        low, high = _bounds(path, raw["from"], raw["to"], "from", "to", scale, check)
        num = raw.get("num", 0)
        if "num" in raw and (isinstance(num, bool) or not isinstance(num, int) or not 2 <= num <= max_values):
            raise ConfigError(f"{path}.num", f"expected an integer in [2, {max_values}], found {num!r}")
        space = Space("range", low=low, high=high, num=num, scale=scale, integer=integer)
        if integer and num and len(set(space.grid())) != num:
            raise ConfigError(
                f"{path}.num", f"{num} whole numbers do not fit distinctly in [{low:g}, {high:g}] on a {scale} scale"
            )
        return space
    raise ConfigError(
        path,
        f"expected a list of values, a range {{from, to, num, scale}} or a distribution "
        f"{{distribution, low, high}}; found keys {sorted(keys)}",
    )


def _only(path: str, keys: set, allowed: set, required: set = frozenset()) -> None:
    unknown = sorted(keys - allowed)
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}", f"unknown key; allowed keys are {', '.join(sorted(allowed))}")
    missing = sorted(required - keys)
    if missing:
        raise ConfigError(f"{path}.{missing[0]}", "missing")


def _bounds(path: str, low: Any, high: Any, low_name: str, high_name: str, scale: str, check: Check) -> tuple:
    low = check(f"{path}.{low_name}", low)
    high = check(f"{path}.{high_name}", high)
    if scale == "log" and low <= 0:
        raise ConfigError(f"{path}.{low_name}", f"a log scale needs a positive value, found {low:g}")
    if high <= low:
        raise ConfigError(
            f"{path}.{high_name}",
            f"expected a value above {low_name} ({low:g}), found {high:g}: the range is empty or inverted",
        )
    return float(low), float(high)


@dataclass(frozen=True)
class Trial:
    """One point of a configuration's search: a value per searched knob."""

    index: int  # 0-based, within its configuration
    values: tuple[tuple[str, Any], ...]  # (knob, value), in the configuration's knob order

    def label(self, base: str, method: str, total: int) -> str:
        """The run's name: the knobs' values on a grid ("Adam lr=0.001"), the trial number when sampled."""
        if method == "sobol":
            return f"{base} #{self.index + 1:0{len(str(total))}d}"
        return " ".join([base, *(f"{SHORT.get(k, k)}={format_value(v)}" for k, v in self.values)])


def format_value(value: Any) -> str:
    """A knob's value as labels and reports print it: 0.001, or a pair (0.9, 0.999)."""
    if isinstance(value, list | tuple):
        return "(" + ", ".join(f"{v:g}" for v in value) + ")"
    return f"{value:g}"


def trial_count(spaces: Sequence[tuple[str, Space]], method: str, trials: int) -> int:
    """How many trials a configuration with these spaces gets."""
    if not spaces:
        return 1
    if method == "sobol":
        return trials
    return math.prod(len(space.grid()) for _, space in spaces)


def expand(spaces: Sequence[tuple[str, Space]], method: str, trials: int, seed: int) -> tuple[Trial, ...]:
    """The trials of one configuration: every combination on a grid, or `trials` Sobol points.

    Sobol points are scrambled with `seed` (train.seed), so every configuration with the same
    number of knobs is tried at the same quantiles: equal budgets, spread the same way.
    """
    if not spaces:
        return (Trial(0, ()),)
    names = [name for name, _ in spaces]
    if method == "grid":
        combos = itertools.product(*(space.grid() for _, space in spaces))
        return tuple(Trial(i, tuple(zip(names, combo))) for i, combo in enumerate(combos))
    import torch

    engine = torch.quasirandom.SobolEngine(len(spaces), scramble=True, seed=seed)
    points = engine.draw(trials, dtype=torch.float64).tolist()
    return tuple(
        Trial(i, tuple((name, space.sample(u)) for (name, space), u in zip(spaces, point)))
        for i, point in enumerate(points)
    )
