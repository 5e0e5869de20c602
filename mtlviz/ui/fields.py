"""The field table: every sidebar widget that holds a setting, and where that setting lives in the config.

One `Field` per widget key <-> config path. The sidebar draws fields and reads
their values into a config (`Form`); restore writes a config's values into the
same fields' widgets (`Field.write`, `Group.write`). Both directions go through
one record, so they cannot drift apart. A field's default is its config
dataclass's field default or its option spec's default, and its bounds are
LIMITS' or the spec's: nothing here restates a default.

Rows repeat (tasks by index, optimizer configurations by uid, a table's
columns by the file's digest), so keys and paths are templates such as
"task{i}_name" and "tasks.targets[{i}].name", filled with the row's ids.
Whatever part of a config no field covers is found from the dataclasses
themselves (`Group.unshown`), so restore can say what it could not show.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from mtlviz.config import (
    ACTIVATIONS,
    DEVICES,
    LIMITS,
    MISSING_POLICIES,
    SCHEDULES,
    TABLE_TASK_TYPES,
    TASK_TYPES,
    WARMUP,
    ExperimentConfig,
    MethodConfig,
    ModelConfig,
    OptimizerConfig,
    Schedule,
    SearchConfig,
    SyntheticTasks,
    TableTasks,
    TaskSpec,
    Toy2DTasks,
    TrainConfig,
)
from mtlviz.data.bundled import BUNDLED
from mtlviz.data.toy2d import X_RANGE
from mtlviz.errors import MtlvizError
from mtlviz.methods import METHODS
from mtlviz.models import SHARING
from mtlviz.optim import OPTIMIZERS
from mtlviz.options import OptionSpec
from mtlviz.search import SEARCH_METHODS, Space

# Widget kinds a field can be drawn as.
NUMBER, SLIDER, SELECT, MULTI, RADIO, SEGMENTED, TEXT, TOGGLE, CHECK = (
    "number",
    "slider",
    "select",
    "multiselect",
    "radio",
    "segmented",
    "text",
    "toggle",
    "checkbox",
)
_CHOICE = (SELECT, RADIO, SEGMENTED)
_NUMERIC = (NUMBER, SLIDER)
# Menus of sizes rather than free numbers: powers of two are what people compare.
HIDDEN_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
# A widget cannot show an open upper bound: it stops this far below it.
_BELOW_OPEN = 1e-4
# The optimizer options the sidebar can search (where the row's optimizer has them): the ones
# people tune next to the learning rate. The config can search any numeric option (a link keeps them).
SEARCHED_OPTIONS = ("weight_decay", "momentum")
NO_SEARCH = "none"  # the search menu's entry for ExperimentConfig.search = None
# Sobol trials per configuration the menu starts from (the config has no default: a grid has none).
SOBOL_TRIALS = 8
TEST_HELP = (
    "Rows held out as a test split. It is read once, after training, by the final report, and never used to "
    "choose anything: a search picks each configuration's best trial on validation. 0: no test split."
)

Ids = Mapping[str, Any]


def default_of(cls: type, name: str) -> Any:
    """The default of dataclass `cls`'s field `name` (dataclasses.MISSING if it has none)."""
    spec = {f.name: f for f in dataclasses.fields(cls)}[name]
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return spec.default


