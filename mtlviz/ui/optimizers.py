"""Sidebar editor for the list of optimizer configurations (add, remove, edit).

Each configuration has a stable uid; its widgets are keyed by that uid (and the
optimizer name, for options), so removing one row never shifts another's values.
The widgets are the OPTIMIZER and OPTIMIZER_OPTIONS fields (ui/fields.py): their
defaults are the optimizer specs' and ExperimentConfig's.
"""

from __future__ import annotations

import re

import streamlit as st

from mtlviz.config import LIMITS, ExperimentConfig, OptimizerConfig
from mtlviz.errors import ConfigError
from mtlviz.optim import OPTIMIZERS
from mtlviz.ui.fields import CHECK, OPTIMIZER, OPTIMIZER_OPTIONS, Form, default_of
from mtlviz.ui.state import NEXT_UID, OPTIMIZER_UIDS

# Session state per row and optimizer: the options its config named, kept even at their default values,
# so a restored config comes back equal (OptimizerConfig keeps the options it was given).
EXPLICIT = "opt{i}_{name}:explicit"


def _ids(uid: int, index: int, name: str) -> dict:
    return {"i": uid, "n": index, "name": name}


def _set_row(uid: int, index: int, config: OptimizerConfig, lost: list[str] | None = None) -> None:
    ids = _ids(uid, index, config.name)
    OPTIMIZER.write(config, lost, ids)
    OPTIMIZER_OPTIONS[config.name].write(OPTIMIZERS[config.name].resolved(config.options), lost, ids)
    st.session_state[EXPLICIT.format(**ids)] = tuple(config.options)


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
    label = next(f"{spec.title} {i}" for i in range(2, 100) if f"{spec.title} {i}" not in labels)
    uid = _new_uid()
    _set_row(uid, len(uids), OptimizerConfig(spec.name, spec.default_lr, label))
    uids.append(uid)


def _remove_row(uid: int) -> None:
    uids = st.session_state[OPTIMIZER_UIDS]
    if len(uids) > 1 and uid in uids:
        uids.remove(uid)


def _on_name_change(uid: int) -> None:
    name = st.session_state[OPTIMIZER["name"].key_for({"i": uid})]
    st.session_state[OPTIMIZER["lr"].key_for({"i": uid})] = OPTIMIZERS[name].default_lr


def optimizer_rows_ui(disabled: bool = False) -> tuple[list[OptimizerConfig], list[str]]:
    """Draw the editor; returns the valid configurations and the error messages."""
    init_optimizer_rows()
    uids = st.session_state[OPTIMIZER_UIDS]
    configs, errors = [], []
    for index, uid in enumerate(list(uids)):
        name = st.session_state.get(OPTIMIZER["name"].key_for({"i": uid}), OPTIMIZER["name"].default)
        form = Form(OPTIMIZER, _ids(uid, index, name), disabled)
        label = st.session_state.get(OPTIMIZER["label"].key_for(form.ids), "")
        with st.expander(f"{index + 1}. {label or '(no label)'}", expanded=False):
            name_col, remove_col = st.columns([4, 1], vertical_alignment="bottom")
            name = form.draw("name", name_col, on_change=_on_name_change, args=(uid,))
            form.ids["name"] = name
            remove_col.button(
                "✕",
                key=f"opt{uid}_remove",
                help="Remove this configuration",
                on_click=_remove_row,
                args=(uid,),
                disabled=disabled or len(uids) <= 1,
            )
            label = form.draw("label")
            if form.draw("sweep"):
                text, lr = form.draw("lrs"), None
                form.keep("lr")
            else:
                text, lr = form.keep("lrs"), form.draw("lr")
            options = _options_ui(form.ids, disabled)
        path = f"optimizers[{index}]"
        try:
            if lr is None:
                lr = parse_learning_rates(text, f"{path}.lr")
            configs.append(OptimizerConfig(name, lr, label, options, path=path))
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
    text = text.strip()
    if ".." in text:
        match = re.fullmatch(r"([^.\s]+(?:\.\d+)?(?:e-?\d+)?)\s*\.\.\s*(\S+?)\s*[x×]\s*(\d+)", text)
        if not match:
            raise ConfigError(path, f"expected a log-range like '1e-4..1e-1 x4', found {text!r}")
        start, stop, num = match.groups()
        return {"from": _number(path, start), "to": _number(path, stop), "num": int(num)}
    parts = [p for p in re.split(r"[,;\s]+", text) if p]
    if len(parts) < 2:
        raise ConfigError(path, f"expected at least two learning rates separated by commas, found {text!r}")
    return tuple(_number(path, p) for p in parts)


def _number(path: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(path, f"expected a number such as 1e-3, found {text!r}") from None


def _options_ui(ids: dict, disabled: bool) -> dict:
    """The options of the row's optimizer, drawn from its spec: numbers in two columns, then switches."""
    spec = OPTIMIZERS[ids["name"]]
    form = Form(OPTIMIZER_OPTIONS[spec.name], ids, disabled)
    numbers = [f for f in form.group.fields if f.widget != CHECK]
    cols = st.columns(2)
    for slot, item in enumerate(numbers):
        form.draw(item.name, cols[slot % 2])
    for item in form.group.fields:
        if item not in numbers:
            form.draw(item.name)
    explicit = st.session_state.get(EXPLICIT.format(**ids), ())
    values = form.values()
    # Only options that differ from PyTorch's defaults go into the config, and those the config named
    # (first, in its order: a reopened link encodes to the same text).
    order = [*explicit, *(k for k in values if k not in explicit)]
    return {k: values[k] for k in order if k in explicit or values[k] != spec.options[k].default}
