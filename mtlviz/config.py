"""ExperimentConfig: the single source of truth for a run.

Frozen dataclasses, validated on construction (every message names the field,
the value found and what is allowed), and a strict JSON round-trip: unknown keys
are rejected by name, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from mtlviz.errors import ConfigError
from mtlviz.models.registry import SHARING
from mtlviz.optim import OPTIMIZERS
from mtlviz.records import PAIR_SEPARATOR
from mtlviz.search import SEARCH_METHODS, Space, Trial, is_space, parse_space, trial_count

# Server-side limits on what one experiment may ask for. The widgets use the same
# bounds, but these are enforced here so a hand-written config cannot exceed them.
LIMITS = {
    "tasks": (1, 8),
    "optimizers": (1, 8),
    "num_samples": (20, 200_000),
    "input_dim": (1, 256),
    "hidden": (1, 1024),
    "depth": (0, 8),
    "steps": (1, 100_000),
    "batch_size": (1, 4096),
    "num_classes": (2, 100),
    "num_sines": (0, 50),
    "seeds": (1, 10),
    "lrs": (1, 64),  # values one searched knob may list (learning rates, weight decays, ...)
    "methods": (1, 8),
    "trials": (1, 256),  # a sampled search's trials per configuration
    # Models trained side by side: configurations x trials x methods x seeds. This is a
    # sanity bound; what a machine can hold and train in time is the budget's to say
    # (mtlviz/budget.py), and a server operator may cap it lower (MTLVIZ_MAX_ROWS).
    "rows": (1, 4096),
}

# Marks a field that only says where error messages point: never a JSON key.
INTERNAL = {"internal": True}
TASK_TYPES = ("regression", "classification")
TABLE_TASK_TYPES = ("auto", *TASK_TYPES)  # a table's target type may be inferred from its values
MISSING_POLICIES = ("drop", "impute")
DEVICES = ("auto", "cpu", "cuda")
# Learning-rate schedules, each built from torch.optim.lr_scheduler (mtlviz/engine/schedules.py).
SCHEDULES = ("constant", "cosine", "linear", "step")
ACTIVATIONS = ("relu", "tanh", "gelu")


# ----------------------------------------------------------------- validation helpers


def _found(value: Any) -> str:
    return f"found {value!r}"


def _int(path: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f"expected an integer in [{low}, {high}], {_found(value)}")
    if not low <= value <= high:
        raise ConfigError(path, f"expected an integer in [{low}, {high}], {_found(value)}")
    return value


def _float(path: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> float:
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, f"expected a number in {interval}, {_found(value)}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float range, e.g. 1 followed by 400 zeros
        raise ConfigError(path, f"expected a number in {interval}, found an integer too large for a float") from None
    ok = (
        math.isfinite(value)
        and (value > low if low_open else value >= low)
        and (value < high if high_open else value <= high)
    )
    if not ok:
        raise ConfigError(path, f"expected a number in {interval}, {_found(value)}")
    return value


def _choice(path: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(path, f"expected one of {', '.join(allowed)}; {_found(value)}")
    return value


def _bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, f"expected true or false, {_found(value)}")
    return value


def _text(path: str, value: Any, max_len: int = 60) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ConfigError(path, f"expected a non-empty text of at most {max_len} characters, {_found(value)}")
    return value.strip()


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _keys(path: str, data: Any, cls: type, extra: tuple[str, ...] = ()) -> dict:
    """Check that `data` is an object whose keys all belong to `cls`."""
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected an object, found {type(data).__name__}")
    # `path` is internal (where error messages point), never a config key.
    allowed = [f.name for f in fields(cls) if not _internal(f)] + list(extra)
    for key in data:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(where, f"unknown key; allowed keys are {', '.join(allowed)}")
    return data


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ----------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class TaskSpec:
    """One task: its name, its type and how its loss enters the objective."""

    name: str
    type: str = "regression"  # for tables also "auto": inferred from the column's values
    num_classes: int = 2  # synthetic classification only (2 = binary); a table's come from its labels
    # Multiplies the task's loss as reported and trained on: a change of units that
    # makes one task's loss (and gradient) larger than another's, to show imbalance.
    loss_scale: float = 1.0
    # w_t in the objective sum_t w_t * L_t; unlike loss_scale it is a training choice.
    weight: float = 1.0
    path: str = field(default="", repr=False, compare=False, metadata=INTERNAL)

    def __post_init__(self) -> None:
        p = self.path
        _set(self, "name", _text(_join(p, "name"), self.name, 40))
        if PAIR_SEPARATOR.strip() in self.name:
            # Task pairs are named "a ↔ b" in the records (gradient cosines): the name must not be ambiguous.
            raise ConfigError(
                _join(p, "name"), f"a task name cannot contain {PAIR_SEPARATOR.strip()!r}, found {self.name!r}"
            )
        _choice(_join(p, "type"), self.type, TABLE_TASK_TYPES)
        _set(self, "num_classes", _int(_join(p, "num_classes"), self.num_classes, *LIMITS["num_classes"]))
        _set(self, "loss_scale", _float(_join(p, "loss_scale"), self.loss_scale, 0.0, 1e6, low_open=True))
        _set(self, "weight", _float(_join(p, "weight"), self.weight, 0.0, 1e6))

    @property
    def output_dim(self) -> int:
        return self.num_classes if self.type == "classification" else 1


@dataclass(frozen=True)
class SyntheticTasks:
    """Synthetic tasks with controllable relatedness (Ma et al., KDD 2018, MMoE).

    Each task's weight vector is `scale` times a unit vector; every pair of unit
    vectors has cosine `relatedness`, and labels add `num_sines` shared sine terms.
    """

    source: str = "synthetic"
    targets: tuple[TaskSpec, ...] = (TaskSpec("task A"), TaskSpec("task B"))
    relatedness: float = 0.5
    input_dim: int = 16
    num_samples: int = 4000
    val_fraction: float = 0.2
    # Held out from training and from every choice: only the final report reads it (0: none).
    test_fraction: float = 0.0
    scale: float = 0.3  # c in the paper: keeps w.x in the range where the sines matter
    num_sines: int = 5  # m in the paper
    noise_std: float = 0.01
    path: str = field(default="tasks", repr=False, compare=False, metadata=INTERNAL)

    def __post_init__(self) -> None:
        p = self.path
        _choice(_join(p, "source"), self.source, ("synthetic",))
        targets = tuple(self.targets)
        low, high = LIMITS["tasks"]
        if not low + 1 <= len(targets) <= high:
            raise ConfigError(_join(p, "targets"), f"expected 2 to {high} tasks, found {len(targets)}")
        names = [t.name for t in targets]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ConfigError(
                    f"{_join(p, 'targets')}[{i}].name", f"task names must be unique; {name!r} is used twice"
                )
        for i, spec in enumerate(targets):
            if spec.type == "auto":
                raise ConfigError(
                    f"{_join(p, 'targets')}[{i}].type",
                    "synthetic tasks need an explicit type (regression or classification); found 'auto'",
                )
        _set(self, "targets", targets)
        t = len(targets)
        # The Gram matrix with p off the diagonal is positive semi-definite iff p >= -1/(T-1).
        lowest = -1.0 / (t - 1)
        rel = _float(_join(p, "relatedness"), self.relatedness, -1.0, 1.0)
        if rel < lowest - 1e-12:
            raise ConfigError(
                _join(p, "relatedness"),
                f"{t} tasks cannot all have pairwise cosine {rel:g}; the lowest feasible value is "
                f"-1/(T-1) = {lowest:.4g}, found {rel:g}",
            )
        _set(self, "relatedness", rel)
        _set(self, "input_dim", _int(_join(p, "input_dim"), self.input_dim, *LIMITS["input_dim"]))
        if self.input_dim < t:
            raise ConfigError(
                _join(p, "input_dim"), f"needs at least one dimension per task ({t}), found {self.input_dim}"
            )
        _set(self, "num_samples", _int(_join(p, "num_samples"), self.num_samples, *LIMITS["num_samples"]))
        _set(self, "val_fraction", _float(_join(p, "val_fraction"), self.val_fraction, 0.05, 0.9))
        _set(self, "test_fraction", _test_fraction(p, self.val_fraction, self.test_fraction))
        _set(self, "scale", _float(_join(p, "scale"), self.scale, 0.0, 100.0, low_open=True))
        _set(self, "num_sines", _int(_join(p, "num_sines"), self.num_sines, *LIMITS["num_sines"]))
        _set(self, "noise_std", _float(_join(p, "noise_std"), self.noise_std, 0.0, 100.0))
        n_val = round(self.num_samples * self.val_fraction)
        n_test = round(self.num_samples * self.test_fraction)
        n_train = self.num_samples - n_val - n_test
        for i, spec in enumerate(targets):
            smallest = min(n_val, n_train, *((n_test,) if n_test else ()))
            if spec.type == "classification" and smallest < 2 * spec.num_classes:
                test = f", {n_test} test" if n_test else ""
                raise ConfigError(
                    f"{_join(p, 'targets')}[{i}].num_classes",
                    f"{spec.num_classes} classes need at least {2 * spec.num_classes} samples in each split; "
                    f"found {n_val} validation{test} and {n_train} training samples",
                )

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)


@dataclass(frozen=True)
class TableTasks:
    """Tasks from a table: every target column becomes a task.

    The table is a CSV or Parquet file (`path`) or one of the bundled datasets
    (`dataset`). Features default to every column that is not a target.
    """

    source: str = "table"
    path: str = ""
    dataset: str = ""
    features: tuple[str, ...] = ()
    targets: tuple[TaskSpec, ...] = ()
    missing: str = "drop"  # rows with a missing value in a chosen column: "drop" them or "impute" features
    val_fraction: float = 0.2
    test_fraction: float = 0.0  # held out from training and every choice; only the final report reads it
    # One-hot columns per categorical feature; rarer categories share an "(other)" column.
    max_categories: int = 20
    path_: str = field(default="tasks", repr=False, compare=False, metadata=INTERNAL)

    def __post_init__(self) -> None:
        p = self.path_
        _choice(_join(p, "source"), self.source, ("table",))
        if not isinstance(self.path, str) or not isinstance(self.dataset, str):
            raise ConfigError(p, "path and dataset must be texts")
        if bool(self.path.strip()) == bool(self.dataset.strip()):
            raise ConfigError(
                p,
                f"expected exactly one of path (a CSV or Parquet file) and dataset; found path={self.path!r}, "
                f"dataset={self.dataset!r}",
            )
        if self.dataset:
            from mtlviz.data.bundled import BUNDLED

            _choice(_join(p, "dataset"), self.dataset, tuple(BUNDLED))
        features = self.features
        if not isinstance(features, list | tuple) or not all(isinstance(f, str) and f for f in features):
            raise ConfigError(_join(p, "features"), f"expected a list of column names, found {features!r}")
        _set(self, "features", tuple(features))
        targets = tuple(self.targets)
        low, high = LIMITS["tasks"]
        if not low <= len(targets) <= high:
            raise ConfigError(_join(p, "targets"), f"expected {low} to {high} target columns, found {len(targets)}")
        names = [t.name for t in targets]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ConfigError(f"{_join(p, 'targets')}[{i}]", f"target {name!r} is listed twice")
            if name in self.features:
                raise ConfigError(_join(p, "features"), f"{name!r} is a target; a column cannot be both")
        _set(self, "targets", targets)
        _choice(_join(p, "missing"), self.missing, MISSING_POLICIES)
        _set(self, "val_fraction", _float(_join(p, "val_fraction"), self.val_fraction, 0.05, 0.9))
        _set(self, "test_fraction", _test_fraction(p, self.val_fraction, self.test_fraction))
        _set(self, "max_categories", _int(_join(p, "max_categories"), self.max_categories, 2, 1000))

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.targets)


@dataclass(frozen=True)
class Toy2DTasks:
    """The two-objective toy problem on two parameters (Liu et al., NeurIPS 2021, CAGrad).

    The "model" is the point x = (x1, x2) itself, starting at `start`; the two
    task losses L1(x), L2(x) are closed-form (mtlviz/data/toy2d.py), computed in
    float64. There is no data: every step is the exact gradient.
    """

    source: str = "toy2d"
    start: tuple[float, float] = (-8.5, 7.5)  # one of the paper's start points
    path: str = field(default="tasks", repr=False, compare=False, metadata=INTERNAL)

    def __post_init__(self) -> None:
        p = self.path
        _choice(_join(p, "source"), self.source, ("toy2d",))
        start = self.start
        if not isinstance(start, list | tuple) or len(start) != 2:
            raise ConfigError(_join(p, "start"), f"expected a point [x1, x2], found {start!r}")
        _set(self, "start", tuple(_float(f"{_join(p, 'start')}[{i}]", v, -100.0, 100.0) for i, v in enumerate(start)))

    @property
    def targets(self) -> tuple[TaskSpec, ...]:
        return (TaskSpec("L1"), TaskSpec("L2"))

    @property
    def task_names(self) -> tuple[str, ...]:
        return ("L1", "L2")


def _test_fraction(path: str, val_fraction: float, value: Any) -> float:
    value = _float(_join(path, "test_fraction"), value, 0.0, 0.5)
    if val_fraction + value > 0.9:
        raise ConfigError(
            _join(path, "test_fraction"),
            f"validation and test together may hold at most 0.9 of the rows; found val_fraction {val_fraction:g} "
            f"+ test_fraction {value:g} = {val_fraction + value:g}",
        )
    return value


TASK_SOURCES: dict[str, type] = {"synthetic": SyntheticTasks, "table": TableTasks, "toy2d": Toy2DTasks}
TaskSource = SyntheticTasks | TableTasks | Toy2DTasks


# ----------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ModelConfig:
    """Sharing strategy and network size."""

    sharing: str = "hard"
    hidden: int = 64
    depth: int = 2  # hidden layers; 0 gives a linear model
    activation: str = "relu"
    # lambda of the soft-sharing coupling penalty (soft, soft_chain only)
    coupling: float = 0.01
    # Experts of a multi-gate mixture of experts (mmoe only); each is an MLP of this depth and width.
    experts: int = 4

    def __post_init__(self) -> None:
        _choice("model.sharing", self.sharing, tuple(SHARING))
        _set(self, "hidden", _int("model.hidden", self.hidden, *LIMITS["hidden"]))
        _set(self, "depth", _int("model.depth", self.depth, *LIMITS["depth"]))
        _choice("model.activation", self.activation, ACTIVATIONS)
        _set(self, "coupling", _float("model.coupling", self.coupling, 0.0, 1e4))
        _set(self, "experts", _int("model.experts", self.experts, 1, 16))


# ------------------------------------------------------------------------ optimizers


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule: optional linear warmup, then constant, cosine or linear decay to 0, or steps.

    Built per row from torch.optim.lr_scheduler (mtlviz/engine/schedules.py); the
    decay runs from the end of the warmup to the last step (train.steps).
    """

    name: str = "constant"
    warmup_steps: int = 0  # the lr rises linearly from lr / (warmup_steps + 1) to lr over these steps
    step_size: int = 100  # "step": multiply the lr by gamma every step_size steps after the warmup
    gamma: float = 0.1
    path: str = field(default="optimizers[0].schedule", repr=False, compare=False, metadata=INTERNAL)

    def __post_init__(self) -> None:
        p = self.path
        _choice(_join(p, "name"), self.name, SCHEDULES)
        _set(self, "warmup_steps", _int(_join(p, "warmup_steps"), self.warmup_steps, 0, LIMITS["steps"][1]))
        _set(self, "step_size", _int(_join(p, "step_size"), self.step_size, 1, LIMITS["steps"][1]))
        _set(self, "gamma", _float(_join(p, "gamma"), self.gamma, 0.0, 1.0, low_open=True))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.warmup_steps:
            data["warmup_steps"] = self.warmup_steps
        if self.name == "step":
            data.update(step_size=self.step_size, gamma=self.gamma)
        return data