@dataclass(frozen=True)
class Field:
    """One widget and the config value it holds."""

    name: str  # unique in its group
    key: str  # widget key template, e.g. "task{i}_name"
    label: str  # widget label template
    widget: str  # NUMBER, SLIDER, SELECT, ...
    default: Any  # the config's default; a function of the ids where it depends on the row
    attr: str = ""  # the owner's attribute (or option) it holds; empty: the same as `name`
    part: int | None = None  # the value is element `part` of the attribute (a pair drawn as two widgets)
    arg: bool = True  # False: the caller assembles the attribute itself (a count, a list of specs)
    read: Callable[[Any], Any] | None = None  # how to read it from the owner; None: the attribute
    path: str = ""  # config path template; empty: the group's path + attr (+ [part])
    number: type = float  # int or float, for NUMBER and SLIDER
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: Sequence | Callable[[], Sequence] | None = None
    titles: Callable[[Any], str] | None = None
    shown: Callable[[Mapping[str, Any]], bool] | None = None  # drawn only when true of the group's drawn values
    widget_args: Mapping[str, Any] = field(default_factory=dict)  # help, format, max_chars, ...

    @property
    def attribute(self) -> str:
        return self.attr or self.name

    def key_for(self, ids: Ids | None = None) -> str:
        return self.key.format(**(ids or {}))

    def path_for(self, ids: Ids | None = None) -> str:
        return self.path.format(**(ids or {}))

    def default_for(self, ids: Ids | None = None) -> Any:
        return self.default(ids or {}) if callable(self.default) else self.default

    def options(self, choices: Sequence | None = None) -> list:
        found = self.choices if choices is None else choices
        return list(found() if callable(found) else found or ())

    def value_of(self, owner: Any) -> Any:
        """This field's value in `owner` (the part of the config its group is about)."""
        if self.read is not None:
            value = self.read(owner)
        else:
            value = owner[self.attribute] if isinstance(owner, Mapping) else getattr(owner, self.attribute)
        return value if self.part is None else value[self.part]

    def fit(
        self,
        value: Any,
        ids: Ids | None = None,
        *,
        low: float | None = None,
        high: float | None = None,
        choices: Sequence | None = None,
        default: Any = None,
    ) -> Any:
        """`value` as the widget can hold it: of the widget's type, within its bounds, one of its choices."""
        fallback = self.default_for(ids) if default is None else default
        if value is None:
            return fallback if fallback is not None else None
        if self.widget in _NUMERIC:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return fallback
            value = round(value) if self.number is int else float(value)
            low = self.low if low is None else low
            high = self.high if high is None else high
            if low is not None:
                value = max(self.number(low), value)
            if high is not None and high != math.inf:
                value = min(self.number(high), value)
            return value
        if self.widget in _CHOICE:
            options = self.options(choices)
            if value in options:
                return value
            if _is_number(value) and options and all(_is_number(o) for o in options):
                return min(options, key=lambda o: abs(o - value))
            return fallback if fallback in options else (options[0] if options else None)
        if self.widget == MULTI:
            options = self.options(choices)
            return [v for v in value if v in options] if isinstance(value, list | tuple) else []
        if self.widget == TEXT:
            return str(value)
        return bool(value)

    def write(
        self, value: Any, lost: list[str] | None = None, ids: Ids | None = None, *, choices: Sequence | None = None
    ) -> None:
        """Set the widget to `value` from a config; if it cannot show it, add 'path = value' to `lost`."""
        shown = self.fit(value, ids, choices=choices)
        if lost is not None and not _same(shown, value):
            lost.append(f"{self.path_for(ids)} = {value!r}")
        st.session_state[self.key_for(ids)] = shown

    def draw(
        self,
        where: Any = None,
        ids: Ids | None = None,
        *,
        disabled: bool = False,
        low: float | None = None,
        high: float | None = None,
        choices: Sequence | None = None,
        default: Any = None,
        **widget_args: Any,
    ) -> Any:
        """Draw the widget (its value lives in session state under its key); returns the value for the config."""
        state = st.session_state
        key = self.key_for(ids)
        low = self.low if low is None else low
        high = self.high if high is None else high
        options = self.options(choices)
        initial = self.default_for(ids) if default is None else default
        current = state.get(key, initial)
        fitted = self.fit(current, ids, low=low, high=high, choices=options, default=initial)
        if key not in state or not _same(fitted, current):
            state[key] = fitted  # before the widget exists: the widget then starts from it
        where = st if where is None else where
        label = self.label.format(**(ids or {}))
        kwargs = {**self.widget_args, **widget_args, "key": key, "disabled": disabled}
        titles = kwargs.pop("format_func", self.titles) or str
        if self.widget in _NUMERIC:
            bounds = {"min_value": self._number(low), "max_value": self._number(high), "step": self._number(self.step)}
            if self.widget == NUMBER:
                if initial is None:
                    kwargs["value"] = None  # empty allowed: an optional setting
                value = where.number_input(label, **bounds, **kwargs)
            else:
                value = where.slider(label, **bounds, **kwargs)
        elif self.widget == SELECT:
            value = where.selectbox(label, options, format_func=titles, **kwargs)
        elif self.widget == RADIO:
            value = where.radio(label, options, format_func=titles, **kwargs)
        elif self.widget == SEGMENTED:
            value = where.segmented_control(label, options, format_func=titles, required=True, **kwargs)
        elif self.widget == MULTI:
            value = where.multiselect(label, options, format_func=titles, **kwargs)
        elif self.widget == TEXT:
            value = where.text_input(label, **kwargs)
        elif self.widget == TOGGLE:
            value = where.toggle(label, **kwargs)
        else:
            value = where.checkbox(label, **kwargs)
        return self.to_config(value)

    def kept(self, ids: Ids | None = None) -> Any:
        """The value of a field not drawn this run: its last value, kept (Streamlit drops an undrawn widget's)."""
        key = self.key_for(ids)
        if key not in st.session_state:
            return self.to_config(self.fit(self.default_for(ids), ids))
        st.session_state[key] = st.session_state[key]
        return self.to_config(st.session_state[key])

    def to_config(self, value: Any) -> Any:
        if value is None:
            return None
        if self.widget in _NUMERIC:
            return self.number(value)
        if self.widget == MULTI:
            return list(value)
        return value

    def _number(self, value: float | None) -> float | int | None:
        return None if value is None or value == math.inf else self.number(value)


