"""A searched run in the dashboard: the summary's protocol table, the isolation view, and confirming the winners.

The sidebar sets one value per knob, so the searched run is submitted the way Start
submits one (the session's job registry, its id in session state) before the page draws.
"""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from mtlviz.config import ExperimentConfig
from mtlviz.jobs import TrainingJob
from mtlviz.protocol import CONFIRM_SEEDS, protocol_report
from mtlviz.ui.live import CONFIRM

SEARCHED = {
    "tasks": {"test_fraction": 0.2, "num_samples": 400},
    "optimizers": [
        {"name": "sgd", "label": "SGD", "lr": {"from": 1e-3, "to": 0.3, "scale": "log"}, "momentum": [0.0, 0.9]},
        {"name": "adam", "label": "Adam", "lr": {"distribution": "log-uniform", "low": 1e-4, "high": 0.1}},
    ],
    "search": {"method": "sobol", "trials": 3},
    "train": {"seeds": 2, "steps": 60},
}


def searched_page(config_json: str) -> None:
    """The dashboard, with a searched run submitted once before the page draws it."""
    import streamlit as st

    from mtlviz.config import ExperimentConfig
    from mtlviz.ui import page, state

    if state.JOB_ID not in st.session_state:
        job = state.session_jobs().submit(ExperimentConfig.from_json(config_json))
        st.session_state[state.JOB_ID] = job.id
    page.main()


def settle(at: AppTest, job: TrainingJob, timeout: float = 120) -> None:
    """Rerun the page until the job ended and its summary is drawn (run_every never fires in AppTest)."""
    deadline = time.monotonic() + timeout
    while not (job.ended and any(s.value == "Summary" for s in at.subheader)):
        assert not at.exception, at.exception
        if time.monotonic() > deadline:
            pytest.fail(f"no summary within {timeout} s; status {job.status}: {job.error}")
        time.sleep(0.3)
        at.run()
    assert not at.exception, at.exception


def protocol_frame(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "chosen trial" in d.value.columns)


def test_a_searched_run_reports_its_winners_offers_isolation_and_confirms_them(jobs: list[TrainingJob]) -> None:
    config = ExperimentConfig.from_dict(SEARCHED)
    at = AppTest.from_function(searched_page, args=(config.to_json(),), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert len(jobs) == 1
    job = jobs[0]
    settle(at, job)
    assert job.status == "finished"

    # The summary's table is the report's: each configuration's winner and its figures, as text.
    report = protocol_report(job.frame(), job.metadata, job.config)
    assert report is not None and [c.configuration for c in report.choices] == ["SGD", "Adam"]
    assert any(m.value == "**Chosen on validation, reported on test**" for m in at.markdown)
    table = protocol_frame(at)
    assert list(table["configuration"]) == ["SGD", "Adam"]
    assert list(table["chosen trial"]) == [c.run for c in report.choices]
    assert list(table["validation objective"]) == [c.validation.text() for c in report.choices]
    assert list(table["test objective"]) == [c.test.text() for c in report.choices]
    assert list(table["task A: test loss"]) == [c.test_losses["task A"].text() for c in report.choices]
    assert list(table["task B: test R²"]) == [c.test_scores["task B"][1].text() for c in report.choices]
    assert list(table["trials searched / feasible"]) == [f"3 / {c.feasible}" for c in report.choices]
    sgd = report.choices[0].hyperparameters
    assert table["hyperparameters"][0] == f"lr={sgd['lr']:g}, momentum={sgd['momentum']:g}"
    assert all(" seeds)" in text for text in table["validation objective"])  # "mean ± std (2 seeds)"

    # The isolation view is offered and draws a panel per searched knob, after the chosen trials.
    view = at.segmented_control(key="view")
    assert "Isolation" in view.options
    view.set_value("Isolation").run()
    assert not at.exception, at.exception
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and "isolation_chart" in c.proto.id)
    figure = json.loads(chart.proto.spec)
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert titles[1:] == ["validation objective against lr", "validation objective against momentum"]
    stars = [t["name"] for t in figure["data"] if t["marker"].get("symbol") == "star" and t.get("xaxis", "x") != "x"]
    assert sorted(stars) == ["Adam chosen", "SGD chosen", "SGD chosen"]  # lr: both; momentum: SGD's only

    # Confirming trains each winner alone on fresh seeds, through Start's path.
    button = at.button(key=CONFIRM)
    assert button.label == f"Confirm winners with {CONFIRM_SEEDS} fresh seeds"
    button.click().run()
    assert not at.exception, at.exception
    assert not [e.value for e in at.error if "Not started" in e.value]
    assert len(jobs) == 2
    confirm = jobs[1].config
    assert confirm.train.seeds == CONFIRM_SEEDS == 10
    assert confirm.train.seed == config.train.seed + config.train.seeds  # seeds the search never used
    assert confirm.search is None
    assert [o.label for o in confirm.optimizers] == ["SGD", "Adam"]
    assert [o.lr for o in confirm.optimizers] == [c.hyperparameters["lr"] for c in report.choices]
    assert all(not o.is_sweep for o in confirm.optimizers)
    assert confirm.tasks == config.tasks