# Knobs a search may vary besides the optimizer's own numeric options.
WARMUP = "schedule.warmup_steps"
CLIP = "clip_norm"


@dataclass(frozen=True)
class OptimizerConfig:
    """One optimizer configuration: a torch.optim class, its learning rate and options, an optional
    learning-rate schedule and gradient clipping, and the knobs it searches."""

    name: str
    # One learning rate, or several (a tuple, or in JSON a list or a log-range
    # {"from": a, "to": b, "num": n}): a sweep, each lr trained as its own run.
    lr: float | tuple[float, ...]
    label: str = ""  # shown in legends; derived from name and lr when empty
    options: dict[str, Any] = field(default_factory=dict)
    schedule: Schedule | None = None  # None: the lr is constant
    clip_norm: float | None = None  # clip each row's gradient to this global norm (over that row's parameters)
    # Searched knobs other than a listed lr: (knob, space) with knob "lr", an option's name,
    # "schedule.warmup_steps" or "clip_norm" (mtlviz/search.py). In JSON each is written in place.
    search: tuple[tuple[str, Space], ...] = ()
    path: str = field(default="optimizers[0]", repr=False, compare=False, metadata=INTERNAL)

    def __post_init__(self) -> None:
        p = self.path
        _choice(_join(p, "name"), self.name, tuple(OPTIMIZERS))
        spec = OPTIMIZERS[self.name]
        search = dict(self.search)
        lr = self.lr
        if isinstance(lr, Space):
            search = {"lr": lr, **search}
            lr = lr.low if lr.kind != "values" else min(lr.values)
        elif isinstance(lr, dict) and not _legacy_range(lr):
            search = {"lr": parse_space(_join(p, "lr"), lr, _learning_rate), **search}
            lr = search["lr"].bounds[0]
        _set(self, "lr", _learning_rates(_join(p, "lr"), lr))
        if not isinstance(self.options, dict):
            raise ConfigError(_join(p, "options"), f"expected an object, found {type(self.options).__name__}")
        clean: dict[str, Any] = {}
        for key, value in self.options.items():
            if key not in spec.options:
                raise ConfigError(
                    _join(p, key),
                    f"{spec.title} has no option {key!r}; its options are {', '.join(spec.options)}",
                )
            option = spec.options[key]
            if isinstance(value, Space) or (option.kind != "bool" and is_space(value, option.kind == "betas")):
                search[key] = value if isinstance(value, Space) else parse_space(_join(p, key), value, option.validate)
                continue
            clean[key] = option.validate(_join(p, key), value)
        schedule = self.schedule
        if isinstance(schedule, dict):
            schedule = _schedule_from_dict(_join(p, "schedule"), schedule, search)
        if schedule is not None and not isinstance(schedule, Schedule):
            raise ConfigError(
                _join(p, "schedule"), f'expected an object such as {{"name": "cosine"}}, found {schedule!r}'
            )
        _set(self, "schedule", schedule)
        clip = self.clip_norm
        if isinstance(clip, Space) or is_space(clip):
            search[CLIP] = clip if isinstance(clip, Space) else parse_space(_join(p, CLIP), clip, _clip_norm)
            clip = None
        _set(self, "clip_norm", None if clip is None else _clip_norm(_join(p, CLIP), clip))
        for knob in search:
            if knob not in ("lr", WARMUP, CLIP) and knob not in spec.options:
                raise ConfigError(_join(p, knob), f"{spec.title} has no option {knob!r} to search")
        _set(self, "search", tuple(search.items()))
        problem = spec.check(spec.resolved(clean)) if spec.check and not search else None
        if problem:
            raise ConfigError(_join(p, problem[0]), problem[1])
        _set(self, "options", clean)
        label = self.label.strip() if isinstance(self.label, str) else self.label
        _set(self, "label", _text(_join(p, "label"), label, 40) if label else self.default_label())

    def default_label(self) -> str:
        title = OPTIMIZERS[self.name].title
        return title if self.is_sweep else f"{title} lr={self.lr:g}"

    @property
    def lrs(self) -> tuple[float, ...]:
        """The learning rates listed for this configuration (one unless it sweeps a list)."""
        return self.lr if isinstance(self.lr, tuple) else (self.lr,)

    @property
    def is_sweep(self) -> bool:
        """Whether this configuration tries several values of anything (it has several trials)."""
        return isinstance(self.lr, tuple) or bool(self.search)

    @property
    def spaces(self) -> tuple[tuple[str, Space], ...]:
        """Every searched knob with its space, a listed lr first."""
        listed = (("lr", Space("values", self.lr)),) if isinstance(self.lr, tuple) else ()
        return listed + self.search

    def trial_count(self, method: str = "grid", trials: int = 0) -> int:
        return trial_count(self.spaces, method, trials)

    def at(self, trial: Trial, label: str) -> OptimizerConfig:
        """The single configuration a trial trains: its values in place of the searched spaces."""
        values = dict(trial.values)
        options = {**self.options, **{k: v for k, v in values.items() if k not in ("lr", WARMUP, CLIP)}}
        schedule = self.schedule
        if WARMUP in values:
            schedule = replace(schedule or Schedule(), warmup_steps=values[WARMUP])
        single = OptimizerConfig(
            self.name,
            values.get("lr", self.lrs[0]),
            "",
            options,
            schedule,
            values.get(CLIP, self.clip_norm),
            path=self.path,
        )
        _set(single, "label", label)  # a trial's name lists its values: it may be longer than a label typed in
        return single

    def option(self, key: str) -> Any:
        """The option's value, or PyTorch's default when it was not set."""
        return self.options.get(key, OPTIMIZERS[self.name].options[key].default)

    def to_dict(self) -> dict[str, Any]:
        search = dict(self.search)
        data: dict[str, Any] = {"name": self.name, "label": self.label}
        data["lr"] = search.pop("lr").to_json() if "lr" in search else _jsonable(self.lr)
        data.update(_jsonable(self.options))
        warmup = search.pop(WARMUP, None)
        clip = search.pop(CLIP, None)
        data.update({k: space.to_json() for k, space in search.items()})
        if self.schedule is not None or warmup is not None:
            schedule = (self.schedule or Schedule()).to_dict()
            if warmup is not None:
                schedule["warmup_steps"] = warmup.to_json()
            data["schedule"] = schedule
        if clip is not None:
            data[CLIP] = clip.to_json()
        elif self.clip_norm is not None:
            data[CLIP] = self.clip_norm
        return data


