"""The sidebar: tasks, sharing strategy, optimizer configurations, methods, training settings.

`experiment_sidebar()` returns either a valid ExperimentConfig or the list of
problems that prevent one (so the page can disable Start and say why), and the
task choice with any prepared table data and its preview. Every widget that
holds a setting is a field of ui/fields.py; `write_*` here and in ui/tasks.py,
ui/optimizers.py set those same fields from a config (ui/restore.py).
"""

from __future__ import annotations

import re

import streamlit as st

from mtlviz.config import LIMITS, ExperimentConfig, MethodConfig, ModelConfig, SearchConfig, TrainConfig
from mtlviz.errors import ConfigError
from mtlviz.methods import METHODS
from mtlviz.models import SHARING
from mtlviz.ui.fields import (
    METHOD,
    METHOD_OPTIONS,
    METHODS_FIELD,
    MODEL,
    NO_SEARCH,
    SEARCH,
    TRAIN,
    VAL_TARGET,
    Form,
)
from mtlviz.ui.optimizers import optimizer_rows_ui
from mtlviz.ui.tasks import SOURCES, TaskChoice, tasks_ui


def experiment_sidebar(disabled: bool = False) -> tuple[ExperimentConfig | None, list[str], TaskChoice]:
    errors: list[str] = []
    with st.sidebar:
        st.header("Tasks")
        # The seed widget sits further down; its value from the last run splits a table.
        choice = tasks_ui(seed=int(st.session_state.get(TRAIN["seed"].key, 0)), disabled=disabled)
        errors += [as_shown(e) for e in choice.errors]
        st.header("Sharing")
        own_model = SOURCES[choice.source].own_model
        if own_model:
            title = SOURCES[choice.source].title
            st.caption(f"{title} has no network: {own_model} is the model, so there is nothing to share.")
            model = _guard(errors, lambda _: ModelConfig(**Form(MODEL).values()), disabled)  # kept as they were
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
        search = _search_ui(disabled)
        targets = _targets_ui(choice.tasks.task_names if choice.tasks is not None else (), disabled)
    if errors or choice.tasks is None or model is None or train is None:
        return None, errors, choice
    try:
        # The config checks what a search needs (a test split, equal budgets) and says which field is wrong.
        config = ExperimentConfig(
            tasks=choice.tasks,
            model=model,
            optimizers=tuple(optimizers),
            train=train,
            val_targets=targets,
            methods=methods,
            search=search,
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
    form = Form(MODEL, disabled=disabled)
    sharing = form.draw("sharing")
    st.caption(SHARING[sharing].description)
    depth_col, width_col = st.columns(2)
    form.draw("depth", depth_col)
    form.draw("hidden", width_col)
    form.draw("activation")
    form.draw_shown()  # the strategy's own settings (coupling, experts); the others keep their values
    return ModelConfig(**form.values())


def _methods_ui(disabled: bool) -> tuple[tuple[MethodConfig, ...], list[str]]:
    """Which multi-task methods every optimizer configuration is trained with (a grid), and their options."""
    names = METHODS_FIELD.draw(disabled=disabled)
    methods, errors = [], []
    for n, name in enumerate(names or METHODS_FIELD.default):
        form = Form(METHOD_OPTIONS[name], {"n": n}, disabled)
        for item in form.group.fields:
            form.draw(item.name)
        try:
            methods.append(MethodConfig(name, options=form.values(), path=f"methods[{n}]"))
        except ConfigError as exc:
            errors.append(str(exc))
    if names:
        st.caption(" ".join(f"**{METHODS[n].title}** ({METHODS[n].paper}): {METHODS[n].help}" for n in names))
    return tuple(methods), errors


def write_methods(methods: tuple[MethodConfig, ...], lost: list[str]) -> None:
    METHODS_FIELD.write([m.name for m in methods], lost)
    for n, method in enumerate(methods):
        ids = {"n": n}
        options = METHOD_OPTIONS[method.name]
        options.write({item.attribute: method.option(item.attribute) for item in options.fields}, lost, ids)
        lost += METHOD.unshown(method, ids)


def _train_ui(disabled: bool) -> TrainConfig:
    form = Form(TRAIN, disabled=disabled)
    form.draw("steps")
    batch_col, eval_col = st.columns(2)
    form.draw("batch_size", batch_col)
    form.draw("eval_every", eval_col)
    seed_col, seeds_col = st.columns(2)
    form.draw("seed", seed_col)
    form.draw("seeds", seeds_col)
    form.draw("device")
    return TrainConfig(**form.values())


def _search_ui(disabled: bool) -> SearchConfig | None:
    """Whether each configuration's searched values are a tuning protocol (chosen on validation, reported on
    test) and how its trials are drawn; None: no search."""
    form = Form(SEARCH, disabled=disabled)
    method_col, trials_col = st.columns(2)
    method = form.draw("method", method_col)
    if method == NO_SEARCH:
        form.keep("trials")
        return None
    if method == "sobol":
        return SearchConfig(method, form.draw("trials", trials_col))
    form.keep("trials")
    return SearchConfig(method)


def _targets_ui(tasks: tuple[str, ...], disabled: bool) -> dict[str, float]:
    """Per task, an optional validation loss to reach (empty: none)."""
    with st.expander("Validation targets (time to target)"):
        st.caption("The summary reports when each run first reached its task's target validation loss. Empty: none.")
        targets = {}
        for i, task in enumerate(tasks):
            st.text(task)  # a column name from the user's file: plain text, never markdown
            value = VAL_TARGET.draw(ids=_target_ids(i, task), disabled=disabled)
            if value is not None:
                targets[task] = value
    return targets


def write_val_targets(config: ExperimentConfig, lost: list[str]) -> None:
    names = config.tasks.task_names
    for i in range(LIMITS["tasks"][1]):
        task = names[i] if i < len(names) else ""
        VAL_TARGET.write(config.val_targets.get(task), lost, _target_ids(i, task))  # None: no target


def _target_ids(i: int, task: str) -> dict:
    return {"i": i, "number": i + 1, "task": task}
