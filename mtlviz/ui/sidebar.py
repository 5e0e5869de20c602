"""The sidebar: tasks, sharing strategy, optimizer configurations, training settings.

`experiment_sidebar()` returns either a valid ExperimentConfig or the list of
problems that prevent one (so the page can disable Start and say why), and the
task choice with any prepared table data and its preview.
"""

from __future__ import annotations

import re

import streamlit as st
import torch

from mtlviz.config import LIMITS, ExperimentConfig, MethodConfig, ModelConfig, TrainConfig
from mtlviz.errors import ConfigError
from mtlviz.methods import METHODS
from mtlviz.models import SHARING_DESCRIPTIONS
from mtlviz.ui.optimizers import optimizer_rows_ui
from mtlviz.ui.tasks import TaskChoice, tasks_ui

SHARING_TITLES = {
    "independent": "Independent",
    "hard": "Hard sharing",
    "soft": "Soft sharing (mean)",
    "soft_chain": "Soft sharing (chain)",
    "cross_stitch": "Cross-stitch",
    "mmoe": "MMoE (mixture of experts)",
}
HIDDEN_SIZES = [8, 16, 32, 64, 128, 256, 512, 1024]
BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]


def experiment_sidebar(disabled: bool = False) -> tuple[ExperimentConfig | None, list[str], TaskChoice]:
    errors: list[str] = []
    with st.sidebar:
        st.header("Tasks")
        # The seed widget sits further down; its value from the last run splits a table.
        choice = tasks_ui(seed=int(st.session_state.get("seed", 0)), disabled=disabled)
        errors += [as_shown(e) for e in choice.errors]
        st.header("Sharing")
        if choice.tasks is not None and choice.tasks.source == "toy2d":
            st.caption("Toy 2D has no network: the point itself is the model, so there is nothing to share.")
            model = ModelConfig()
        else:
            model = _guard(errors, _model_ui, disabled)
        st.header("Optimizers")
        optimizers, opt_errors = optimizer_rows_ui(disabled)
        errors += [as_shown(e) for e in opt_errors]
        st.header("Multi-task methods")
        methods, method_errors = _methods_ui(disabled)
        errors += [as_shown(e) for e in method_errors]
        st.header("Training")
        train = _guard(errors, _train_ui, disabled)
        targets = _targets_ui(choice.tasks.task_names if choice.tasks is not None else (), disabled)
    if errors or choice.tasks is None or model is None or train is None:
        return None, errors, choice
    try:
        config = ExperimentConfig(
            tasks=choice.tasks,
            model=model,
            optimizers=tuple(optimizers),
            train=train,
            val_targets=targets,
            methods=methods,
        )
        return config, [], choice
    except ConfigError as exc:
        return None, [as_shown(str(exc))], choice


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
    experts = 4
    if sharing == "mmoe":
        experts = st.number_input(
            "Experts", 1, 16, 4, key="experts", disabled=disabled, help="Expert networks; each task has its own gate."
        )
    return ModelConfig(
        sharing=sharing,
        hidden=hidden,
        depth=int(depth),
        activation=activation,
        coupling=coupling,
        experts=int(experts),
    )


def _methods_ui(disabled: bool) -> tuple[tuple[MethodConfig, ...], list[str]]:
    """Which multi-task methods every optimizer configuration is trained with (a grid), and their options."""
    names = st.multiselect(
        "Methods",
        list(METHODS),
        default=["static"],
        format_func=lambda n: METHODS[n].title,
        key="methods",
        max_selections=LIMITS["methods"][1],
        disabled=disabled,
        help="Each optimizer configuration trains once per method, side by side: weightings set the weight of "
        "each task's loss, combinations (PCGrad, MGDA, CAGrad) rebuild the update from the tasks' gradients.",
    )
    methods, errors = [], []
    for i, name in enumerate(names or ["static"]):
        spec = METHODS[name]
        options = {}
        for option, opt in spec.options.items():
            high = opt.high if opt.high_inclusive else opt.high - 1e-3
            options[option] = st.number_input(
                f"{spec.title}: {option}",
                opt.low,
                high,
                float(opt.default),
                format="%g",
                key=f"method_{name}_{option}",
                disabled=disabled,
                help=opt.help,
            )
        try:
            methods.append(MethodConfig(name, options=options, path=f"methods[{i}]"))
        except ConfigError as exc:
            errors.append(str(exc))
    if names:
        st.caption(" ".join(f"**{METHODS[n].title}** ({METHODS[n].paper}): {METHODS[n].help}" for n in names))
    return tuple(methods), errors


def _train_ui(disabled: bool) -> TrainConfig:
    steps = st.number_input("Steps", 10, LIMITS["steps"][1], 1000, 100, key="steps", disabled=disabled)
    batch_col, eval_col = st.columns(2)
    batch = batch_col.selectbox("Batch size", BATCH_SIZES, index=3, key="batch_size", disabled=disabled)
    eval_every = eval_col.number_input(
        "Validate every", 1, 10_000, 25, key="eval_every", disabled=disabled, help="Steps between validation passes."
    )
    seed_col, seeds_col = st.columns(2)
    seed = seed_col.number_input("Seed", 0, 2**31 - 1, 0, key="seed", disabled=disabled)
    seeds = seeds_col.number_input(
        "Seeds",
        *LIMITS["seeds"],
        1,
        key="seeds",
        disabled=disabled,
        help="Train every configuration with this many seeds (seed, seed + 1, ...): each its own data split, "
        "initial weights and batch order. Charts show the mean and a band; the summary mean ± std.",
    )
    devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    device = st.selectbox(
        "Device", devices, key="device", disabled=disabled, help="auto uses the GPU when there is one."
    )
    return TrainConfig(
        steps=int(steps),
        batch_size=batch,
        eval_every=int(eval_every),
        seed=int(seed),
        seeds=int(seeds),
        device=device,
    )


def _targets_ui(tasks: tuple[str, ...], disabled: bool) -> dict[str, float]:
    """Per task, an optional validation loss to reach (empty: none)."""
    with st.expander("Validation targets (time to target)"):
        st.caption("The summary reports when each run first reached its task's target validation loss. Empty: none.")
        targets = {}
        for i, task in enumerate(tasks):
            st.text(task)  # a column name from the user's file: plain text, never markdown
            value = st.number_input(
                f"Target {i + 1}",
                -1e6,
                1e6,
                None,
                format="%g",
                key=f"val_target_{i}",
                disabled=disabled,
                placeholder="none",
                label_visibility="collapsed",
            )
            if value is not None:
                targets[task] = float(value)
    return targets