def protocol_only(config_json: str, label: str, confirm: bool) -> None:
    """The protocol section alone, for a hand-made report whose configuration is `label`."""
    import math

    import pandas as pd

    from mtlviz.config import ExperimentConfig
    from mtlviz.protocol import Choice, Figure, Report
    from mtlviz.ui.live import protocol_section

    figure = Figure(0.5, 0.1, 2, 2)
    choice = Choice(
        configuration=label,
        run=f"{label} #1",
        hyperparameters={"lr": 0.01, "betas": [0.9, 0.999]},
        trials=3,
        feasible=2,
        validation=figure,
        test=Figure(0.6, math.nan, 1, 2),
        test_losses={"task A": figure},
        test_scores={"task A": ("accuracy", Figure(0.9, 0.01, 2, 2))},
        cost_seconds=figure,
        warnings=(f"{label}: the best lr (0.01) is at the upper edge of its range [0.0001, 0.01]",),
    )
    report = Report((choice,), pd.DataFrame(), notes=(f"{label}: every trial diverged in some seed",))
    protocol_section(ExperimentConfig.from_json(config_json), report, (lambda config: None) if confirm else None)


MARKDOWN_LABEL = "=1+1 **bold** [x](http://h)"


def test_user_labels_stay_text_in_the_protocol_table_and_its_warnings() -> None:
    config = ExperimentConfig.from_dict({"optimizers": [{"name": "adam", "label": "Adam", "lr": 0.01}]})
    at = AppTest.from_function(protocol_only, args=(config.to_json(), MARKDOWN_LABEL, False), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    table = protocol_frame(at)
    # A spreadsheet would read a cell starting with "=" as a formula: the table shows it as text.
    assert list(table["configuration"]) == ["'" + MARKDOWN_LABEL]
    assert list(table["hyperparameters"]) == ["lr=0.01, betas=(0.9, 0.999)"]
    assert list(table["validation objective"]) == ["0.5 ± 0.1 (2 seeds)"]
    assert list(table["test objective"]) == ["0.6 (1 of 2 seeds)"]
    assert list(table["task A: test accuracy"]) == ["0.9 ± 0.01 (2 seeds)"]
    assert list(table["trials searched / feasible"]) == ["3 / 2"]
    [warning] = [w.value for w in at.warning]
    assert r"\*\*bold\*\* \[x\](http\://h)" in warning and "**bold**" not in warning
    assert warning.count("\n- ") == 1  # the warning and the note, one item each
    assert not at.button  # no confirm callback: no button


def test_a_report_that_cannot_be_confirmed_says_why_instead_of_a_button() -> None:
    config = ExperimentConfig.from_dict(
        {"optimizers": [{"name": "adam", "label": "Adam", "lr": 0.01}], "methods": ["equal", "dwa"]}
    )
    at = AppTest.from_function(protocol_only, args=(config.to_json(), "Adam", True), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert not at.button
    assert [c.value for c in at.caption if c.value.startswith("Cannot confirm")] == [
        "Cannot confirm the winners: methods: confirming winners trains one method per configuration; found 2 methods"
    ]
    single = ExperimentConfig.from_dict({"optimizers": [{"name": "adam", "label": "Adam", "lr": 0.01}]})
    at = AppTest.from_function(protocol_only, args=(single.to_json(), "Adam", True), default_timeout=30)
    at.run()
    assert [b.key for b in at.button] == [CONFIRM]
