"""The Conflict and Updates views say what their numbers are, driven through AppTest.

Conflict: near-zero cosines are near orthogonal, not conflict; the three shares and the
median per configuration are on the page, and the cosines' distribution is drawn.
Updates: a step size line is labelled closed form or measured, as the engine recorded it.
"""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest
from test_app import has_summary, page_text, run_until, started_app

from mtlviz.jobs import TrainingJob

APP_TIMEOUT = 30


def train(at: AppTest, steps: int = 60) -> None:
    at.number_input(key="steps").set_value(steps).run()
    at.button(key="start").click().run()
    run_until(at, has_summary, 60, "summary")


def figures(at: AppTest) -> list[dict]:
    return [json.loads(element.proto.spec) for element in at.get("plotly_chart")]


def test_conflict_view_reads_near_orthogonal_apart_from_conflict(jobs: list[TrainingJob]) -> None:
    at = started_app(APP_TIMEOUT)
    train(at)
    at.segmented_control(key="view").set_value("Conflict").run()
    assert not at.exception
    reading = [m.value for m in at.markdown if "**task A** and **task B**" in m.value]
    assert reading, page_text(at)
    assert "opposite directions (cos < −0.05)" in reading[0] and "near orthogonal (|cos| ≤ 0.05)" in reading[0]
    assert "median cosine" in reading[0]
    table = next(d.value for d in at.dataframe if "near orthogonal" in d.value.columns)
    assert set(table["configuration"]) == {"SGD", "Adam", "AdamW"}
    shares = table[["conflicting", "near orthogonal", "aligned"]].sum(axis=1)
    assert ((shares - 1).abs() < 1e-9).all()
    specs = figures(at)
    assert len(specs) == 4  # cosines over time, their distribution, the latest heatmaps, the task gradient norms
    bands = [s for s in specs[0]["layout"]["shapes"] if s["type"] == "rect"]
    assert bands and (bands[0]["y0"], bands[0]["y1"]) == (-0.05, 0.05)
    assert {t["type"] for t in specs[1]["data"]} == {"box"}


def test_updates_view_labels_measured_and_closed_form_step_sizes(jobs: list[TrainingJob]) -> None:
    at = started_app(APP_TIMEOUT)
    uid = next(u for u in at.session_state["optimizer_uids"] if at.session_state[f"opt{u}_name"] == "sgd")
    at.number_input(key=f"opt{uid}_sgd_momentum").set_value(0.9).run()
    train(at)
    at.segmented_control(key="view").set_value("Updates").run()
    at.selectbox(key="updates_metric").set_value("effective_lr").run()
    assert not at.exception
    caption = " ".join(c.value for c in at.caption)
    assert "**closed form**" in caption and "**measured**" in caption, caption
    (spec,) = figures(at)
    names = {t["name"] for t in spec["data"] if t.get("fill") != "toself"}
    assert names == {"SGD (measured)", "Adam (closed form)", "AdamW (closed form)"}
    assert "(measured)" in spec["layout"]["yaxis"]["title"]["text"]