@dataclass(frozen=True)
class Group:
    """The fields of one config dataclass (`owner`; None for an options mapping) at one config path."""

    owner: type | None
    path: str  # template, e.g. "tasks.targets[{i}]"
    fields: tuple[Field, ...]
    covers: tuple[str, ...] = ()  # further attributes of `owner` drawn elsewhere (a sub-group, the file)

    def __getitem__(self, name: str) -> Field:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)

    def write(self, obj: Any, lost: list[str] | None = None, ids: Ids | None = None) -> None:
        """Set every field's widget from `obj`; whatever they cannot show goes into `lost`."""
        for item in self.fields:
            item.write(item.value_of(obj), lost, ids)
        if lost is not None:
            lost += self.unshown(obj, ids)

    def unshown(self, obj: Any, ids: Ids | None = None) -> list[str]:
        """'path = value' for every attribute of `obj` that no field covers and that is not at its default."""
        if self.owner is None:
            return []
        covered = {item.attribute for item in self.fields} | set(self.covers)
        found = []
        for spec in dataclasses.fields(self.owner):
            default = default_of(self.owner, spec.name)
            if spec.name in covered or not spec.init or default is dataclasses.MISSING:
                continue
            try:
                # Compared through the constructor, so a default that is filled in (a label) counts as default.
                same = dataclasses.replace(obj, **{spec.name: default}) == obj
            except MtlvizError:
                same = False
            if not same:
                found.append(f"{self.path.format(**(ids or {}))}.{spec.name} = {getattr(obj, spec.name)!r}")
        return found


def _group(owner: type | None, path: str, *fields: Field, covers: tuple[str, ...] = ()) -> Group:
    """A group whose fields' paths default to `path` + their attribute."""
    filled = []
    for item in fields:
        if not item.path:
            part = "" if item.part is None else f"[{item.part}]"
            item = dataclasses.replace(item, path=f"{path}.{item.attribute}{part}")
        filled.append(item)
    return Group(owner, path, tuple(filled), covers)


class Form:
    """One drawing of a group: the fields drawn this run, the rest kept; `values()` gives the owner's arguments."""

    def __init__(self, group: Group, ids: Ids | None = None, disabled: bool = False):
        self.group, self.ids, self.disabled = group, dict(ids or {}), disabled
        self.drawn: dict[str, Any] = {}

    def draw(self, name: str, where: Any = None, **overrides: Any) -> Any:
        overrides.setdefault("disabled", self.disabled)
        value = self.group[name].draw(where, self.ids, **overrides)
        self.drawn[name] = value
        return value

    def draw_shown(self, where: Any = None) -> None:
        """Draw the conditional fields whose condition holds for what was drawn so far."""
        for item in self.group.fields:
            if item.shown is not None and item.name not in self.drawn and item.shown(self.drawn):
                self.draw(item.name, where)

    def keep(self, name: str) -> Any:
        return self.group[name].kept(self.ids)

    def values(self) -> dict[str, Any]:
        """The owner's constructor arguments: drawn values, and kept values of the fields not drawn."""
        values: dict[str, Any] = {}
        parts: dict[str, dict[int, Any]] = {}
        for item in self.group.fields:
            if not item.arg:
                continue
            value = self.drawn[item.name] if item.name in self.drawn else item.kept(self.ids)
            if item.part is None:
                values[item.attribute] = value
            else:
                parts.setdefault(item.attribute, {})[item.part] = value
        values.update({name: tuple(p[i] for i in sorted(p)) for name, p in parts.items()})
        return values


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return list(a) == list(b)
    return a == b


