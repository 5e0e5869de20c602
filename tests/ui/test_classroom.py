"""The classroom flow through AppTest: a preset in the presenter view, started, stopped and
restarted there, with its explanation, its pace, the summary and charts readable from afar."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest
from test_app import APP, has_summary, page_text, run_until, started_app

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TrainConfig
from mtlviz.jobs import TrainingJob
from mtlviz.presets import PRESETS
from mtlviz.share import QUERY_KEY, encode_config

READABLE = 18  # px: the smallest chart font in the presenter view
FIRST = "sgd_vs_adam_vs_adamw"


def presenting(at: AppTest) -> AppTest:
    at.toggle(key="presenter").set_value(True).run()
    assert not at.exception, at.exception
    return at


def buttons(at: AppTest) -> dict[str, bool]:
    return {b.key: not b.disabled for b in at.button}


def test_presenter_view_keeps_the_preset_and_starts_stops_and_restarts_it(jobs: list[TrainingJob]) -> None:
    preset = PRESETS[FIRST]
    at = started_app()
    at.selectbox(key="preset").set_value(FIRST).run()
    assert at.selectbox(key="pace").value == preset.pace  # the preset sets a pace you can watch
    presenting(at)
    assert at.session_state["preset"] == FIRST
    assert any(preset.title in i.value and "AdamW" in i.value for i in at.info), page_text(at)
    assert not any("sidebar" in i.value for i in at.info), "the sidebar is hidden: do not send people there"
    assert buttons(at)["start"] and not buttons(at)["stop"]

    at.button(key="start").click().run()
    assert jobs[-1].config == preset.config and jobs[-1].pace == preset.pace
    assert buttons(at)["stop"] and not buttons(at)["start"]
    at.button(key="stop").click().run()
    jobs[-1].join(10)
    run_until(at, lambda a: buttons(a)["start"], 30, "Start enabled again")
    assert at.session_state["preset"] == FIRST
    at.button(key="start").click().run()  # and again, with the same preset
    assert len(jobs) == 2 and jobs[-1].config == preset.config
    jobs[-1].stop()


def test_full_speed_is_the_default_pace_and_can_be_chosen(jobs: list[TrainingJob]) -> None:
    at = started_app()
    assert at.selectbox(key="pace").value == 0
    at.selectbox(key="pace").set_value(20).run()
    at.button(key="start").click().run()
    assert jobs[-1].pace == 20
    jobs[-1].stop()


def test_presenter_view_shows_the_summary_and_charts_readable_from_the_back(jobs: list[TrainingJob]) -> None:
    config = ExperimentConfig(
        tasks=SyntheticTasks(num_samples=300),
        model=ModelConfig(hidden=8, depth=1),
        optimizers=(OptimizerConfig("sgd", 0.05, "SGD"), OptimizerConfig("adam", 1e-2, "Adam")),
        train=TrainConfig(steps=30, batch_size=32, eval_every=10),
    )
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params[QUERY_KEY] = encode_config(config)
    at.run()
    presenting(at)
    at.button(key="start").click().run()
    run_until(at, has_summary, 60, "summary")
    for view in at.segmented_control(key="view").options:
        at.segmented_control(key="view").set_value(view).run()
        for element in at.get("plotly_chart"):
            sizes = font_sizes(json.loads(element.proto.spec))
            assert sizes and min(sizes.values()) >= READABLE, (view, {k: v for k, v in sizes.items() if v < READABLE})


def font_sizes(spec: dict) -> dict[str, float]:
    """Every label's font size in a figure spec: explicit, or inherited from the layout font."""
    layout = spec["layout"]
    base = layout.get("font", {}).get("size", 12)  # Plotly's default
    sizes = {"layout": base}
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")):
            title = axis.get("title", {})
            sizes[f"{key} title"] = title.get("font", {}).get("size", base)
            sizes[f"{key} ticks"] = axis.get("tickfont", {}).get("size", base)
    sizes["legend"] = layout.get("legend", {}).get("font", {}).get("size", base)
    for i, note in enumerate(layout.get("annotations", [])):
        sizes[f"annotation {i} {note.get('text', '')[:20]!r}"] = note.get("font", {}).get("size", base)
    for i, trace in enumerate(spec["data"]):
        if "colorbar" in trace:
            sizes[f"trace {i} colorbar"] = trace["colorbar"].get("tickfont", {}).get("size", base)
        if "textfont" in trace and "size" in trace["textfont"]:
            sizes[f"trace {i} text"] = trace["textfont"]["size"]
    return sizes
