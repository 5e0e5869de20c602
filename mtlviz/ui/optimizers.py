"""Sidebar editor for the list of optimizer configurations (add, remove, edit).

Each configuration has a stable uid; its widgets are keyed by that uid (and the
optimizer name, for options), so removing one row never shifts another's values.
The widgets are the OPTIMIZER and OPTIMIZER_OPTIONS fields (ui/fields.py): their
defaults are the optimizer specs' and ExperimentConfig's. A row's learning-rate
schedule, clipping and searched values sit in its collapsed "Tuning" section.
"""

from __future__ import annotations

import re

import streamlit as st

from mtlviz.config import LIMITS, ExperimentConfig, OptimizerConfig, Schedule
from mtlviz.errors import ConfigError
from mtlviz.optim import OPTIMIZERS
from mtlviz.ui.fields import (
    CHECK,
    OPTIMIZER,
    OPTIMIZER_OPTIONS,
    SEARCHED_OPTIONS,
    Form,
    default_of,
    unshown_search,
)
from mtlviz.ui.state import NEXT_UID, OPTIMIZER_UIDS
from mtlviz.ui.text import escape_markdown

# Session state per row and optimizer: the options its config named, kept even at their default values,
# so a restored config comes back equal (OptimizerConfig keeps the options it was given).
EXPLICIT = "opt{i}_{name}:explicit"
# Session state per row: the label the app wrote (never typed). While the label is still that text,
# it follows the optimizer (and the lr, where it names it); a typed label stays as typed.
AUTO_LABEL = "opt{i}:auto_label"


def _ids(uid: int, index: int, name: str) -> dict:
    return {"i": uid, "n": index, "name": name}


def _set_row(uid: int, index: int, config: OptimizerConfig, lost: list[str] | None = None) -> None:
    ids = _ids(uid, index, config.name)
    OPTIMIZER.write(config, lost, ids)
    OPTIMIZER_OPTIONS[config.name].write(OPTIMIZERS[config.name].resolved(config.options), lost, ids)
    if lost is not None:
        lost += unshown_search(config, ids)
    # Searched options too, in the config's order: the search's order names the trials.
    searched = [knob for knob, _ in config.search if knob in OPTIMIZERS[config.name].options]
    st.session_state[EXPLICIT.format(**ids)] = (*config.options, *searched)
    # A label of the automatic kind ("Adam", "Adam 2", "Adam lr=0.001") was not typed: it may follow.
    automatic = _label_form(config.label, config.name, config.lrs[0]) is not None and not config.is_sweep
    st.session_state[AUTO_LABEL.format(i=uid)] = config.label if automatic else None


def _label_form(label: str, name: str, lr: float) -> str | None:
    """Which automatic form `label` has for optimizer `name` at `lr`: "title", "number" ("Adam 2"),
    "lr" ("Adam lr=0.001", OptimizerConfig's default label); None when it has none of them."""
    title = OPTIMIZERS[name].title
    if label == title:
        return "title"
    if re.fullmatch(rf"{re.escape(title)} \d+", label):
        return "number"
    if label == f"{title} lr={lr:g}":
        return "lr"
    return None


def _automatic_label(form: str, name: str, lr: float, taken: set[str]) -> str:
    """The label of automatic `form` for optimizer `name`, not one of `taken` (another row's)."""
    title = OPTIMIZERS[name].title
    if form == "lr":
        return f"{title} lr={lr:g}"
    if form == "title" and title not in taken:
        return title
    return next(f"{title} {i}" for i in range(2, 100) if f"{title} {i}" not in taken)


def _follow(uid: int, old_name: str, old_lr: float) -> None:
    """After the row's optimizer or lr changed: an automatic label follows them (a typed one stays)."""
    state = st.session_state
    label_key = OPTIMIZER["label"].key_for({"i": uid})
    label = state.get(label_key, "")
    if not label or label != state.get(AUTO_LABEL.format(i=uid)):
        return
    form = _label_form(label, old_name, old_lr)
    if form is None:
        return
    name = state[OPTIMIZER["name"].key_for({"i": uid})]
    lr = state.get(OPTIMIZER["lr"].key_for({"i": uid}), OPTIMIZERS[name].default_lr)
    taken = {state.get(OPTIMIZER["label"].key_for({"i": u}), "") for u in state[OPTIMIZER_UIDS] if u != uid}
    state[label_key] = state[AUTO_LABEL.format(i=uid)] = _automatic_label(form, name, lr, taken)


