"""Task sources: each kind of task config finds its own data and model by its type, never by a name."""

from __future__ import annotations

import pytest
import torch

from mtlviz.config import ExperimentConfig, ModelConfig, SyntheticTasks, TableTasks, TaskSpec, Toy2DTasks
from mtlviz.data.sources import build_task_model, build_taskset, source_of
from mtlviz.models.mmoe import MMoE
from mtlviz.models.toy2d import Toy2DModel

TABLE = TableTasks(dataset="penguins", targets=(TaskSpec("species", "auto"), TaskSpec("body_mass_g", "auto")))


def test_an_unknown_kind_of_task_config_names_the_kinds_there_are():
    with pytest.raises(ValueError, match="expected a task config of SyntheticTasks, TableTasks, Toy2DTasks, found"):
        source_of(ModelConfig())


@pytest.mark.parametrize("tasks", [SyntheticTasks(num_samples=200), TABLE], ids=["synthetic", "table"])
def test_a_data_source_trains_the_configured_strategy_on_its_inputs(tasks):
    config = ExperimentConfig(tasks=tasks, model=ModelConfig(sharing="mmoe", hidden=8, depth=1, experts=2))
    taskset = build_taskset(tasks, 0)
    assert taskset.names == tasks.task_names
    model = build_task_model(config, taskset, 3, seed=0)
    assert isinstance(model, MMoE)
    outputs = model(taskset.x_val)
    assert len(outputs) == len(tasks.targets) and outputs[0].shape[:2] == (3, len(taskset.x_val))


def test_the_toy_problem_has_no_data_and_trains_its_point_from_the_start_on_every_seed():
    config = ExperimentConfig(tasks=Toy2DTasks(start=(1.5, -2.0)), model=ModelConfig(sharing="independent"))
    taskset = build_taskset(config.tasks, 4)
    assert taskset.names == ("L1", "L2") and len(taskset.x_train) == len(taskset.x_val) == 1
    for seed in (0, 4):
        model = build_task_model(config, taskset, 2, seed)
        assert isinstance(model, Toy2DModel)  # the point, whatever the sharing strategy says
        assert torch.equal(model.point.detach(), torch.tensor([[1.5, -2.0]] * 2, dtype=torch.float64))