def _legacy_range(value: dict) -> bool:
    """{"from", "to", "num"} with no scale: the learning-rate sweep form a list of rates stands for."""
    return set(value) == {"from", "to", "num"}


def _clip_norm(path: str, value: Any) -> float:
    return _float(path, value, 0.0, 1e6, low_open=True)


def _warmup(path: str, value: Any) -> int:
    return _int(path, value, 0, LIMITS["steps"][1])


def _schedule_from_dict(path: str, data: dict, search: dict[str, Space]) -> Schedule:
    data = dict(_keys(path, data, Schedule))
    warmup = data.get("warmup_steps", 0)
    if is_space(warmup):
        search[WARMUP] = parse_space(_join(path, "warmup_steps"), warmup, _warmup, integer=True)
        data["warmup_steps"] = 0
    return Schedule(**data, path=path)


def _learning_rate(path: str, value: Any) -> float:
    # Up to 1e4: people type absurd values on purpose to watch divergence.
    return _float(path, value, 0.0, 1e4, low_open=True)


def _learning_rates(path: str, value: Any) -> float | tuple[float, ...]:
    """A number, or a sweep: a list of numbers or a log-range {"from", "to", "num"}."""
    low, high = LIMITS["lrs"]
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"from", "to", "num"})
        if unknown or not {"from", "to", "num"} <= set(value):
            raise ConfigError(
                path, f'expected a log-range {{"from": a, "to": b, "num": n}}, found keys {sorted(value)}'
            )
        start = _learning_rate(f"{path}.from", value["from"])
        stop = _learning_rate(f"{path}.to", value["to"])
        num = _int(f"{path}.num", value["num"], 2, high)
        if stop <= start:
            raise ConfigError(f"{path}.to", f"expected a value above from ({start:g}), found {stop:g}")
        ratio = (stop / start) ** (1 / (num - 1))
        # Rounded to 4 significant digits: legends read 0.001, not 0.0010000000000000002.
        value = [float(f"{start * ratio**i:.4g}") for i in range(num)]
    if isinstance(value, list | tuple):
        if not low <= len(value) <= high:
            raise ConfigError(path, f"expected {low} to {high} learning rates, found {len(value)}")
        lrs = [_learning_rate(f"{path}[{i}]", v) for i, v in enumerate(value)]
        if len(set(lrs)) != len(lrs):
            raise ConfigError(path, f"expected distinct learning rates, found {lrs}")
        return tuple(sorted(lrs)) if len(lrs) > 1 else lrs[0]
    return _learning_rate(path, value)