def named_optimizer(label: str, name: str) -> str | None:
    """The title of another optimizer that `label` names (as a word) while not naming `name`'s; else None."""

    def names(title: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(title)}(?!\w)", label, re.IGNORECASE) is not None

    if names(OPTIMIZERS[name].title):
        return None
    return next((spec.title for other, spec in OPTIMIZERS.items() if other != name and names(spec.title)), None)


def _new_uid() -> int:
    uid = st.session_state[NEXT_UID]
    st.session_state[NEXT_UID] = uid + 1
    return uid


def init_optimizer_rows() -> None:
    if OPTIMIZER_UIDS in st.session_state:
        return
    st.session_state[NEXT_UID] = 0
    set_optimizer_rows(default_of(ExperimentConfig, "optimizers"))


def set_optimizer_rows(configs: tuple[OptimizerConfig, ...], lost: list[str] | None = None) -> None:
    """Replace the editor's rows (a preset, a shared link, a saved run); what they cannot show goes into `lost`."""
    st.session_state.setdefault(NEXT_UID, 0)
    uids = []
    for index, config in enumerate(configs):
        uid = _new_uid()
        _set_row(uid, index, config, lost)
        uids.append(uid)
    st.session_state[OPTIMIZER_UIDS] = uids


def _add_row() -> None:
    uids = st.session_state[OPTIMIZER_UIDS]
    if len(uids) >= LIMITS["optimizers"][1]:
        return
    labels = {st.session_state.get(OPTIMIZER["label"].key_for({"i": u}), "") for u in uids}
    spec = OPTIMIZERS[OPTIMIZER["name"].default]
    label = _automatic_label("number", spec.name, spec.default_lr, labels)
    uid = _new_uid()
    _set_row(uid, len(uids), OptimizerConfig(spec.name, spec.default_lr, label))
    uids.append(uid)


def _remove_row(uid: int) -> None:
    uids = st.session_state[OPTIMIZER_UIDS]
    if len(uids) > 1 and uid in uids:
        uids.remove(uid)


def _on_name_change(uid: int, old_name: str) -> None:
    name = st.session_state[OPTIMIZER["name"].key_for({"i": uid})]
    lr_key = OPTIMIZER["lr"].key_for({"i": uid})
    old_lr = st.session_state.get(lr_key, OPTIMIZERS[old_name].default_lr)
    st.session_state[lr_key] = OPTIMIZERS[name].default_lr
    _follow(uid, old_name, old_lr)


def _on_lr_change(uid: int, name: str, old_lr: float) -> None:
    _follow(uid, name, old_lr)


