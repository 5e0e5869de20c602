"""Sidebar editor for the list of optimizer configurations (add, remove, edit).

Each configuration has a stable uid; its widgets are keyed by that uid (and the
optimizer name, for options), so removing one row never shifts another's values.
Option widgets are drawn from the optimizer registry's specs.
"""

from __future__ import annotations

import re

import streamlit as st

from mtlviz.config import LIMITS, OptimizerConfig
from mtlviz.errors import ConfigError
from mtlviz.optim import OPTIMIZERS
from mtlviz.ui.state import NEXT_UID, OPTIMIZER_UIDS, init_default

# An instructive comparison out of the box: plain SGD against the two adaptive methods.
DEFAULT_ROWS = [
    {"name": "sgd", "label": "SGD", "lr": 0.05, "options": {}},
    {"name": "adam", "label": "Adam", "lr": 1e-3, "options": {}},
    {"name": "adamw", "label": "AdamW", "lr": 1e-3, "options": {"weight_decay": 0.1}},
]
# Typical starting learning rates, used when a new row picks an optimizer.
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 0.05, "nadam": 2e-3, "radam": 1e-3}


def _key(uid: int, field: str) -> str:
    return f"opt{uid}_{field}"


def _option_key(uid: int, name: str, option: str) -> str:
    return f"opt{uid}_{name}_{option}"


def _set_row(uid: int, row: dict) -> None:
    st.session_state[_key(uid, "name")] = row["name"]
    st.session_state[_key(uid, "label")] = row["label"]
    lrs = row["lr"] if isinstance(row["lr"], tuple | list) else (row["lr"],)
    st.session_state[_key(uid, "lr")] = float(lrs[0])
    st.session_state[_key(uid, "sweep")] = len(lrs) > 1
    st.session_state[_key(uid, "lrs")] = ", ".join(f"{lr:g}" for lr in lrs) if len(lrs) > 1 else ""
    for option, value in row.get("options", {}).items():
        if OPTIMIZERS[row["name"]].options[option].kind == "betas":
            st.session_state[_option_key(uid, row["name"], "beta1")] = float(value[0])
            st.session_state[_option_key(uid, row["name"], "beta2")] = float(value[1])
        else:
            st.session_state[_option_key(uid, row["name"], option)] = value


def _new_uid() -> int:
    uid = st.session_state[NEXT_UID]
    st.session_state[NEXT_UID] = uid + 1
    return uid


def init_optimizer_rows() -> None:
    if OPTIMIZER_UIDS in st.session_state:
        return
    st.session_state[NEXT_UID] = 0
    set_optimizer_rows(DEFAULT_ROWS)


def set_optimizer_rows(rows: list[dict]) -> None:
    """Replace the editor's rows (a preset, a shared link): dicts of name, label, lr, options."""
    st.session_state.setdefault(NEXT_UID, 0)
    uids = []
    for row in rows:
        uid = _new_uid()
        _set_row(uid, row)
        uids.append(uid)
    st.session_state[OPTIMIZER_UIDS] = uids


def _add_row() -> None:
    uids = st.session_state[OPTIMIZER_UIDS]
    if len(uids) >= LIMITS["optimizers"][1]:
        return
    labels = {st.session_state.get(_key(u, "label"), "") for u in uids}
    name = "sgd"
    title = OPTIMIZERS[name].title
    label = next(f"{title} {i}" for i in range(2, 100) if f"{title} {i}" not in labels)
    uid = _new_uid()
    _set_row(uid, {"name": name, "label": label, "lr": DEFAULT_LR[name], "options": {"momentum": 0.9}})
    uids.append(uid)


def _remove_row(uid: int) -> None:
    uids = st.session_state[OPTIMIZER_UIDS]
    if len(uids) > 1 and uid in uids:
        uids.remove(uid)


def _on_name_change(uid: int) -> None:
    name = st.session_state[_key(uid, "name")]
    st.session_state[_key(uid, "lr")] = DEFAULT_LR[name]


