"""The Updates and Conflict views, table sources and pausing, driven through AppTest."""

from __future__ import annotations

import io

import pandas as pd
from streamlit.testing.v1 import AppTest
from test_app import has_summary, page_text, progress_text, run_until, started_app, summary_frame

from mtlviz.jobs import TrainingJob

APP_TIMEOUT = 30


def start_small(at: AppTest, steps: int = 60) -> None:
    at.number_input(key="steps").set_value(steps).run()
    at.button(key="start").click().run()
    run_until(at, has_summary, 60, "summary")


def test_updates_and_conflict_views_render(jobs: list[TrainingJob]) -> None:
    at = started_app(APP_TIMEOUT)
    start_small(at)
    at.segmented_control(key="view").set_value("Updates").run()
    assert not at.exception
    assert at.selectbox(key="updates_metric").value == "update_ratio"
    assert "trunk.0.weight" in at.multiselect(key="updates_layers").value
    assert at.get("plotly_chart"), page_text(at)
    for metric in ("effective_lr", "weight_decay_norm"):
        at.selectbox(key="updates_metric").set_value(metric).run()
        assert not at.exception
    at.segmented_control(key="view").set_value("Conflict").run()
    assert not at.exception
    reading = [m.value for m in at.markdown if "opposite directions" in m.value]
    assert reading and "**task A** and **task B**" in reading[0], page_text(at)
    assert len(at.get("plotly_chart")) == 4  # cosines, their distribution, heatmaps, task gradient norms


def test_conflict_view_says_when_nothing_is_shared(jobs: list[TrainingJob]) -> None:
    at = started_app(APP_TIMEOUT)
    at.selectbox(key="sharing").set_value("independent").run()
    start_small(at, steps=30)
    at.segmented_control(key="view").set_value("Conflict").run()
    assert any("no shared parameters" in i.value for i in at.info), page_text(at)
    assert not at.get("plotly_chart")


def test_bundled_dataset_trains_and_shows_its_data(jobs: list[TrainingJob]) -> None:
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="task_source").set_value("dataset").run()
    assert not at.exception
    assert at.multiselect(key="targets_bundled:penguins").value == ["species", "sex", "body_mass_g"]
    assert any("Dropped 11 of 344 rows" in t.value for t in at.text), [t.value for t in at.text]
    start_small(at, steps=40)
    summary = summary_frame(at)
    assert set(summary["task"]) == {"species", "sex", "body_mass_g"}
    assert jobs[-1].config.tasks.dataset == "penguins"


def test_upload_errors_are_shown_and_start_is_disabled(jobs: list[TrainingJob]) -> None:
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="task_source").set_value("upload").run()
    assert not at.button(key="start").value and at.button(key="start").disabled
    at.file_uploader(key="upload").upload("sheet.csv", b"PK\x03\x04 not really a workbook", "text/csv").run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "ZIP archive" in errors and "export the sheet as CSV" in errors
    assert at.button(key="start").disabled


def test_uploaded_table_trains_with_a_type_override(jobs: list[TrainingJob]) -> None:
    rows = 120
    frame = pd.DataFrame(
        {
            "x": range(rows),
            "z": [i % 7 for i in range(rows)],
            "<b>label</b>": ["a" if i % 3 else "b" for i in range(rows)],
            "y": [0.5 * i for i in range(rows)],
        }
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, sep=";", index=False)
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="task_source").set_value("upload").run()
    at.file_uploader(key="upload").upload("mine.csv", buffer.getvalue().encode(), "text/csv").run()
    assert not at.exception
    targets = next(m for m in at.multiselect if m.key.startswith("targets_"))
    targets.set_value(["<b>label</b>", "y"]).run()
    assert any("semicolon" in t.value for t in at.text)
    start_small(at, steps=30)
    assert jobs[-1].config.tasks.path == "mine.csv"
    assert {t.name for t in jobs[-1].config.tasks.targets} == {"<b>label</b>", "y"}
    summary = summary_frame(at)
    assert "<b>label</b>" in set(summary["task"])  # shown as text, never as HTML


def test_pausing_keeps_training_but_freezes_the_panel(jobs: list[TrainingJob]) -> None:
    at = started_app(APP_TIMEOUT)
    at.number_input(key="steps").set_value(100_000).run()
    at.button(key="start").click().run()
    at.toggle(key="pause_live").set_value(True).run()
    assert any("paused" in c.value for c in at.caption), page_text(at)
    job = jobs[-1]
    before = job.progress().step
    run_until(at, lambda _: job.progress().step > before + 50, 30, "training while paused")
    assert "Step" in progress_text(at)
    at.button(key="stop").click().run()
