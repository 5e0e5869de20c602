"""The sidebar: tasks, sharing strategy, optimizer configurations, training settings.

`experiment_sidebar()` returns either a valid ExperimentConfig or the list of
problems that prevent one, so the page can disable Start and say why.
"""

from __future__ import annotations

import math
import re

import streamlit as st
import torch

from mtlviz.config import LIMITS, ExperimentConfig, ModelConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.errors import ConfigError
from mtlviz.models import SHARING_DESCRIPTIONS
from mtlviz.ui.optimizers import optimizer_rows_ui
from mtlviz.ui.state import init_default

SHARING_TITLES = {
    "independent": "Independent",
    "hard": "Hard sharing",
    "soft": "Soft sharing (mean)",
    "soft_chain": "Soft sharing (chain)",
}
HIDDEN_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024]
BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]


def experiment_sidebar(disabled: bool = False) -> tuple[ExperimentConfig | None, list[str]]:
    errors: list[str] = []
    with st.sidebar:
        st.header("Tasks")
        tasks = _guard(errors, _tasks_ui, disabled)
        st.header("Sharing")
        model = _guard(errors, _model_ui, disabled)
        st.header("Optimizers")
        optimizers, opt_errors = optimizer_rows_ui(disabled)
        errors += [as_shown(e) for e in opt_errors]
        st.header("Training")
        train = _guard(errors, _train_ui, disabled)
    if errors or tasks is None or model is None or train is None:
        return None, errors
    try:
        return ExperimentConfig(tasks=tasks, model=model, optimizers=tuple(optimizers), train=train), []
    except ConfigError as exc:
        return None, [as_shown(str(exc))]


def as_shown(message: str) -> str:
    """Config paths as the sidebar numbers things: optimizers[1].label -> configuration 2 label."""
    message = re.sub(r"optimizers\[(\d+)\]\.?", lambda m: f"configuration {int(m[1]) + 1} ", message)
    return re.sub(r"tasks\.targets\[(\d+)\]\.?", lambda m: f"task {int(m[1]) + 1} ", message)


def _guard(errors: list[str], build, disabled: bool):
    try:
        return build(disabled)
    except ConfigError as exc:
        errors.append(as_shown(str(exc)))
        return None


def _tasks_ui(disabled: bool) -> SyntheticTasks:
    num_tasks = st.slider("Number of tasks", 2, LIMITS["tasks"][1], 2, key="num_tasks", disabled=disabled)
    # Pairwise cosine p is feasible for p >= -1/(T-1); keep the slider on that range.
    lowest = math.ceil(-1.0 / (num_tasks - 1) * 20) / 20
    init_default("relatedness", 0.5)
    st.session_state["relatedness"] = max(lowest, st.session_state["relatedness"])
    relatedness = st.slider(
        "Task relatedness (cosine between task weight vectors)",
        lowest,
        1.0,
        step=0.05,
        key="relatedness",
        disabled=disabled,
        help="1: the tasks share one direction; 0: orthogonal; negative: conflicting. "
        f"With {num_tasks} tasks the lowest possible value is -1/(T-1) = {-1 / (num_tasks - 1):.3g}.",
    )
    with st.expander("Per-task settings"):
        specs = [_task_row(i, disabled) for i in range(num_tasks)]
    with st.expander("Data"):
        num_samples = st.number_input(
            "Samples", 100, LIMITS["num_samples"][1], 4000, 500, key="num_samples", disabled=disabled
        )
        input_dim = st.number_input(
            "Input dimension", num_tasks, LIMITS["input_dim"][1], max(16, num_tasks), key="input_dim", disabled=disabled
        )
        noise = st.number_input(
            "Label noise std", 0.0, 10.0, 0.01, 0.01, format="%g", key="noise_std", disabled=disabled
        )
        val_fraction = st.slider("Validation fraction", 0.05, 0.5, 0.2, 0.05, key="val_fraction", disabled=disabled)
    return SyntheticTasks(
        targets=tuple(specs),
        relatedness=relatedness,
        input_dim=int(input_dim),
        num_samples=int(num_samples),
        val_fraction=val_fraction,
        noise_std=noise,
    )


def _task_row(i: int, disabled: bool) -> TaskSpec:
    letter = chr(ord("A") + i)
    name_col, type_col = st.columns(2)
    name = name_col.text_input(
        f"Task {i + 1} name", f"task {letter}", max_chars=40, key=f"task{i}_name", disabled=disabled
    )
    kind = type_col.selectbox("Type", ["regression", "classification"], key=f"task{i}_type", disabled=disabled)
    classes_col, scale_col = st.columns(2)
    num_classes = classes_col.number_input(
        "Classes",
        2,
        LIMITS["num_classes"][1],
        2,
        key=f"task{i}_classes",
        disabled=disabled or kind != "classification",
        help="Classes are quantile bins of the synthetic label.",
    )
    loss_scale = scale_col.number_input(
        "Loss scale",
        1e-3,
        1e4,
        1.0,
        format="%g",
        key=f"task{i}_scale",
        disabled=disabled,
        help="Multiplies this task's loss: makes one task dominate the gradient, as with badly scaled units.",
    )
    return TaskSpec(
        name=name, type=kind, num_classes=int(num_classes), loss_scale=loss_scale, path=f"tasks.targets[{i}]"
    )


def _model_ui(disabled: bool) -> ModelConfig:
    sharing = st.selectbox(
        "Sharing strategy",
        list(SHARING_TITLES),
        index=1,
        format_func=SHARING_TITLES.get,
        key="sharing",
        disabled=disabled,
    )
    st.caption(SHARING_DESCRIPTIONS[sharing])
    depth_col, width_col = st.columns(2)
    depth = depth_col.number_input(
        "Hidden layers", 0, LIMITS["depth"][1], 2, key="depth", disabled=disabled, help="0 gives a linear model."
    )
    hidden = width_col.selectbox("Width", HIDDEN_SIZES, index=3, key="hidden", disabled=disabled)
    activation = st.selectbox("Activation", ["relu", "tanh", "gelu"], key="activation", disabled=disabled)
    coupling = 0.01
    if sharing in ("soft", "soft_chain"):
        coupling = st.number_input(
            "Coupling strength λ",
            0.0,
            1e4,
            0.01,
            format="%g",
            key="coupling",
            disabled=disabled,
            help="Weight of the L2 penalty between the task networks.",
        )
    return ModelConfig(sharing=sharing, hidden=hidden, depth=int(depth), activation=activation, coupling=coupling)


def _train_ui(disabled: bool) -> TrainConfig:
    steps = st.number_input("Steps", 10, LIMITS["steps"][1], 1000, 100, key="steps", disabled=disabled)
    batch_col, eval_col = st.columns(2)
    batch = batch_col.selectbox("Batch size", BATCH_SIZES, index=3, key="batch_size", disabled=disabled)
    eval_every = eval_col.number_input(
        "Validate every", 1, 10_000, 25, key="eval_every", disabled=disabled, help="Steps between validation passes."
    )
    seed_col, device_col = st.columns(2)
    seed = seed_col.number_input("Seed", 0, 2**31 - 1, 0, key="seed", disabled=disabled)
    devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    device = device_col.selectbox(
        "Device", devices, key="device", disabled=disabled, help="auto uses the GPU when there is one."
    )
    return TrainConfig(steps=int(steps), batch_size=batch, eval_every=int(eval_every), seed=int(seed), device=device)