@functools.cache
def _devices() -> tuple[str, ...]:
    """The devices this machine has: the engine says which it can resolve (torch loads on first use)."""
    from mtlviz.engine import resolve_device

    def here(name: str) -> bool:
        try:
            resolve_device(name)
            return True
        except MtlvizError:
            return False

    return tuple(d for d in DEVICES if here(d))


def _task_name(ids: Ids) -> str:
    """The default tasks' names, continued letter by letter for more tasks."""
    defaults = default_of(SyntheticTasks, "targets")
    i = ids.get("i", 0)
    return defaults[i].name if i < len(defaults) else f"task {chr(ord('A') + i)}"


_SEARCH_HELP = (
    "Values to search, like the learning rates: a list, or a log-range 'from..to xN'. Empty: not searched. "
    "Each combination is its own run (with a Search in Training: its own trial)."
)


def space_text(space: Space | None) -> str | None:
    """A searched knob's space as the sidebar writes it ("0, 0.01, 0.1", "0.0001..0.1 x4", "0.0001..0.1" to
    sample, "0..0.9 lin"); "" when not searched, None when the text cannot say it (listed pairs)."""
    if space is None:
        return ""
    # str(), not :g: the shortest text that reads back as the same number.
    if space.kind == "values" and all(_is_number(v) for v in space.values):
        return ", ".join(str(v) for v in space.values)
    if space.kind in ("range", "distribution"):
        # A distribution samples exactly as the range without a count does: one text for both.
        low, high = (_whole(v) if space.integer else v for v in (space.low, space.high))
        linear = " lin" if space.scale == "linear" else ""
        count = f" x{space.num}" if space.kind == "range" and space.num else ""
        return f"{low}..{high}{linear}{count}"
    return None


def _whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _lrs_text(config: OptimizerConfig) -> str:
    if isinstance(config.lr, tuple):
        return ", ".join(str(lr) for lr in config.lr)
    return space_text(dict(config.search).get("lr")) or ""


def _searched_text(knob: str, config: OptimizerConfig) -> str:
    return space_text(dict(config.search).get(knob)) or ""


def _has_option(option: str, drawn: Mapping[str, Any]) -> bool:
    return drawn.get("name") in OPTIMIZERS and option in OPTIMIZERS[drawn["name"]].options


def unshown_search(config: OptimizerConfig, ids: Ids) -> list[str]:
    """'path = space' for each knob `config` searches that the row's text fields cannot show."""
    shown = {"lr", WARMUP, *(o for o in SEARCHED_OPTIONS if o in OPTIMIZERS[config.name].options)}
    path = OPTIMIZER.path.format(**ids)
    return [
        f"{path}.{knob} = {space.to_json()!r}"
        for knob, space in config.search
        if knob not in shown or space_text(space) is None
    ]


def _sharing_uses(name: str) -> Callable[[Mapping[str, Any]], bool]:
    """Shown when the chosen strategy's spec says it reads ModelConfig field `name`."""
    return lambda drawn: drawn.get("sharing") in SHARING and name in SHARING[drawn["sharing"]].uses


# ------------------------------------------------------------------------ the table

TASK_SOURCE = Field(
    "source", "task_source", "Source", SEGMENTED, None, arg=False, path="tasks.source"
)  # choices, titles and default come from the task-source registry (ui/tasks.py)

SYNTHETIC = _group(
    SyntheticTasks,
    "tasks",
    Field(
        "num_tasks",
        "num_tasks",
        "Number of tasks",
        SLIDER,
        len(default_of(SyntheticTasks, "targets")),
        attr="targets",
        arg=False,
        read=lambda tasks: len(tasks.targets),
        number=int,
        low=LIMITS["tasks"][0] + 1,  # a cosine needs two tasks
        high=LIMITS["tasks"][1],
    ),
    Field(
        "relatedness",
        "relatedness",
        "Task relatedness (cosine between task weight vectors)",
        SLIDER,
        default_of(SyntheticTasks, "relatedness"),
        low=-1.0,
        high=1.0,
        step=0.05,
    ),
    Field(
        "num_samples",
        "num_samples",
        "Samples",
        NUMBER,
        default_of(SyntheticTasks, "num_samples"),
        number=int,
        low=LIMITS["num_samples"][0],
        high=LIMITS["num_samples"][1],
        step=500,
    ),
    Field(
        "input_dim",
        "input_dim",
        "Input dimension",
        NUMBER,
        default_of(SyntheticTasks, "input_dim"),
        number=int,
        low=LIMITS["input_dim"][0],
        high=LIMITS["input_dim"][1],
    ),
    Field(
        "noise_std",
        "noise_std",
        "Label noise std",
        NUMBER,
        default_of(SyntheticTasks, "noise_std"),
        low=0.0,
        high=100.0,
        step=0.01,
        widget_args={"format": "%g"},
    ),
    Field(
        "val_fraction",
        "val_fraction",
        "Validation fraction",
        SLIDER,
        default_of(SyntheticTasks, "val_fraction"),
        low=0.05,
        high=0.9,
        step=0.05,
    ),
    Field(
        "test_fraction",
        "test_fraction",
        "Test fraction",
        SLIDER,
        default_of(SyntheticTasks, "test_fraction"),
        low=0.0,
        high=0.5,
        step=0.05,
        widget_args={"help": TEST_HELP},
    ),
    covers=("targets",),
)

