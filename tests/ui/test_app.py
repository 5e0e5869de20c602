"""The dashboard driven headless through streamlit.testing.v1.AppTest.

AppTest runs app.py in this process, so training jobs are threads of the test
process. `run_every` never fires in AppTest: to watch a job, the tests rerun
the whole script in a loop, as the browser's fragment timer would.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from mtlviz.jobs import TrainingJob
from mtlviz.optim import OPTIMIZERS

APP = Path(__file__).resolve().parents[2] / "app.py"
DEFAULT_LABELS = ["SGD", "Adam", "AdamW"]
TASKS = ["task A", "task B"]


def started_app(timeout: float = 60) -> AppTest:
    """app.py run once in a fresh session."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def at(jobs: list[TrainingJob]) -> AppTest:
    return started_app(timeout=30)


def run_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float, what: str) -> None:
    """Rerun the script every 0.2 s until `done(at)`; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done(at):
        assert not at.exception, at.exception
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s; page text: {page_text(at)}")
        time.sleep(0.2)
        at.run()
    assert not at.exception, at.exception


def page_text(at: AppTest) -> list[str]:
    """The visible messages of the main area, for failure messages."""
    texts = [p.proto.text for p in at.get("progress")]
    for kind in ("error", "warning", "info", "subheader", "markdown", "caption"):
        texts += [str(element.value) for element in getattr(at, kind)]
    return texts


def progress_text(at: AppTest) -> str:
    bars = at.get("progress")
    assert len(bars) == 1, page_text(at)
    return bars[0].proto.text


def has_summary(at: AppTest) -> bool:
    return any(s.value == "Summary" for s in at.subheader)


def summary_frame(at: AppTest) -> pd.DataFrame:
    """The summary table: the one dataframe with a task and a status column."""
    return next(d.value for d in at.dataframe if "task" in d.value.columns and "status" in d.value.columns)


def expander_labels(at: AppTest) -> list[str]:
    """Labels of the optimizer expanders ("1. SGD", ...), in order."""
    return [e.label for e in at.sidebar.expander if re.match(r"\d+\. ", e.label)]


def buttons(at: AppTest) -> dict[str, bool]:
    """Button key -> enabled."""
    return {b.key: not b.disabled for b in at.button}


def test_loads_with_sidebar_defaults(at: AppTest) -> None:
    assert [t.value for t in at.title] == ["mtlviz"]
    assert expander_labels(at) == ["1. SGD", "2. Adam", "3. AdamW"]
    assert [at.text_input(key=f"opt{uid}_label").value for uid in range(3)] == DEFAULT_LABELS
    assert [at.selectbox(key=f"opt{uid}_name").value for uid in range(3)] == ["sgd", "adam", "adamw"]
    assert at.number_input(key="steps").value == 1000
    assert "3 configurations × 2 tasks, hard sharing, 1,000 steps." in [c.value for c in at.caption]
    assert not at.error
    state = buttons(at)
    assert state["start"] is True
    assert state["stop"] is False
    assert state["add_optimizer"] is True
    assert all(state[f"opt{uid}_remove"] for uid in range(3))
    # Nothing trained yet: a hint, no progress bar, no chart.
    assert any("press **Start**" in i.value for i in at.info)
    assert not at.get("progress")
    # Only the empty chart that says where the curves will be (and has the browser load Plotly early).
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and "Loss curves appear here" in charts[0].proto.spec
    assert '"data":[]' in charts[0].proto.spec.replace(" ", "")


def test_tiny_run_shows_chart_and_summary(at: AppTest, jobs: list[TrainingJob]) -> None:
    steps = 60
    at.number_input(key="steps").set_value(steps).run()
    assert f"3 configurations × 2 tasks, hard sharing, {steps} steps." in [c.value for c in at.caption]
    at.button(key="start").click().run()
    assert not at.exception
    assert len(jobs) == 1
    # The rerun that shows the summary can race the job's end: keep rerunning until the
    # page is settled (summary shown and Start enabled again).
    run_until(at, lambda a: has_summary(a) and buttons(a)["start"], timeout=60, what="summary")

    assert jobs[0].status == "finished"
    assert progress_text(at).startswith(f"Step {steps} / {steps}")
    assert buttons(at)["stop"] is False

    charts = at.get("plotly_chart")
    assert len(charts) == 1
    assert charts[0].key == "loss_chart"
    figure = json.loads(charts[0].proto.spec)
    names = {trace.get("name") for trace in figure["data"]}
    assert names == set(DEFAULT_LABELS)
    # Train and validation curves for each configuration on each task's subplot.
    assert len(figure["data"]) == len(DEFAULT_LABELS) * len(TASKS) * 2

    assert len(at.dataframe) == 1
    table = at.dataframe[0].value
    assert len(table) == len(TASKS) * len(DEFAULT_LABELS)
    assert sorted(zip(table["task"], table["run"])) == sorted((t, r) for t in TASKS for r in DEFAULT_LABELS)
    assert (table["at step"] == steps).all()
    assert (table["status"] == "ok").all()
    table["val loss"] = table["val loss"].astype(float)  # shown as text, "—" when missing
    assert (table["val loss"] > 0).all()
    # Exactly one best configuration per task, and the markdown line names it.
    best = table[table["best"]]
    assert sorted(best["task"]) == TASKS
    for _, row in best.iterrows():
        assert row["val loss"] == table.loc[table["task"] == row["task"], "val loss"].min()
    lowest = [m.value for m in at.markdown if m.value.startswith("Lowest validation loss")]
    expected = "; ".join(f"**{task}**: {run}" for task, run in zip(best["task"], best["run"]))
    assert lowest == [f"Lowest validation loss: {expected}"]


def test_start_switches_the_buttons_at_once(at: AppTest, jobs: list[TrainingJob]) -> None:
    """The page drawn in answer to the Start click must already offer Stop.

    In the browser only the live fragment reruns while the job trains; the
    buttons are drawn outside it, so whatever this rerun shows stays on screen
    until the job ends or the user touches another widget.
    """
    at.number_input(key="steps").set_value(50_000).run()
    at.button(key="start").click().run()
    assert not at.exception
    assert len(jobs) == 1
    state = buttons(at)
    assert state["stop"] is True, "Stop is disabled on the page drawn right after Start"
    assert state["start"] is False, "Start is still enabled on the page drawn right after Start"


def test_stop_ends_a_long_run(at: AppTest, jobs: list[TrainingJob]) -> None:
    at.number_input(key="steps").set_value(50_000).run()
    at.button(key="start").click().run()
    assert len(jobs) == 1
    # One more rerun (any widget interaction, or the next full rerun) and the page knows it is running.
    run_until(at, lambda a: buttons(a)["stop"], timeout=10, what="enabled Stop button")
    assert buttons(at)["start"] is False
    assert progress_text(at).startswith("Step ")

    clicked = time.monotonic()
    at.button(key="stop").click().run()
    run_until(at, lambda a: any("Stopped at step" in w.value for w in a.warning), timeout=15, what="stopped status")
    assert time.monotonic() - clicked < 15
    assert jobs[0].status == "stopped"
    assert jobs[0].progress().step < 50_000

    [warning] = [w.value for w in at.warning if "Stopped at step" in w.value]
    step = int(re.search(r"Stopped at step ([\d,]+)", warning)[1].replace(",", ""))
    assert step == jobs[0].progress().step
    assert progress_text(at).startswith(f"Step {step:,} / 50,000")
    state = buttons(at)
    assert state["start"] is True
    assert state["stop"] is False

    # Start again: a fresh job, and only one job of this session trains at a time.
    at.number_input(key="steps").set_value(60).run()
    at.button(key="start").click().run()
    assert len(jobs) == 2
    run_until(at, lambda a: has_summary(a) and buttons(a)["start"], timeout=60, what="summary of the second run")
    assert jobs[1].status == "finished"
    assert not any("Stopped at step" in w.value for w in at.warning)


def test_add_and_remove_configurations(at: AppTest) -> None:
    at.button(key="add_optimizer").click().run()
    assert not at.exception
    assert expander_labels(at) == ["1. SGD", "2. Adam", "3. AdamW", "4. SGD 2"]
    assert at.text_input(key="opt3_label").value == "SGD 2"
    assert at.selectbox(key="opt3_name").value == "sgd"
    assert "4 configurations × 2 tasks, hard sharing, 1,000 steps." in [c.value for c in at.caption]
    assert buttons(at)["start"] is True

    # Removing a row in the middle leaves the others' values with them (widgets are keyed by uid).
    at.text_input(key="opt2_label").set_value("AdamW decay").run()
    at.button(key="opt1_remove").click().run()
    assert not at.exception
    assert expander_labels(at) == ["1. SGD", "2. AdamW decay", "3. SGD 2"]
    assert at.text_input(key="opt2_label").value == "AdamW decay"
    assert at.selectbox(key="opt2_name").value == "adamw"
    # The option widgets start from the optimizer spec's defaults (the config's too).
    assert at.number_input(key="opt2_adamw_weight_decay").value == OPTIMIZERS["adamw"].options["weight_decay"].default
    assert "opt1_remove" not in buttons(at)
    assert "3 configurations × 2 tasks, hard sharing, 1,000 steps." in [c.value for c in at.caption]

    at.button(key="opt3_remove").click().run()
    at.button(key="opt0_remove").click().run()
    assert not at.exception
    assert expander_labels(at) == ["1. AdamW decay"]
    state = buttons(at)
    assert state["opt2_remove"] is False, "the last configuration must not be removable"
    assert state["start"] is True
    assert any(re.match(r"1 configurations? × 2 tasks", c.value) for c in at.caption)


def test_add_stops_at_the_limit(at: AppTest) -> None:
    for _ in range(5):
        at.button(key="add_optimizer").click().run()
    assert not at.exception
    assert len(expander_labels(at)) == 8
    labels = [at.text_input(key=f"opt{uid}_label").value for uid in range(8)]
    assert len(set(labels)) == 8, labels
    state = buttons(at)
    assert state["add_optimizer"] is False
    assert state["start"] is True


def test_duplicate_labels_disable_start(at: AppTest, jobs: list[TrainingJob]) -> None:
    at.text_input(key="opt1_label").set_value("SGD").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert "Cannot start yet" in errors[0]
    assert "'SGD'" in errors[0]
    assert "unique" in errors[0]
    assert buttons(at)["start"] is False
    assert jobs == []
    assert not at.get("progress")

    at.text_input(key="opt1_label").set_value("Adam 2").run()
    assert not at.error
    assert buttons(at)["start"] is True


def test_duplicate_task_names_disable_start(at: AppTest) -> None:
    at.text_input(key="task1_name").set_value("task A").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert "'task A'" in errors[0]
    assert "unique" in errors[0]
    assert buttons(at)["start"] is False
