"""Downloads: formula-like text is neutralised in CSV, numbers never are; charts export as HTML and PNG."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import struct

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs_version

from mtlviz import export
from mtlviz.charts import loss_curves
from mtlviz.charts.figure import build_figure
from mtlviz.export import ExportError, figure_html, figure_png, parquet_bytes, safe_csv
from mtlviz.records import COLUMNS


def test_formula_like_text_cells_get_an_apostrophe_and_numbers_stay_numbers() -> None:
    frame = pd.DataFrame(
        {
            "task": ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "plain", "\tTAB"],
            "value": [-0.5, 1.0, -2.0, 3.0, 4.0, 5.0],
            "=cmd": ["a", "b", "c", "d", "e", "f"],
        }
    )
    text = safe_csv(frame).decode()
    back = pd.read_csv(io.StringIO(text), dtype={"value": float}, keep_default_na=False)
    assert list(back["task"]) == ['\'=HYPERLINK("http://x")', "'+1+1", "'-2+3", "'@SUM(A1)", "plain", "'\tTAB"]
    assert list(back["value"]) == [-0.5, 1.0, -2.0, 3.0, 4.0, 5.0]  # negative numbers untouched
    assert list(back.columns) == ["task", "value", "'=cmd"]


def test_categorical_text_is_neutralised_too() -> None:
    frame = pd.DataFrame({"run": pd.Categorical(["=evil", "ok"]), "step": [1, 2]})
    back = pd.read_csv(io.BytesIO(safe_csv(frame)))
    assert list(back["run"]) == ["'=evil", "ok"] and list(back["step"]) == [1, 2]


def test_parquet_round_trip() -> None:
    frame = pd.DataFrame({"run": ["=a"], "value": [1.5]})
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(parquet_bytes(frame))), frame)


def small_loss_figure():
    """A loss-curve figure as the dashboard builds it: unvalidated, float32 arrays, layout height 320."""
    steps = np.arange(1, 101)
    frames = [
        pd.DataFrame(
            {
                "run": run,
                "seed": 0,
                "step": steps,
                "task": task,
                "layer": "",
                "metric": "train_loss",
                "value": (1 + r + t) / np.sqrt(steps),
                "seconds": steps / 1000,
            }
        )
        for r, run in enumerate(("SGD", "Adam"))
        for t, task in enumerate(("price", "click"))
    ]
    records = pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS, fill_value=0)
    figure = loss_curves(records, ["SGD", "Adam"], ["price", "click"])
    assert figure.data[0].y.dtype == np.float32
    return figure


def png_size(image: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a PNG must start with after its signature."""
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", image[8:16])
    assert (length, kind) == (13, b"IHDR")
    return struct.unpack(">II", image[16:24])


def plotted(page: str) -> tuple[list[dict], dict]:
    """The traces and layout that the page hands to Plotly.newPlot, JSON-decoded.

    Decoding makes the check independent of the JSON encoder: with orjson Plotly writes
    "SGD ↔ momentum", without it "SGD \\u2194 momentum"; both decode to the same name.
    """
    call = "Plotly.newPlot("
    assert page.count(call) == 1
    decoder = json.JSONDecoder()
    arguments = []
    position = page.index(call) + len(call)
    for _ in range(3):  # the div's id, the traces, the layout
        while page[position] in " \t\r\n,":
            position += 1
        value, position = decoder.raw_decode(page, position)
        arguments.append(value)
    _, traces, layout = arguments
    return traces, layout


def test_html_is_standalone_with_trace_names_and_a_plain_page_title() -> None:
    figure = build_figure(
        [
            {"type": "scatter", "x": [1, 2, 3], "y": np.array([3, 2, 1], np.float32), "name": "SGD ↔ momentum"},
            {"type": "scatter", "x": [1, 2, 3], "y": np.array([1, 2, 4], np.float32), "name": "Adam"},
        ],
        {"title": {"text": "Loss <b>of</b> SGD & Adam"}},
    )
    page = figure_html(figure).decode("utf-8")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert f"plotly.js v{get_plotlyjs_version()}" in page  # the bundle itself, not a link to it
    assert re.findall(r"<script[^>]*\bsrc=", page) == []  # nothing fetched: opens offline
    traces, layout = plotted(page)
    assert [trace["name"] for trace in traces] == ["SGD ↔ momentum", "Adam"]
    assert layout["title"]["text"] == "Loss <b>of</b> SGD & Adam"
    assert page.count("<title>Loss of SGD &amp; Adam</title>") == 1