SYNTHETIC_TASK = _group(
    TaskSpec,
    "tasks.targets[{i}]",
    Field("name", "task{i}_name", "Task {number} name", TEXT, _task_name, widget_args={"max_chars": 40}),
    Field("type", "task{i}_type", "Type", SELECT, default_of(TaskSpec, "type"), choices=TASK_TYPES),
    Field(
        "num_classes",
        "task{i}_classes",
        "Classes",
        NUMBER,
        default_of(TaskSpec, "num_classes"),
        number=int,
        low=LIMITS["num_classes"][0],
        high=LIMITS["num_classes"][1],
        widget_args={"help": "Classes are quantile bins of the synthetic label."},
    ),
    Field(
        "loss_scale",
        "task{i}_scale",
        "Loss scale",
        NUMBER,
        default_of(TaskSpec, "loss_scale"),
        low=0.0,
        high=1e6,
        widget_args={
            "format": "%g",
            "help": "Multiplies this task's loss: makes one task dominate the gradient, as with badly scaled units.",
        },
    ),
)

TOY = _group(
    Toy2DTasks,
    "tasks",
    *(
        # The square the papers plot; the config allows starts further out, off the drawn landscape.
        Field(
            coordinate,
            f"toy_{coordinate}",
            coordinate,
            NUMBER,
            default_of(Toy2DTasks, "start")[part],
            attr="start",
            part=part,
            low=X_RANGE[0],
            high=X_RANGE[1],
            step=0.5,
        )
        for part, coordinate in enumerate(("x1", "x2"))
    ),
)

TABLE = _group(
    TableTasks,
    "tasks",
    Field(
        "dataset",
        "dataset",
        "Dataset",
        SELECT,
        default_of(TableTasks, "dataset"),
        arg=False,
        choices=tuple(BUNDLED),
        titles=lambda name: BUNDLED[name].title,
    ),
    Field(
        "targets",
        "targets_{digest}",
        "Target columns (each becomes a task)",
        MULTI,
        list(default_of(TableTasks, "targets")),
        arg=False,
        read=lambda tasks: list(tasks.task_names),
        widget_args={"max_selections": LIMITS["tasks"][1]},
    ),
    Field(
        "features",
        "features_{digest}",
        "Feature columns (inputs)",
        MULTI,
        list(default_of(TableTasks, "features")),
        read=lambda tasks: list(tasks.features),
        widget_args={"help": "Empty: every column that is not a target."},
    ),
    Field(
        "missing",
        "missing",
        "Rows with missing values",
        RADIO,
        default_of(TableTasks, "missing"),
        choices=MISSING_POLICIES,
        titles={"drop": "Drop them", "impute": "Impute features"}.get,
        widget_args={
            "horizontal": True,
            "help": "Impute: numeric features get the training median, categorical ones a '(missing)' category. "
            "Rows without a target value are always dropped.",
        },
    ),
    Field(
        "val_fraction",
        "table_val_fraction",
        "Validation fraction",
        SLIDER,
        default_of(TableTasks, "val_fraction"),
        low=0.05,
        high=0.9,
        step=0.05,
    ),
    Field(
        "test_fraction",
        "table_test_fraction",
        "Test fraction",
        SLIDER,
        default_of(TableTasks, "test_fraction"),
        low=0.0,
        high=0.5,
        step=0.05,
        widget_args={"help": TEST_HELP},
    ),
    covers=("path",),  # the uploaded file's name: the file uploader, not a setting
)

TABLE_TASK = _group(
    TaskSpec,
    "tasks.targets[{i}]",
    Field(
        "type",
        "type_{digest}_{column}",
        "{column}",
        SELECT,
        TABLE_TASK_TYPES[0],  # a table's target without a type is inferred ("auto"), as the config reads it
        choices=TABLE_TASK_TYPES,
        widget_args={
            "help": "auto: text, true/false or few distinct integers are classes; other numbers are regression."
        },
    ),
    covers=("name",),  # the column, chosen in the targets field
)

