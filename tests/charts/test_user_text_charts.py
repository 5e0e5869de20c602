"""User text (run labels, task names) in the charts: shown literally, never read as Plotly's HTML."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from mtlviz.charts import loss_curves, lr_sensitivity
from mtlviz.charts.conflict import cosine_chart, cosine_heatmaps
from mtlviz.charts.loss_space import loss_space_chart
from mtlviz.charts.text import escape_markdown, plotly_text, template_text
from mtlviz.charts.updates import layer_chart, layer_names
from mtlviz.config import ExperimentConfig, OptimizerConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.engine import Engine

RUN = "<b>run</b> %{x} [r](http://h)"
OTHER = "Adam"
TASKS = ("<b>bold</b> [x](http://h)", "<a href='http://h'>b</a>")


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    config = ExperimentConfig(
        tasks=SyntheticTasks(targets=tuple(TaskSpec(t) for t in TASKS), num_samples=200),
        optimizers=(OptimizerConfig("sgd", 0.05, RUN), OptimizerConfig("adam", 1e-2, OTHER)),
        train=TrainConfig(steps=20, stats_every=5, conflict_every=5, batch_size=32),
    )
    return pd.concat(list(Engine(config).run()), ignore_index=True)


def shown_text(figure: go.Figure) -> list[str]:
    """Every string of the figure that Plotly reads as HTML: trace names, text, hover templates, annotations,
    axis titles and category ticks."""
    texts = []
    for trace in figure.data:
        for key in ("name", "hovertemplate", "text", "hovertext", "x", "y"):
            value = getattr(trace, key, None)
            if isinstance(value, str):
                texts.append(value)
            elif value is not None and key in ("text", "hovertext", "x", "y"):
                texts += [v for v in np.asarray(value, dtype=object).ravel() if isinstance(v, str)]
    texts += [note.text for note in figure.layout.annotations if note.text]
    layout = figure.to_dict()["layout"]
    texts += [
        axis["title"]["text"] for key, axis in layout.items() if "axis" in key and axis.get("title", {}).get("text")
    ]
    return texts


def assert_literal(figure: go.Figure, names: tuple[str, ...]) -> None:
    texts = shown_text(figure)
    joined = "\n".join(texts)
    assert "<b>bold" not in joined and "<b>run" not in joined and "<a" not in joined, joined
    assert any(plotly_text(name) in joined for name in names), joined
    for template in (t.hovertemplate for t in figure.data if t.hovertemplate):
        # The run's own "%{x}" cannot become a field of the template.
        assert "%{x} [r]" not in template


def test_the_helpers_escape_html_template_fields_and_markdown() -> None:
    assert plotly_text("<b>a</b> & b") == "&lt;b&gt;a&lt;/b&gt; &amp; b"
    assert template_text("%{x}") == "%&#123;x&#125;"
    assert html.unescape(template_text(RUN)) == RUN
    escaped = escape_markdown("![i](http://host/x.png) :material/home: $x$ <b>\n# h")
    assert escaped == r"!\[i\](http\://host/x.png) \:material/home: \$x\$ \<b\> # h"
    assert escape_markdown("# h") == r"\# h" and escape_markdown(" 1. x") == r" 1\. x"
    assert escape_markdown("coincide: 0.5%, (b)") == "coincide: 0.5%, (b)"  # plain text reads as typed


def test_loss_curves_show_names_literally(records: pd.DataFrame, validated) -> None:
    figure = validated(loss_curves(records, (RUN, OTHER), TASKS))
    assert_literal(figure, TASKS + (RUN,))
    assert {t.name for t in figure.data} >= {plotly_text(RUN), OTHER}
    assert {note.text for note in figure.layout.annotations} >= {plotly_text(t) for t in TASKS}


def test_layer_chart_shows_names_literally(records: pd.DataFrame, validated) -> None:
    layers = [name for name in layer_names(records) if name.endswith("weight")]
    assert_literal(validated(layer_chart(records, (RUN, OTHER), layers, "effective_lr")), (RUN,))


def test_cosine_charts_show_names_literally(records: pd.DataFrame, validated) -> None:
    assert_literal(validated(cosine_chart(records, (RUN, OTHER))), TASKS + (RUN,))
    assert_literal(validated(cosine_heatmaps(records, (RUN, OTHER), TASKS)), TASKS + (RUN,))


def test_loss_space_chart_shows_names_literally(records: pd.DataFrame, validated) -> None:
    figure = validated(loss_space_chart(records, (RUN, OTHER), TASKS, front=np.array([[0.1, 0.2], [0.2, 0.1]])))
    assert_literal(figure, TASKS + (RUN,))
    assert figure.layout.xaxis.title.text == f"{plotly_text(TASKS[0])} train loss"


def test_lr_sensitivity_shows_names_literally(validated) -> None:
    runs = [f"{RUN} lr={lr:g}" for lr in (0.1, 0.01)]
    final = pd.DataFrame(
        [(run, 0, task, np.nan if i == 0 else 0.3) for i, run in enumerate(runs) for task in TASKS],
        columns=["run", "seed", "task", "val_loss"],
    )
    rows = pd.DataFrame([(run, RUN, lr) for run, lr in zip(runs, (0.1, 0.01))], columns=["run", "configuration", "lr"])
    figure = validated(lr_sensitivity(final, rows, TASKS, best={RUN: runs[1]}))
    assert_literal(figure, TASKS + (RUN,))
    assert any(t.name == plotly_text(RUN) for t in figure.data)