def optimizer_rows_ui(disabled: bool = False) -> tuple[list[OptimizerConfig], list[str]]:
    """Draw the editor; returns the valid configurations and the error messages."""
    init_optimizer_rows()
    uids = st.session_state[OPTIMIZER_UIDS]
    configs, errors = [], []
    for index, uid in enumerate(list(uids)):
        name = st.session_state.get(OPTIMIZER["name"].key_for({"i": uid}), OPTIMIZER["name"].default)
        form = Form(OPTIMIZER, _ids(uid, index, name), disabled)
        label = st.session_state.get(OPTIMIZER["label"].key_for(form.ids), "")
        # Keyed by uid: renaming the configuration changes the title, not the expander, so it stays open.
        with st.expander(
            f"{index + 1}. {escape_markdown(label) or '(no label)'}", expanded=False, key=f"opt{uid}_open"
        ):
            name_col, remove_col = st.columns([5, 1], vertical_alignment="bottom")
            name = form.draw("name", name_col, on_change=_on_name_change, args=(uid, name))
            form.ids["name"] = name
            remove_col.button(
                "",
                key=f"opt{uid}_remove",
                icon=":material/close:",
                help="Remove this configuration",
                on_click=_remove_row,
                args=(uid,),
                disabled=disabled or len(uids) <= 1,
            )
            label = form.draw("label")
            other = named_optimizer(label, name)
            if other:
                st.warning(
                    f"The label {escape_markdown(repr(label))} names {other}, "
                    f"but this configuration trains {OPTIMIZERS[name].title}. "
                    "Rename it, or clear it for the automatic label.",
                    icon=":material/warning:",
                )
            path = f"optimizers[{index}]"
            problems: list[str] = []
            if form.draw("sweep"):
                lr = _parsed(form, "lrs", form.draw("lrs"), f"{path}.lr", problems, "learning rates")
                form.keep("lr")
            else:
                old_lr = st.session_state.get(OPTIMIZER["lr"].key_for(form.ids), OPTIMIZERS[name].default_lr)
                form.keep("lrs")
                lr = form.draw("lr", on_change=_on_lr_change, args=(uid, name, old_lr))
            values = _options_ui(form.ids, disabled)
            with st.expander("Tuning: schedule, clipping, searched values"):
                schedule, clip_norm, searched = _tuning_ui(form, path, problems)
        errors += problems
        if problems:
            continue
        try:
            options = _chosen_options(form.ids, values, searched)
            configs.append(OptimizerConfig(name, lr, label, options, schedule, clip_norm, path=path))
        except ConfigError as exc:
            errors.append(str(exc))
    st.button(
        "Add configuration",
        key="add_optimizer",
        on_click=_add_row,
        icon=":material/add:",
        disabled=disabled or len(uids) >= LIMITS["optimizers"][1],
        help=f"Up to {LIMITS['optimizers'][1]} configurations train side by side.",
    )
    return configs, errors


def parse_learning_rates(text: str, path: str = "lr") -> tuple[float, ...] | dict:
    """'1e-4, 1e-3' -> a list; '1e-4..1e-1 x4' -> a log-range (validated by OptimizerConfig)."""
    return parse_values(text, path, "learning rates")


RANGE_TEXT = re.compile(r"([^.\s]+(?:\.\d+)?(?:e-?\d+)?)\s*\.\.\s*([^\s×x]+?)(\s+lin(?:ear)?)?(?:\s*[x×]\s*(\d+))?")


def parse_values(text: str, path: str, what: str = "values", example: str = "1e-3") -> tuple[float, ...] | dict:
    """A searched knob's text (validated by the config):
    '0, 0.01' -> a list; '1e-4..1e-1 x4' -> 4 points of a log range; '1e-4..1e-1' -> a log range a
    sampled search draws from; with ' lin' after the range ('0..0.9 lin x4', '0..0.9 lin') a linear one."""
    text = text.strip()
    if ".." in text:
        match = RANGE_TEXT.fullmatch(text)
        if not match:
            raise ConfigError(
                path, f"expected a range like '1e-4..1e-1 x4', '1e-4..1e-1' or '0..0.9 lin x4', found {text!r}"
            )
        start, stop, linear, num = match.groups()
        space = {"from": _number(path, start, example), "to": _number(path, stop, example)}
        if num:
            space["num"] = int(num)
        if linear or not num:  # "from..to xN" alone stays the log-range a learning-rate sweep always was
            space["scale"] = "linear" if linear else "log"
        return space
    parts = [p for p in re.split(r"[,;\s]+", text) if p]
    if len(parts) < 2:
        raise ConfigError(path, f"expected at least two {what} separated by commas, found {text!r}")
    return tuple(_number(path, p, example) for p in parts)


def _number(path: str, text: str, example: str = "1e-3") -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(path, f"expected a number such as {example}, found {text!r}") from None