MODEL = _group(
    ModelConfig,
    "model",
    Field(
        "sharing",
        "sharing",
        "Sharing strategy",
        SELECT,
        default_of(ModelConfig, "sharing"),
        choices=tuple(SHARING),
        titles=lambda name: SHARING[name].title,
    ),
    Field(
        "depth",
        "depth",
        "Hidden layers",
        NUMBER,
        default_of(ModelConfig, "depth"),
        number=int,
        low=LIMITS["depth"][0],
        high=LIMITS["depth"][1],
        widget_args={"help": "0 gives a linear model."},
    ),
    Field("hidden", "hidden", "Width", SELECT, default_of(ModelConfig, "hidden"), choices=HIDDEN_SIZES),
    Field("activation", "activation", "Activation", SELECT, default_of(ModelConfig, "activation"), choices=ACTIVATIONS),
    Field(
        "coupling",
        "coupling",
        "Coupling strength λ",
        NUMBER,
        default_of(ModelConfig, "coupling"),
        low=0.0,
        high=1e4,
        shown=_sharing_uses("coupling"),
        widget_args={"format": "%g", "help": "Weight of the L2 penalty between the task networks."},
    ),
    Field(
        "experts",
        "experts",
        "Experts",
        NUMBER,
        default_of(ModelConfig, "experts"),
        number=int,
        low=1,
        high=16,
        shown=_sharing_uses("experts"),
        widget_args={"help": "Expert networks; each task has its own gate."},
    ),
)

OPTIMIZER = _group(
    OptimizerConfig,
    "optimizers[{n}]",
    Field(
        "name",
        "opt{i}_name",
        "Optimizer",
        SELECT,
        default_of(ExperimentConfig, "optimizers")[0].name,
        choices=tuple(OPTIMIZERS),
        titles=lambda name: OPTIMIZERS[name].title,
    ),
    Field("label", "opt{i}_label", "Label (legend)", TEXT, "", widget_args={"max_chars": 40}),
    Field(
        "sweep",
        "opt{i}_sweep",
        "Sweep learning rates",
        TOGGLE,
        False,
        attr="lr",
        arg=False,
        read=lambda config: isinstance(config.lr, tuple) or "lr" in dict(config.search),
        widget_args={"help": "Train this configuration at several learning rates side by side, one run each."},
    ),
    Field(
        "lr",
        "opt{i}_lr",
        "Learning rate",
        NUMBER,
        lambda ids: OPTIMIZERS[ids["name"]].default_lr,
        arg=False,
        read=lambda config: config.lrs[0],
        low=0.0,
        high=1e4,
        widget_args={"format": "%g"},
    ),
    Field(
        "lrs",
        "opt{i}_lrs",
        "Learning rates",
        TEXT,
        "",
        attr="lr",
        arg=False,
        read=lambda config: _lrs_text(config),
        widget_args={
            "placeholder": "1e-4, 1e-3, 1e-2   or   1e-4..1e-1 x4",
            "help": (
                "A list, a log-range 'from..to xN' (N rates evenly spaced on a log scale), or 'from..to' "
                "for a Sobol search to sample from."
            ),
        },
    ),
    # The "Tuning" part of a row: its learning-rate schedule, gradient clipping and searched values.
    Field(
        "schedule",
        "opt{i}_schedule",
        "Learning-rate schedule",
        SELECT,
        default_of(Schedule, "name"),
        arg=False,
        read=lambda config: (config.schedule or Schedule()).name,
        path="optimizers[{n}].schedule.name",
        choices=SCHEDULES,
        titles={"constant": "Constant", "cosine": "Cosine decay", "linear": "Linear decay", "step": "Step decay"}.get,
        widget_args={"help": "After the warmup the lr stays, decays to 0 by the last step, or drops in steps."},
    ),
    Field(
        "warmup_steps",
        "opt{i}_warmup",
        "Warmup steps",
        NUMBER,
        default_of(Schedule, "warmup_steps"),
        attr="schedule",
        arg=False,
        read=lambda config: (config.schedule or Schedule()).warmup_steps,
        path="optimizers[{n}].schedule.warmup_steps",
        number=int,
        low=0,
        high=LIMITS["steps"][1],
        step=10,
        widget_args={"help": "The lr rises linearly to its value over these first steps."},
    ),
    Field(
        "step_size",
        "opt{i}_step_size",
        "Step size",
        NUMBER,
        default_of(Schedule, "step_size"),
        attr="schedule",
        arg=False,
        read=lambda config: (config.schedule or Schedule()).step_size,
        path="optimizers[{n}].schedule.step_size",
        number=int,
        low=1,
        high=LIMITS["steps"][1],
        step=10,
        shown=lambda drawn: drawn.get("schedule") == "step",
        widget_args={"help": "Multiply the lr by gamma every this many steps after the warmup."},
    ),
    Field(
        "gamma",
        "opt{i}_gamma",
        "Gamma",
        NUMBER,
        default_of(Schedule, "gamma"),
        attr="schedule",
        arg=False,
        read=lambda config: (config.schedule or Schedule()).gamma,
        path="optimizers[{n}].schedule.gamma",
        low=0.0,  # the config refuses 0 itself, and says so
        high=1.0,
        step=0.05,
        shown=lambda drawn: drawn.get("schedule") == "step",
        widget_args={"format": "%g"},
    ),
    Field(
        "clip_norm",
        "opt{i}_clip",
        "Clip norm",
        NUMBER,
        None,  # off
        arg=False,
        low=0.0,  # the config refuses 0 itself, and says so
        high=1e6,
        widget_args={
            "format": "%g",
            "placeholder": "off",
            "help": "Scale each step's gradient down to this global norm when it is larger. Empty: no clipping.",
        },
    ),
    *(
        Field(
            f"{knob}_values",
            f"opt{{i}}_{knob}_values",
            f"Search {knob.replace('_', ' ')}",
            TEXT,
            "",
            attr="search",
            arg=False,
            read=functools.partial(_searched_text, knob),
            path=f"optimizers[{{n}}].{knob}",
            shown=functools.partial(_has_option, knob),
            widget_args={"placeholder": "0, 0.01, 0.1", "help": _SEARCH_HELP},
        )
        for knob in SEARCHED_OPTIONS
    ),
    Field(
        "warmup_values",
        "opt{i}_warmup_values",
        "Search warmup steps",
        TEXT,
        "",
        attr="search",
        arg=False,
        read=functools.partial(_searched_text, WARMUP),
        path="optimizers[{n}].schedule.warmup_steps",
        widget_args={"placeholder": "0, 50, 200", "help": _SEARCH_HELP},
    ),
    covers=("options",),  # OPTIMIZER_OPTIONS
)

