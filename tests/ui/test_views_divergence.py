"""A divergence is one event: the live banner and the loss chart's marker give the same loss."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TrainConfig
from mtlviz.jobs import FINISHED, Progress
from mtlviz.records import COLUMNS, TRAIN_LOSS, VAL_LOSS, Divergence, MetricLog, RowInfo, RunMetadata
from mtlviz.run import run_experiment

TASKS = ("task A", "task B")
STEPS = 20


class FinishedJob:
    """What the live panel reads of a TrainingJob, for one that has finished with these records."""

    def __init__(self, config: ExperimentConfig, records: pd.DataFrame, metadata: RunMetadata):
        self.id = "finished-job"
        self.config = config
        self.metadata = metadata
        self.status = FINISHED
        self.ended = True
        self.error = ""
        self.queue_position = None
        self.log = MetricLog()
        self.log.append(records)

    @property
    def runs(self) -> tuple[str, ...]:
        return self.config.runs

    def frame(self, metrics: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
        return self.log.frame(metrics)

    def progress(self) -> Progress:
        return Progress(STEPS, STEPS, 1.0, float(STEPS), None)


def panel(job) -> None:
    from mtlviz.ui.live import live_panel

    live_panel(job, False)


def banner(at: AppTest) -> str:
    (text,) = [w.value for w in at.warning if "diverged" in w.value]
    return text


def markers(at: AppTest) -> dict[str, str]:
    """Panel title -> the divergence marker's text in the loss chart."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    titles = [a["text"] for a in spec["layout"]["annotations"]]  # in panel order: x, x2, x3...
    found = [t for t in spec["data"] if t.get("mode") == "markers+text"]
    return {titles[int(t["xaxis"].removeprefix("x") or 1) - 1]: t["text"][0] for t in found}


def numbers(text: str) -> list[str]:
    return re.findall(r"\d\.?\d*e[+-]\d+|not finite", text)


def rows(run: str, seed: int, task: str, metric: str, steps: np.ndarray, values) -> pd.DataFrame:
    frame = pd.DataFrame({"run": run, "seed": seed, "step": steps, "task": task, "layer": "", "metric": metric})
    return frame.assign(value=np.asarray(values, dtype=np.float64), seconds=steps / 100.0)[COLUMNS]


def test_the_banner_and_the_chart_give_the_same_loss_for_one_divergence() -> None:
    """Adam's seed 1 diverged at step 15 on task A (loss 1.28e9). Its seed 0 had a higher loss
    at that step (2.68e14): the chart used to read that one from the records, while the banner
    gave the engine's."""
    config = ExperimentConfig(
        tasks=SyntheticTasks(),
        optimizers=(OptimizerConfig("sgd", 0.1, "SGD"), OptimizerConfig("adam", 0.1, "Adam")),
        train=TrainConfig(steps=STEPS, seeds=2, eval_every=10),
    )
    steps = np.arange(1, STEPS + 1)
    frames = []
    for run in ("SGD", "Adam"):
        for seed in (0, 1):
            for task in TASKS:
                train = 1.0 / steps
                if run == "Adam" and task == "task A":
                    train = np.where(steps == 15, 2.68e14 if seed == 0 else 1.28e9, train)
                keep = steps <= (15 if run == "Adam" and seed == 1 else STEPS)
                frames.append(rows(run, seed, task, TRAIN_LOSS, steps[keep], train[keep]))
                frames.append(rows(run, seed, task, VAL_LOSS, np.array([0, 10]), [1.0, 0.1]))
    event = Divergence("Adam", 1, 15, "task A", 1.28e9, {"task A": 1.28e9, "task B": None})
    later = Divergence("Adam", 0, 17, "task A", None, {"task A": None, "task B": 0.06})
    metadata = RunMetadata(
        rows=tuple(
            RowInfo(run, seed, run, run.lower(), 0.1, "Static weights") for run in ("SGD", "Adam") for seed in (0, 1)
        ),
        tasks=TASKS,
        has_shared_parameters=True,
        device="cpu",
        divergences=(later, event),
    )
    job = FinishedJob(config, pd.concat(frames, ignore_index=True), metadata)
    at = AppTest.from_function(panel, args=(job,), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    text = banner(at)
    assert text.startswith("Adam diverged at step 15 in 2 of 2 seeds (first: seed 1) (task A loss: 1.28e+09)")
    marked = markers(at)
    assert numbers(marked["task A"]) == numbers(text) == ["1.28e+09"]
    assert marked["task B"] == "Adam diverged at step 15 (loss not finite)"


def test_a_real_divergence_reads_the_same_in_the_banner_and_on_the_chart() -> None:
    """The engine's own event, end to end: SGD with a huge learning rate blows up."""
    config = ExperimentConfig(
        tasks=SyntheticTasks(num_samples=200),
        model=ModelConfig(hidden=8, depth=1),
        optimizers=(OptimizerConfig("sgd", 0.01, "Calm"), OptimizerConfig("sgd", 50.0, "Wild")),
        train=TrainConfig(steps=40, batch_size=32, eval_every=10, seeds=2),
    )
    result = run_experiment(config)
    (event,) = [result.metadata.first_divergence("Wild")]
    assert event is not None and result.metadata.first_divergence("Calm") is None
    job = FinishedJob(config, result.records, result.metadata)
    at = AppTest.from_function(panel, args=(job,), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    text = banner(at)
    assert f"Wild diverged at step {event.step:,}" in text and f"{event.task} loss: " in text
    said = numbers(text)
    assert said == [event.describe_loss()]
    assert numbers(markers(at)[event.task]) == said
