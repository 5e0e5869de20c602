"""Set the sidebar's widgets from an ExperimentConfig (a shared link, a preset, a saved run).

The sidebar builds a config from widget values; this is its inverse. It runs
before the widgets are drawn (at the top of the page, or in a button's
callback). Settings the sidebar has no widget for are listed, so the caller can
say they were not restored.
"""

from __future__ import annotations

import streamlit as st

from mtlviz.config import ExperimentConfig, ModelConfig, SyntheticTasks, TableTasks, Toy2DTasks, TrainConfig
from mtlviz.ui.optimizers import set_optimizer_rows
from mtlviz.ui.sidebar import BATCH_SIZES, HIDDEN_SIZES

UPLOAD_NEEDED = "restore_upload_needed"  # session state: the file name a restored config expects


def apply_config(config: ExperimentConfig) -> list[str]:
    """Write `config` into the widgets' session state; returns what could not be restored."""
    state = st.session_state
    lost: list[str] = []
    tasks = config.tasks
    state.pop(UPLOAD_NEEDED, None)
    if isinstance(tasks, SyntheticTasks):
        state["task_source"] = "synthetic"
        state["num_tasks"] = len(tasks.targets)
        state["relatedness"] = tasks.relatedness
        for i, spec in enumerate(tasks.targets):
            state[f"task{i}_name"] = spec.name
            state[f"task{i}_type"] = spec.type
            state[f"task{i}_classes"] = spec.num_classes
            state[f"task{i}_scale"] = spec.loss_scale
            if spec.weight != 1.0:
                lost.append(f"{spec.name} weight {spec.weight:g}")
        state["num_samples"] = tasks.num_samples
        state["input_dim"] = tasks.input_dim
        state["noise_std"] = tasks.noise_std
        state["val_fraction"] = tasks.val_fraction
        default = SyntheticTasks()
        lost += [f"tasks.{name}" for name in ("scale", "num_sines") if getattr(tasks, name) != getattr(default, name)]
    elif isinstance(tasks, Toy2DTasks):
        state["task_source"] = "toy2d"
        state["toy_x1"], state["toy_x2"] = tasks.start
    elif isinstance(tasks, TableTasks):
        if tasks.dataset:
            state["task_source"] = "dataset"
            state["dataset"] = tasks.dataset
            digest = f"bundled:{tasks.dataset}"
            names = [t.name for t in tasks.targets]
            state[f"targets_{digest}"] = names
            if tasks.features:
                state[f"features_{digest}"] = list(tasks.features)
            for spec in tasks.targets:
                state[f"type_{digest}_{spec.name}"] = spec.type
        else:
            state["task_source"] = "upload"
            state[UPLOAD_NEEDED] = tasks.path
        state["missing"] = tasks.missing
        state["table_val_fraction"] = tasks.val_fraction
    _model(config.model, lost)
    set_optimizer_rows(
        [{"name": o.name, "label": o.label, "lr": o.lr, "options": dict(o.options)} for o in config.optimizers]
    )
    _train(config.train, lost)
    state["methods"] = [m.name for m in config.methods]
    for m in config.methods:
        for option, value in m.options.items():
            state[f"method_{m.name}_{option}"] = float(value)
        if m.label != m.default_label():
            lost.append(f"method label {m.label!r}")
    names = config.tasks.task_names
    for i, task in enumerate(names):
        state[f"val_target_{i}"] = config.val_targets.get(task)  # None: no target
    return lost


def _model(model: ModelConfig, lost: list[str]) -> None:
    state = st.session_state
    state["sharing"] = model.sharing
    state["depth"] = model.depth
    state["hidden"] = _nearest(model.hidden, HIDDEN_SIZES, "model.hidden", lost)
    state["activation"] = model.activation
    state["coupling"] = model.coupling
    state["experts"] = model.experts


def _train(train: TrainConfig, lost: list[str]) -> None:
    state = st.session_state
    state["steps"] = max(10, train.steps)
    state["batch_size"] = _nearest(train.batch_size, BATCH_SIZES, "train.batch_size", lost)
    state["eval_every"] = min(train.eval_every, 10_000)
    state["seed"] = train.seed
    state["seeds"] = train.seeds
    state["device"] = train.device if train.device != "cuda" else "auto"
    default = TrainConfig()
    for name in ("stats_every", "conflict_every", "divergence_factor"):
        if getattr(train, name) != getattr(default, name):
            lost.append(f"train.{name}")


def _nearest(value: int, choices: list[int], name: str, lost: list[str]) -> int:
    if value in choices:
        return value
    lost.append(f"{name} {value}")
    return min(choices, key=lambda c: abs(c - value))