def test_html_without_a_title_gets_no_page_title() -> None:
    page = figure_html(build_figure([{"type": "bar", "x": ["a"], "y": [1], "name": "only"}], {})).decode()
    assert "<head>\n    <title>" not in page and [trace["name"] for trace in plotted(page)[0]] == ["only"]


def require_png_export() -> None:
    """Skip where no browser or kaleido is installed, unless MTLVIZ_REQUIRE_BROWSER=1 (CI) demands the test."""
    if os.environ.get("MTLVIZ_REQUIRE_BROWSER") == "1":
        return
    if importlib.util.find_spec("kaleido") is None:
        pytest.skip("the kaleido package is not installed")
    try:
        export.find_chrome()
    except ExportError as error:
        pytest.skip(str(error))


@pytest.mark.browser
def test_png_of_a_dashboard_figure_has_the_requested_size() -> None:
    require_png_export()
    figure = small_loss_figure()
    # Height defaults to the figure's own (320); scale multiplies both sides.
    assert png_size(figure_png(figure, width=400, scale=1)) == (400, 320)
    assert png_size(figure_png(figure, width=300, height=200, scale=2)) == (600, 400)


def test_png_without_a_browser_says_what_it_looked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("MTLVIZ_CHROME", "/nonexistent/chromium")
    with pytest.raises(ExportError, match=r"MTLVIZ_CHROME is set to '/nonexistent/chromium'.*Chrome or Chromium"):
        figure_png(small_loss_figure())

    monkeypatch.delenv("MTLVIZ_CHROME")
    monkeypatch.setattr(export, "CHROME_FALLBACK", "/nonexistent/usr/bin/chromium")
    with pytest.raises(ExportError, match="needs Chrome or Chromium; none found") as caught:
        figure_png(small_loss_figure())
    for expected in (*export.CHROME_NAMES, "/nonexistent/usr/bin/chromium", "MTLVIZ_CHROME"):
        assert expected in str(caught.value)


def test_png_of_a_browser_that_fails_or_a_bad_size_is_an_export_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ExportError, match="PNG width: expected a positive number, found 0"):
        figure_png(small_loss_figure(), width=0)
    if os.environ.get("MTLVIZ_REQUIRE_BROWSER") != "1" and importlib.util.find_spec("kaleido") is None:
        pytest.skip("the kaleido package is not installed")
    not_a_browser = shutil.which("false")  # starts and exits at once, as a broken browser would
    monkeypatch.setenv("MTLVIZ_CHROME", not_a_browser)
    with pytest.raises(ExportError, match=f"PNG export failed: expected an image from {not_a_browser}, found "):
        figure_png(small_loss_figure())


def test_exported_metrics_of_a_real_run_read_back_with_every_column() -> None:
    from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TrainConfig
    from mtlviz.engine import Engine

    config = ExperimentConfig(
        tasks=SyntheticTasks(num_samples=200),
        model=ModelConfig(hidden=8, depth=1),
        optimizers=(OptimizerConfig("sgd", (0.01, 0.1), "=SGD"),),
        train=TrainConfig(steps=20, batch_size=32, eval_every=10, seeds=2),
    )
    records = pd.concat(list(Engine(config).run()), ignore_index=True)
    from_csv = pd.read_csv(io.BytesIO(safe_csv(records)))
    from_parquet = pd.read_parquet(io.BytesIO(parquet_bytes(records)))
    for frame in (from_csv, from_parquet):
        assert list(frame.columns) == COLUMNS
        assert len(frame) == len(records)
        assert sorted(frame["seed"].unique()) == [0, 1]
        np.testing.assert_allclose(frame["value"].to_numpy(), records["value"].to_numpy(), rtol=1e-12)
    # A label that a spreadsheet would run as a formula is neutralised in the CSV only.
    assert set(from_csv["run"]) == {"'=SGD lr=0.01", "'=SGD lr=0.1"}
    assert set(from_parquet["run"]) == {"=SGD lr=0.01", "=SGD lr=0.1"}