# --------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class MethodConfig:
    """A multi-task method (mtlviz/methods): how the task losses become one update."""

    name: str = "static"
    label: str = ""  # shown in legends; the method's title when empty
    options: dict[str, Any] = field(default_factory=dict)
    path: str = field(default="methods[0]", repr=False, compare=False, metadata=INTERNAL)

    def __post_init__(self) -> None:
        from mtlviz.methods import METHODS

        p = self.path
        _choice(_join(p, "name"), self.name, tuple(METHODS))
        spec = METHODS[self.name]
        if not isinstance(self.options, dict):
            raise ConfigError(_join(p, "options"), f"expected an object, found {type(self.options).__name__}")
        clean = {}
        for key, value in self.options.items():
            if key not in spec.options:
                allowed = ", ".join(spec.options) or "none"
                raise ConfigError(_join(p, key), f"{spec.title} has no option {key!r}; its options are {allowed}")
            value = spec.options[key].validate(_join(p, key), value)
            if value != spec.options[key].default:  # defaults are implied: equal configs compare equal
                clean[key] = value
        _set(self, "options", clean)
        label = self.label.strip() if isinstance(self.label, str) else self.label
        _set(self, "label", _text(_join(p, "label"), label, 40) if label else self.default_label())

    def default_label(self) -> str:
        from mtlviz.methods import METHODS

        spec = METHODS[self.name]
        shown = [f"{k}={v:g}" for k, v in self.options.items() if v != spec.options[k].default]
        return spec.title + (f" ({', '.join(shown)})" if shown else "")

    def option(self, key: str) -> Any:
        from mtlviz.methods import METHODS

        return self.options.get(key, METHODS[self.name].options[key].default)