def optimizer_rows_ui(disabled: bool = False) -> tuple[list[OptimizerConfig], list[str]]:
    """Draw the editor; returns the valid configurations and the error messages."""
    init_optimizer_rows()
    uids = st.session_state[OPTIMIZER_UIDS]
    configs, errors = [], []
    for index, uid in enumerate(list(uids)):
        label = st.session_state.get(_key(uid, "label"), "")
        with st.expander(f"{index + 1}. {label or '(no label)'}", expanded=False):
            name_col, remove_col = st.columns([4, 1], vertical_alignment="bottom")
            name = name_col.selectbox(
                "Optimizer",
                list(OPTIMIZERS),
                format_func=lambda n: OPTIMIZERS[n].title,
                key=_key(uid, "name"),
                on_change=_on_name_change,
                args=(uid,),
                disabled=disabled,
            )
            remove_col.button(
                "✕",
                key=_key(uid, "remove"),
                help="Remove this configuration",
                on_click=_remove_row,
                args=(uid,),
                disabled=disabled or len(uids) <= 1,
            )
            st.text_input("Label (legend)", key=_key(uid, "label"), max_chars=40, disabled=disabled)
            init_default(_key(uid, "sweep"), False)
            sweep = st.toggle(
                "Sweep learning rates",
                key=_key(uid, "sweep"),
                disabled=disabled,
                help="Train this configuration at several learning rates side by side, one run each.",
            )
            if sweep:
                init_default(_key(uid, "lrs"), "")
                text = st.text_input(
                    "Learning rates",
                    key=_key(uid, "lrs"),
                    placeholder="1e-4, 1e-3, 1e-2   or   1e-4..1e-1 x4",
                    disabled=disabled,
                    help="A list, or a log-range 'from..to xN' (N rates evenly spaced on a log scale).",
                )
                lr = None
            else:
                lr = st.number_input(
                    "Learning rate", min_value=1e-7, max_value=1e4, format="%g", key=_key(uid, "lr"), disabled=disabled
                )
            options = _options_ui(uid, name, disabled)
        path = f"optimizers[{index}]"
        try:
            if lr is None:
                lr = parse_learning_rates(text, f"{path}.lr")
            configs.append(OptimizerConfig(name, lr, st.session_state[_key(uid, "label")], options, path=path))
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


def _options_ui(uid: int, name: str, disabled: bool) -> dict:
    spec = OPTIMIZERS[name]
    values: dict = {}
    cols = st.columns(2)
    slot = 0
    for option, opt in spec.options.items():
        if opt.kind == "bool":
            continue
        if opt.kind == "betas":
            for i, beta in enumerate(("beta1", "beta2")):
                key = _option_key(uid, name, beta)
                init_default(key, float(opt.default[i]))
                with cols[slot % 2]:
                    st.number_input(beta, 0.0, 0.9999, step=0.001, format="%.4f", key=key, disabled=disabled)
                slot += 1
            values["betas"] = (
                st.session_state[_option_key(uid, name, "beta1")],
                st.session_state[_option_key(uid, name, "beta2")],
            )
            continue
        key = _option_key(uid, name, option)
        init_default(key, float(opt.default))
        high = opt.high if opt.high != float("inf") else None
        if high is not None and not opt.high_inclusive:
            high = high - 1e-4
        with cols[slot % 2]:
            values[option] = st.number_input(
                option.replace("_", " "), opt.low, high, format="%g", key=key, help=opt.help, disabled=disabled
            )
        slot += 1
    for option, opt in spec.options.items():
        if opt.kind == "bool":
            key = _option_key(uid, name, option)
            init_default(key, bool(opt.default))
            values[option] = st.checkbox(option.replace("_", " "), key=key, help=opt.help, disabled=disabled)
    # Only options that differ from PyTorch's defaults go into the config.
    return {k: v for k, v in values.items() if _differs(v, spec.options[k].default)}


def _differs(value: object, default: object) -> bool:
    if isinstance(default, tuple):
        return tuple(value) != default
    return value != default