TRAIN = _group(
    TrainConfig,
    "train",
    Field(
        "steps",
        "steps",
        "Steps",
        NUMBER,
        default_of(TrainConfig, "steps"),
        number=int,
        low=LIMITS["steps"][0],
        high=LIMITS["steps"][1],
        step=100,
    ),
    Field("batch_size", "batch_size", "Batch size", SELECT, default_of(TrainConfig, "batch_size"), choices=BATCH_SIZES),
    Field(
        "eval_every",
        "eval_every",
        "Validate every",
        NUMBER,
        default_of(TrainConfig, "eval_every"),
        number=int,
        low=1,
        high=LIMITS["steps"][1],
        widget_args={"help": "Steps between validation passes."},
    ),
    Field("seed", "seed", "Seed", NUMBER, default_of(TrainConfig, "seed"), number=int, low=0, high=2**31 - 1),
    Field(
        "seeds",
        "seeds",
        "Seeds",
        NUMBER,
        default_of(TrainConfig, "seeds"),
        number=int,
        low=LIMITS["seeds"][0],
        high=LIMITS["seeds"][1],
        widget_args={
            "help": "Train every configuration with this many seeds (seed, seed + 1, ...): each its own data split, "
            "initial weights and batch order. Charts show the mean and a band; the summary mean ± std."
        },
    ),
    Field(
        "device",
        "device",
        "Device",
        SELECT,
        default_of(TrainConfig, "device"),
        choices=_devices,
        widget_args={"help": "auto uses the GPU when there is one."},
    ),
)