# -------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 128
    eval_every: int = 25  # validation is a full pass over the held-out split
    seed: int = 0
    # Seeds per configuration: seed + 0 .. seed + seeds - 1, each with its own data
    # split, initial weights and batch order (shared by the configurations of that seed).
    seeds: int = 1
    device: str = "auto"  # auto picks CUDA when it is available
    # Per-layer update statistics every N steps (0 = off); they cost a parameter copy.
    stats_every: int = 10
    # Per-task gradients on the shared parameters every N steps (0 = off); they cost
    # one backward pass per task instead of one in total.
    conflict_every: int = 10
    # A configuration diverged when its loss is non-finite or exceeds this many
    # times its first loss on some task (Adam at a huge lr explodes but stays finite).
    divergence_factor: float = 1e4

    def __post_init__(self) -> None:
        _set(self, "steps", _int("train.steps", self.steps, *LIMITS["steps"]))
        _set(self, "batch_size", _int("train.batch_size", self.batch_size, *LIMITS["batch_size"]))
        _set(self, "eval_every", _int("train.eval_every", self.eval_every, 1, LIMITS["steps"][1]))
        _set(self, "seed", _int("train.seed", self.seed, 0, 2**31 - 1))
        _set(self, "seeds", _int("train.seeds", self.seeds, *LIMITS["seeds"]))
        _choice("train.device", self.device, DEVICES)
        _set(self, "stats_every", _int("train.stats_every", self.stats_every, 0, LIMITS["steps"][1]))
        _set(self, "conflict_every", _int("train.conflict_every", self.conflict_every, 0, LIMITS["steps"][1]))
        _set(self, "divergence_factor", _float("train.divergence_factor", self.divergence_factor, 2.0, 1e30))

    @property
    def seed_values(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.seeds))


