"""Task sources: each turns its kind of task config into data for a seed and a model to train on it.

One spec per source, keyed by its config class (mtlviz/config.py), so nothing
compares source names: synthetic tasks and tables (uploaded or bundled) give
a TaskSet and train a sharing strategy's network on it; the Toy 2D problem has
no data (an empty TaskSet) and trains a point whose losses are closed-form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from mtlviz.config import ExperimentConfig, SyntheticTasks, TableTasks, TaskSource, Toy2DTasks
from mtlviz.data.taskset import TaskSet


def _network(config: ExperimentConfig, taskset: TaskSet, num_copies: int, seed: int) -> Any:
    from mtlviz.models import build_model

    return build_model(config.model, taskset.tasks, taskset.input_dim, num_copies, seed)


@dataclass(frozen=True)
class TaskSourceSpec:
    name: str
    # config, seed -> the data of that seed (its own split and, for synthetic tasks, its own draw)
    taskset: Callable[[Any, int], TaskSet]
    # experiment, data, K, seed -> K stacked copies of the model trained on it, identical for a seed
    model: Callable[[ExperimentConfig, TaskSet, int, int], Any] = _network


def _synthetic(config: SyntheticTasks, seed: int) -> TaskSet:
    from mtlviz.data.synthetic import synthetic_taskset

    return synthetic_taskset(config, seed)


def _table(config: TableTasks, seed: int) -> TaskSet:
    from mtlviz.data.table import build_table_taskset, load_table

    return build_table_taskset(load_table(config), config, seed)[0]


def _toy2d(config: Toy2DTasks, seed: int) -> TaskSet:
    """No data: the losses are closed-form in the point itself (one placeholder row)."""
    empty = torch.zeros(1, 1)
    return TaskSet(config.targets, empty, torch.zeros(1, 2), empty, torch.zeros(1, 2))


def _point(config: ExperimentConfig, taskset: TaskSet, num_copies: int, seed: int) -> Any:
    """The point itself is the model: every seed starts it at the configured start."""
    from mtlviz.models.toy2d import Toy2DModel

    return Toy2DModel(config.tasks.start, num_copies)


TASK_SOURCES: dict[type, TaskSourceSpec] = {
    SyntheticTasks: TaskSourceSpec("synthetic", _synthetic),
    TableTasks: TaskSourceSpec("table", _table),
    Toy2DTasks: TaskSourceSpec("toy2d", _toy2d, _point),
}


def source_of(config: TaskSource) -> TaskSourceSpec:
    try:
        return TASK_SOURCES[type(config)]
    except KeyError:
        raise ValueError(
            f"expected a task config of {', '.join(t.__name__ for t in TASK_SOURCES)}, found {config!r}"
        ) from None


def build_taskset(config: TaskSource, seed: int) -> TaskSet:
    """Build the task set a config describes; the same seed gives the same data."""
    return source_of(config).taskset(config, seed)


def build_task_model(config: ExperimentConfig, taskset: TaskSet, num_copies: int, seed: int) -> Any:
    """K copies of the model the experiment's task source trains, with the initial weights of `seed`."""
    return source_of(config.tasks).model(config, taskset, num_copies, seed)