# ExperimentConfig.search; None (no search) is the menu's first entry.
SEARCH = _group(
    SearchConfig,
    "search",
    Field(
        "method",
        "search_method",
        "Search",
        SELECT,
        NO_SEARCH,
        arg=False,
        read=lambda search: search.method if search is not None else NO_SEARCH,
        choices=(NO_SEARCH, *SEARCH_METHODS),
        titles={NO_SEARCH: "None", "grid": "Grid (every combination)", "sobol": "Sobol (a sampled budget)"}.get,
        widget_args={
            "help": "With a search, each configuration's trials (its searched values) are compared on validation, "
            "the best one is chosen, and only that one is reported on the test split. None: every value is "
            "simply its own run."
        },
    ),
    Field(
        "trials",
        "search_trials",
        "Trials per configuration",
        NUMBER,
        SOBOL_TRIALS,
        read=lambda search: search.trials if search is not None and search.trials else SOBOL_TRIALS,
        number=int,
        low=LIMITS["trials"][0],
        high=LIMITS["trials"][1],
        shown=lambda drawn: drawn.get("method") == "sobol",
        widget_args={"help": "Quasi-random points drawn from each configuration's searched values: equal budgets."},
    ),
)

METHODS_FIELD = Field(
    "methods",
    "methods",
    "Methods",
    MULTI,
    [m.name for m in default_of(ExperimentConfig, "methods")],
    arg=False,
    read=lambda config: [m.name for m in config.methods],
    path="methods",
    choices=tuple(METHODS),
    titles=lambda name: METHODS[name].title,
    widget_args={
        "max_selections": LIMITS["methods"][1],
        "help": "Each optimizer configuration trains once per method, side by side: weightings set the weight of "
        "each task's loss, combinations (PCGrad, MGDA, CAGrad) rebuild the update from the tasks' gradients.",
    },
)
# A method's options are its own group (METHOD_OPTIONS); its label has no widget.
METHOD = _group(MethodConfig, "methods[{n}]", covers=("name", "options"))

VAL_TARGET = Field(
    "val_target",
    "val_target_{i}",
    "Target {number}",
    NUMBER,
    None,  # no target
    arg=False,
    path="val_targets.{task}",
    low=-1e30,  # the config's bounds: toy2d's losses go below zero
    high=1e30,
    widget_args={"format": "%g", "placeholder": "none", "label_visibility": "collapsed"},
)


def option_group(key: str, path: str, options: Mapping[str, OptionSpec], label: str = "{option}") -> Group:
    """The fields of an optimizer's or a method's options, from their specs (defaults, bounds, help)."""
    fields = []
    for option, spec in options.items():
        title = label.format(option=option.replace("_", " "))
        if spec.kind == "betas":
            high = spec.high - _BELOW_OPEN  # each beta is below 1
            fields += [
                Field(
                    beta,
                    f"{key}_{beta}",
                    beta,
                    NUMBER,
                    float(spec.default[part]),
                    attr=option,
                    part=part,
                    low=spec.low,
                    high=high,
                    step=0.001,
                    widget_args={"format": "%.4f"},
                )
                for part, beta in enumerate(("beta1", "beta2"))
            ]
        elif spec.kind == "bool":
            fields.append(Field(option, f"{key}_{option}", title, CHECK, spec.default, widget_args={"help": spec.help}))
        else:
            high = spec.high if spec.high_inclusive else spec.high - _BELOW_OPEN
            fields.append(
                Field(
                    option,
                    f"{key}_{option}",
                    title,
                    NUMBER,
                    float(spec.default),
                    low=spec.low,
                    high=high,
                    widget_args={"format": "%g", "help": spec.help},
                )
            )
    return _group(None, path, *fields)


# Per optimizer: "opt{uid}_{name}_{option}"; per method: "method_{name}_{option}".
OPTIMIZER_OPTIONS = {
    name: option_group(f"opt{{i}}_{name}", "optimizers[{n}]", spec.options) for name, spec in OPTIMIZERS.items()
}
METHOD_OPTIONS = {
    name: option_group(f"method_{name}", "methods[{n}]", spec.options, f"{spec.title}: {{option}}")
    for name, spec in METHODS.items()
}


def table() -> list[Field]:
    """Every field of the sidebar."""
    groups = [SYNTHETIC, SYNTHETIC_TASK, TOY, TABLE, TABLE_TASK, MODEL, OPTIMIZER, TRAIN, SEARCH]
    groups += [*OPTIMIZER_OPTIONS.values(), *METHOD_OPTIONS.values()]
    return [TASK_SOURCE, METHODS_FIELD, VAL_TARGET] + [item for group in groups for item in group.fields]


def key_pattern(template: str) -> str:
    """A regular expression for the keys a key template makes ("task{i}_name" -> r"task.+_name")."""
    pattern = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        pattern += re.escape(literal) + (".+" if name is not None else "")
    return pattern