def _parsed(form: Form, name: str, text: str, path: str, problems: list[str], what: str, example: str = "1e-3"):
    """Text field `name`'s values; a problem is shown under the field (and added to `problems`)."""
    try:
        return parse_values(text, path, what, example)
    except ConfigError as exc:
        # The field's own label, the text and what was expected, right where it was typed.
        st.error(f"{form.group[name].label}: {escape_markdown(str(exc).removeprefix(f'{exc.field}: '))}")
        problems.append(str(exc))
        return None


def _tuning_ui(form: Form, path: str, problems: list[str]) -> tuple[dict | None, float | None, dict]:
    """The row's schedule (a dict, or None for a constant lr), clip norm and searched option values."""
    state, ids = st.session_state, form.ids
    searching_warmup = bool(state.get(OPTIMIZER["warmup_values"].key_for(ids), "").strip())
    name = form.draw("schedule")
    warmup_col, clip_col = st.columns(2)
    searched_help = {"disabled": True, "help": "Searched: see 'Search warmup steps' below."}
    warmup = form.draw("warmup_steps", warmup_col, **(searched_help if searching_warmup else {}))
    clip_norm = form.draw("clip_norm", clip_col)
    if name == "step":
        size_col, gamma_col = st.columns(2)
        form.draw("step_size", size_col)
        form.draw("gamma", gamma_col)
    else:  # kept for when "step" is chosen again; the config holds the defaults, as its JSON would
        form.keep("step_size")
        form.keep("gamma")
    st.caption("Searched values (empty: not searched)")
    searched: dict = {}
    for option in SEARCHED_OPTIONS:
        name_of = f"{option}_values"
        if not form.group[name_of].shown(form.drawn):  # the row's optimizer has no such option
            form.keep(name_of)
        elif text := form.draw(name_of).strip():
            searched[option] = _parsed(form, name_of, text, f"{path}.{option}", problems, "values", "0.01")
    warmups = None
    if text := form.draw("warmup_values").strip():
        path_of = f"{path}.schedule.warmup_steps"
        warmups = _parsed(form, "warmup_values", text, path_of, problems, "warmup step counts", "50")
    schedule = None
    if name != default_of(Schedule, "name") or warmup or warmups is not None:
        step = name == "step"
        schedule = {
            "name": name,
            "warmup_steps": list(warmups) if isinstance(warmups, tuple) else warmups or warmup,
            "step_size": form.drawn["step_size"] if step else default_of(Schedule, "step_size"),
            "gamma": form.drawn["gamma"] if step else default_of(Schedule, "gamma"),
        }
    return schedule, clip_norm, {k: list(v) if isinstance(v, tuple) else v for k, v in searched.items()}


def _options_ui(ids: dict, disabled: bool) -> dict:
    """The options of the row's optimizer, drawn from its spec: numbers in two columns, then switches."""
    spec = OPTIMIZERS[ids["name"]]
    form = Form(OPTIMIZER_OPTIONS[spec.name], ids, disabled)
    numbers = [f for f in form.group.fields if f.widget != CHECK]
    cols = st.columns(2)
    for slot, item in enumerate(numbers):
        search = OPTIMIZER[f"{item.attribute}_values"] if item.attribute in SEARCHED_OPTIONS else None
        if search is not None and st.session_state.get(search.key_for(ids), "").strip():
            form.draw(item.name, cols[slot % 2], disabled=True, help="Searched: see Tuning below.")
        else:
            form.draw(item.name, cols[slot % 2])
    for item in form.group.fields:
        if item not in numbers:
            form.draw(item.name)
    return form.values()


def _chosen_options(ids: dict, values: dict, searched: dict) -> dict:
    """The config's options: the searched values in place of their option's, and only options that differ
    from PyTorch's defaults, and those the config named (first, in its order: a reopened link encodes to the
    same text)."""
    spec = OPTIMIZERS[ids["name"]]
    values = {**values, **searched}
    explicit = [k for k in st.session_state.get(EXPLICIT.format(**ids), ()) if k in values]
    order = [*explicit, *(k for k in values if k not in explicit)]
    return {k: values[k] for k in order if k in explicit or k in searched or values[k] != spec.options[k].default}