# ------------------------------------------------------------------------ search


@dataclass(frozen=True)
class SearchConfig:
    """How configurations' spaces become trials, with the same budget for each.

    "grid" tries every combination (and needs every configuration to have the same
    number of them); "sobol" draws `trials` quasi-random points per configuration.
    With a search, the best trial of each configuration is chosen on validation and
    reported on the test split, which nothing else reads (mtlviz/protocol.py).
    """

    method: str = "grid"
    trials: int = 0  # per configuration; "sobol" only

    def __post_init__(self) -> None:
        _choice("search.method", self.method, SEARCH_METHODS)
        if self.method == "sobol":
            _set(self, "trials", _int("search.trials", self.trials, *LIMITS["trials"]))
        elif self.trials:
            raise ConfigError(
                "search.trials", f"a grid tries every combination; trials is for sobol, found {self.trials}"
            )


# ------------------------------------------------------------------------ experiment


@dataclass(frozen=True)
class ExperimentConfig:
    tasks: TaskSource = field(default_factory=SyntheticTasks)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizers: tuple[OptimizerConfig, ...] = (
        OptimizerConfig("sgd", 0.05, "SGD"),
        OptimizerConfig("adam", 1e-3, "Adam"),
        OptimizerConfig("adamw", 1e-3, "AdamW", {"weight_decay": 0.01}),
    )
    train: TrainConfig = field(default_factory=TrainConfig)
    # Per task, a validation loss to reach: the summary reports the step and the
    # seconds at which each run first reached it ("time to target").
    val_targets: dict[str, float] = field(default_factory=dict)
    # Multi-task methods; every optimizer configuration is trained with each of them.
    methods: tuple[MethodConfig, ...] = (MethodConfig(),)
    # A tuning protocol: each configuration's trials, chosen on validation and reported on
    # test. None: every listed value is simply its own run (a sweep), and nothing is chosen.
    search: SearchConfig | None = None

    def __post_init__(self) -> None:
        opts = tuple(self.optimizers)
        low, high = LIMITS["optimizers"]
        if not low <= len(opts) <= high:
            raise ConfigError("optimizers", f"expected {low} to {high} optimizer configurations, found {len(opts)}")
        labels = [o.label for o in opts]
        for i, label in enumerate(labels):
            if label in labels[:i]:
                raise ConfigError(f"optimizers[{i}].label", f"labels must be unique; {label!r} is used twice")
        _set(self, "optimizers", opts)
        methods = tuple(self.methods)
        if not 1 <= len(methods) <= LIMITS["methods"][1]:
            raise ConfigError("methods", f"expected 1 to {LIMITS['methods'][1]} methods, found {len(methods)}")
        method_labels = [m.label for m in methods]
        for i, label in enumerate(method_labels):
            if label in method_labels[:i]:
                raise ConfigError(f"methods[{i}].label", f"labels must be unique; {label!r} is used twice")
        _set(self, "methods", methods)
        runs = self.runs
        for i, run in enumerate(runs):
            if run in runs[:i]:
                raise ConfigError(
                    "optimizers", f"run labels must be unique; {run!r} comes from two configurations (rename one)"
                )
        self._check_search(opts)
        rows = len(runs) * self.train.seeds
        if rows > LIMITS["rows"][1]:
            raise ConfigError(
                "optimizers",
                f"expected at most {LIMITS['rows'][1]} models side by side (configurations x trials x "
                f"methods x seeds), found {len(runs)} runs x {self.train.seeds} seeds = {rows}",
            )
        if not isinstance(self.val_targets, dict):
            raise ConfigError("val_targets", f"expected an object of task name -> loss, found {self.val_targets!r}")
        names = self.tasks.task_names
        for task, value in self.val_targets.items():
            if task not in names:
                raise ConfigError(f"val_targets.{task}", f"no such task; the tasks are {', '.join(names)}")
            _float(f"val_targets.{task}", value, -1e30, 1e30)  # toy2d's losses go below zero
        _set(self, "val_targets", {t: float(self.val_targets[t]) for t in names if t in self.val_targets})

    def _check_search(self, opts: tuple[OptimizerConfig, ...]) -> None:
        steps = self.train.steps
        for i, o in enumerate(opts):
            warmups = [o.schedule.warmup_steps] if o.schedule else []
            warmups += [v for k, space in o.search if k == WARMUP for v in _extremes(space)]
            if warmups and max(warmups) >= steps:
                raise ConfigError(
                    f"optimizers[{i}].schedule.warmup_steps",
                    f"expected fewer warmup steps than train.steps ({steps}), found {max(warmups)}",
                )
            if self.search_method == "grid":
                for knob, space in o.spaces:
                    if not space.gridded:
                        raise ConfigError(
                            f"optimizers[{i}].{knob}",
                            "a grid needs listed values or a range with num; this is sampled only: "
                            'set "search": {"method": "sobol", "trials": N}, or give num',
                        )
        if self.search is None:
            return
        source = self.tasks
        if getattr(source, "test_fraction", 0.0) <= 0:
            what = "Toy 2D has no data to hold out" if source.source == "toy2d" else "found test_fraction 0"
            raise ConfigError(
                "tasks.test_fraction",
                f"a search chooses on validation and reports on a test split nothing else reads; {what}. "
                "Set tasks.test_fraction (for example 0.2)",
            )
        for i, o in enumerate(opts):
            if not o.spaces:
                raise ConfigError(
                    f"optimizers[{i}]",
                    f"{o.label} searches nothing; with a search every configuration tunes something "
                    "(give lr a list, a range or a distribution)",
                )
        counts = {o.label: o.trial_count(self.search.method, self.search.trials) for o in opts}
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"{label} {n}" for label, n in counts.items())
            raise ConfigError(
                "optimizers",
                f"every configuration must get the same search budget; found trials {shown}. Search the same "
                'number of values, or use "search": {"method": "sobol", "trials": N}',
            )

    @property
    def search_method(self) -> str:
        return self.search.method if self.search is not None else "grid"

    def trials(self, opt: OptimizerConfig) -> tuple[Trial, ...]:
        """The trials of one configuration (Sobol points are drawn with torch, on demand)."""
        from mtlviz.search import expand

        trials = self.search.trials if self.search is not None else 0
        return expand(opt.spaces, self.search_method, trials, self.train.seed)

    @property
    def labels(self) -> tuple[str, ...]:
        """The configurations' labels, as the user named them."""
        return tuple(o.label for o in self.optimizers)

    @property
    def runs(self) -> tuple[str, ...]:
        """One label per (configuration, learning rate, method): a swept lr is named after its
        value, and with several methods each run names its method."""
        return tuple(run for run, _, _, _ in self.run_grid())

    def run_grid(self) -> list[tuple[str, OptimizerConfig, int, MethodConfig]]:
        """(run label, configuration, trial index, method) for every run, configuration-major.

        A configuration that searches nothing is one run named by its label; a grid's trials
        are named by their values ("Adam lr=0.001"), sampled ones by number ("Adam #03")."""
        grid = []
        method = self.search_method
        trials = self.search.trials if self.search is not None else 0
        for o in self.optimizers:
            count = o.trial_count(method, trials)
            if not o.spaces:
                names = [o.label]
            elif method == "grid":
                names = [t.label(o.label, method, count) for t in self.trials(o)]
            else:
                names = [Trial(i, ()).label(o.label, method, count) for i in range(count)]
            for index, run in enumerate(names):
                for m in self.methods:
                    grid.append((f"{run} · {m.label}" if len(self.methods) > 1 else run, o, index, m))
        return grid

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        tasks = {
            f.name: _jsonable(getattr(self.tasks, f.name))
            for f in fields(self.tasks)
            if f.name != "targets" and not _internal(f)
        }
        if any(f.name == "targets" for f in fields(self.tasks)):
            tasks["targets"] = [_plain(t) for t in self.tasks.targets]
        optimizers = [o.to_dict() for o in self.optimizers]
        data = {
            "tasks": tasks,
            "model": _plain(self.model),
            "optimizers": optimizers,
            "train": _plain(self.train),
        }
        if self.val_targets:
            data["val_targets"] = dict(self.val_targets)
        if self.methods != (MethodConfig(),):
            data["methods"] = [{"name": m.name, "label": m.label, **_jsonable(m.options)} for m in self.methods]
        if self.search is not None:
            data["search"] = {
                "method": self.search.method,
                **({"trials": self.search.trials} if self.search.trials else {}),
            }
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> ExperimentConfig:
        data = _keys("", data, cls)
        tasks = _tasks_from_dict(data.get("tasks", {}))
        model = ModelConfig(**_keys("model", data.get("model", {}), ModelConfig))
        raw_opts = data.get("optimizers", None)
        if raw_opts is None:
            optimizers = cls().optimizers
        else:
            if not isinstance(raw_opts, list):
                raise ConfigError("optimizers", f"expected a list, found {type(raw_opts).__name__}")
            optimizers = tuple(_optimizer_from_dict(f"optimizers[{i}]", o) for i, o in enumerate(raw_opts))
        train = TrainConfig(**_keys("train", data.get("train", {}), TrainConfig))
        targets = data.get("val_targets", {})
        raw_methods = data.get("methods", None)
        methods = cls().methods
        if raw_methods is not None:
            if not isinstance(raw_methods, list):
                raise ConfigError("methods", f"expected a list, found {type(raw_methods).__name__}")
            methods = tuple(_method_from_dict(f"methods[{i}]", m) for i, m in enumerate(raw_methods))
        search = data.get("search", None)
        if search is not None:
            search = SearchConfig(**_keys("search", search, SearchConfig))
        return cls(
            tasks=tasks,
            model=model,
            optimizers=optimizers,
            train=train,
            val_targets=targets,
            methods=methods,
            search=search,
        )

    @classmethod
    def from_json(cls, text: str) -> ExperimentConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        except ValueError as exc:  # an integer literal beyond Python's digit limit
            raise ConfigError("", f"not a usable config: {exc}") from None
        except RecursionError:
            raise ConfigError("", "not a usable config: nested too deeply") from None
        return cls.from_dict(data)


