"""Saved runs say what differs between them: the description computed once from a config (source,
sharing, methods, seeds, steps), kept in summary.json, read back by listings and compared for overlays."""

from __future__ import annotations

import pandas as pd
import pytest

from mtlviz.config import (
    ExperimentConfig,
    MethodConfig,
    ModelConfig,
    SyntheticTasks,
    TableTasks,
    TaskSpec,
    Toy2DTasks,
    TrainConfig,
)
from mtlviz.records import RunMetadata
from mtlviz.store import describe_differences, describe_run, list_runs, run_summary, save_run


@pytest.mark.parametrize(
    ("tasks", "source"),
    [
        (SyntheticTasks(relatedness=0.5), "synthetic, 2 tasks, relatedness 0.5"),
        (SyntheticTasks(relatedness=-0.2), "synthetic, 2 tasks, relatedness -0.2"),
        (TableTasks(dataset="penguins", targets=(TaskSpec("species", "auto"),)), "table penguins"),
        (TableTasks(path="/home/me/sales 2026.csv", targets=(TaskSpec("price"),)), "file sales 2026.csv"),
        (Toy2DTasks(), "Toy 2D from (-8.5, 7.5)"),
    ],
    ids=["synthetic", "conflicting", "bundled", "file", "toy2d"],
)
def test_the_description_names_where_the_tasks_come_from(tasks, source):
    assert describe_run(ExperimentConfig(tasks=tasks))["source"] == source


def test_the_description_names_sharing_methods_seeds_and_steps():
    config = ExperimentConfig(
        model=ModelConfig(sharing="mmoe"),
        methods=(MethodConfig("static"), MethodConfig("pcgrad")),
        train=TrainConfig(steps=2500, seed=4, seeds=3),
    )
    described = describe_run(config)
    assert described["title"] == "SGD vs Adam vs AdamW"
    assert described["sharing"] == "MMoE (mixture of experts)"  # the strategy spec's title
    assert described["methods"] == "Static weights, PCGrad"
    assert described["seeds"] == "seeds 4-6"
    assert described["steps"] == "2,500 steps"
    assert described["subtitle"] == (
        "synthetic, 2 tasks, relatedness 0.5 · MMoE (mixture of experts) · Static weights, PCGrad · seeds 4-6 · "
        "2,500 steps"
    )
    # Toy 2D's model is the point itself: no sharing strategy to name.
    assert describe_run(ExperimentConfig(tasks=Toy2DTasks()))["sharing"] == ""


def test_two_runs_with_the_same_optimizers_differ_in_what_their_descriptions_say():
    first = describe_run(ExperimentConfig())
    second = describe_run(ExperimentConfig(tasks=SyntheticTasks(relatedness=-0.5), model=ModelConfig("independent")))
    assert first["title"] == second["title"]
    assert describe_differences(first, second) == [
        "source: synthetic, 2 tasks, relatedness 0.5 vs synthetic, 2 tasks, relatedness -0.5",
        "sharing: Hard sharing vs Independent",
    ]
    assert describe_differences(first, dict(first)) == []


def saved(root, name: str, config: ExperimentConfig, with_description: bool = True) -> None:
    summary = {"title": "SGD vs Adam vs AdamW", "created": "2026-01-01T00:00:00+00:00", "status": "finished"}
    if with_description:
        summary["description"] = describe_run(config)
    save_run(root / name, config, pd.DataFrame({"run": ["SGD"]}), summary)


def test_run_summary_keeps_the_description():
    config = ExperimentConfig(tasks=Toy2DTasks())
    metadata = RunMetadata(rows=(), tasks=config.tasks.task_names, has_shared_parameters=False, device="cpu")
    empty = pd.DataFrame(columns=["task", "run", "best"])
    summary = run_summary(config, empty, status="finished", steps=5, metadata=metadata)
    assert summary["description"] == describe_run(config)


def test_listings_read_the_description_from_the_summary_or_from_an_old_runs_config(tmp_path):
    toy = ExperimentConfig(tasks=Toy2DTasks())
    saved(tmp_path, "new", toy)
    saved(tmp_path, "old", ExperimentConfig(train=TrainConfig(seed=7)), with_description=False)
    runs = {r.name: r for r in list_runs(tmp_path)[0]}
    assert runs["new"].description == describe_run(toy)
    assert runs["old"].describe("seeds") == "seed 7"
    assert runs["old"].describe("source") == "synthetic, 2 tasks, relatedness 0.5"