def _internal(f: Any) -> bool:
    """Fields that say where error messages point: not part of a config's JSON."""
    return f.metadata.get("internal", False)


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: _jsonable(getattr(obj, f.name)) for f in fields(obj) if not _internal(f)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _tasks_from_dict(data: Any) -> TaskSource:
    if not isinstance(data, dict):
        raise ConfigError("tasks", f"expected an object, found {type(data).__name__}")
    source = data.get("source", "synthetic")
    _choice("tasks.source", source, tuple(TASK_SOURCES))
    cls = TASK_SOURCES[source]
    data = _keys("tasks", data, cls)
    kwargs = {k: v for k, v in data.items() if k != "targets"}
    if "targets" in data:
        raw = data["targets"]
        if not isinstance(raw, list):
            raise ConfigError("tasks.targets", f"expected a list of tasks, found {type(raw).__name__}")
        specs = []
        for i, item in enumerate(raw):
            path = f"tasks.targets[{i}]"
            if source == "table" and isinstance(item, str):
                item = {"name": item, "type": "auto"}  # a bare column name: type inferred
            item = _keys(path, item, TaskSpec)
            if source == "table":
                item.setdefault("type", "auto")
            if "name" not in item:
                raise ConfigError(f"{path}.name", "missing; every task needs a name")
            specs.append(TaskSpec(**item, path=path))
        kwargs["targets"] = tuple(specs)
    return cls(**kwargs)


def _method_from_dict(path: str, data: Any) -> MethodConfig:
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a method name or an object, found {type(data).__name__}")
    if "name" not in data:
        raise ConfigError(f"{path}.name", "missing; every method needs a name")
    options = {k: v for k, v in data.items() if k not in ("name", "label")}
    return MethodConfig(name=data["name"], label=data.get("label", ""), options=options, path=path)


def _optimizer_from_dict(path: str, data: Any) -> OptimizerConfig:
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected an object, found {type(data).__name__}")
    for key in ("name", "lr"):
        if key not in data:
            raise ConfigError(f"{path}.{key}", "missing; every optimizer configuration needs a name and an lr")
    own = ("name", "lr", "label", "schedule", CLIP)
    options = {k: v for k, v in data.items() if k not in own}
    return OptimizerConfig(
        name=data["name"],
        lr=data["lr"],
        label=data.get("label", ""),
        options=options,
        schedule=data.get("schedule"),
        clip_norm=data.get(CLIP),
        path=path,
    )


def _extremes(space: Space) -> tuple:
    bounds = space.bounds
    return bounds if bounds is not None else ()
