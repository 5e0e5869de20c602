"""The Saved runs panel on a shared runs folder: a damaged or linked run says why it cannot open instead of
raising, two runs of one title and second read apart, no server path or other session's folder is shown,
and the runs table is safe to download as CSV."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_app import page_text, started_app
from test_store_damaged import DAMAGES, NOW, copy_of, small_run

from mtlviz.store import SUMMARY_FILE, load_metadata, load_run, load_summary, new_run_dir, run_summary, save_run

APP_TIMEOUT = 60
# The cases that raised on the page before saved runs were validated, and a few more of each kind.
KNOWN = [
    "diverged_runs_as_a_list",
    "diverged_runs_as_a_string",
    "seed_column_as_text",
    "step_column_as_text",
    "null_task_column",
    "seed_column_with_nulls",
    "some_null_runs",
    "null_layer_column",
    "metadata_loss_too_large_for_a_float",
    "metadata_parameters_infinite",
    "text_seed_in_metadata",
]


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_run(tmp_path_factory.mktemp("base") / "20261122-134501-sgd-vs-huge")


def saved_page() -> AppTest:
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="results").set_value("saved").run()
    assert not at.exception, at.exception
    return at


def shown_texts(at: AppTest) -> list[str]:
    """Every text the page shows: messages, captions, headings, the picker's entries and the runs table."""
    texts = page_text(at)
    texts += [str(o) for picker in at.multiselect if picker.key == "open_runs" for o in picker.options]
    for frame in at.dataframe:
        texts += [str(v) for v in frame.value.to_numpy().ravel()]
    return texts


@pytest.mark.parametrize("case", KNOWN)
def test_a_damaged_run_says_why_it_cannot_open_instead_of_raising(saved_run, runs_directory, jobs, case):
    path = copy_of(saved_run, runs_directory)
    DAMAGES[case][0](path)
    at = saved_page()
    at.multiselect(key="open_runs").set_value([str(path)]).run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1, page_text(at)
    assert errors[0].startswith(f"Cannot open {path.name} because ") and "expected" in errors[0], errors[0]
    assert str(runs_directory) not in errors[0]


def test_a_run_with_steps_too_large_for_a_table_is_listed_and_opens(saved_run, runs_directory, jobs):
    path = copy_of(saved_run, runs_directory)
    DAMAGES["steps_too_large_for_a_table"][0](path)
    at = saved_page()
    assert list(at.dataframe[0].value["steps"]) == [0]
    at.multiselect(key="open_runs").set_value([str(path)]).run()
    assert not at.exception, at.exception
    assert not at.error, page_text(at)


def test_linked_and_unreadable_runs_are_noted_and_a_linked_file_is_refused(saved_run, runs_directory, tmp_path, jobs):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    linked = copy_of(saved_run, tmp_path, "elsewhere")
    runs_directory.mkdir(parents=True)
    (runs_directory / "20261122-134502-linked").symlink_to(linked, target_is_directory=True)
    pipe = copy_of(saved_run, runs_directory, "20261122-134503-pipe")
    (pipe / SUMMARY_FILE).unlink()
    os.mkfifo(pipe / SUMMARY_FILE)
    path = copy_of(saved_run, runs_directory)
    (path / "config.json").unlink()
    (path / "config.json").symlink_to(secret)

    at = saved_page()

    assert len(at.multiselect(key="open_runs").options) == 1  # the run with the linked config
    captions = [c.value for c in at.caption]
    assert any("20261122-134502-linked: skipped, it is a symbolic link" in c for c in captions), captions
    assert any("20261122-134503-pipe: skipped, summary.json: expected a plain file" in c for c in captions), captions
    at.multiselect(key="open_runs").set_value([str(path)]).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        f"Cannot open {path.name} because config.json is a symbolic link; saved runs are plain files"
    ]


def test_two_runs_with_one_title_saved_in_the_same_second_read_apart_and_both_open(saved_run, runs_directory, jobs):
    config, records = load_run(saved_run)
    metadata = load_metadata(saved_run, config)
    table = pd.DataFrame(load_summary(saved_run)["final"])
    paths = []
    for _ in range(2):
        path = new_run_dir(runs_directory, "SGD vs Huge", now=NOW)
        save_run(path, config, records, run_summary(config, table, status="finished", steps=20, metadata=metadata))
        paths.append(str(path))
    at = saved_page()
    shown = at.multiselect(key="open_runs").options  # as the picker reads
    assert len(shown) == 2 and len(set(shown)) == 2, shown
    for path in paths:
        at.multiselect(key="open_runs").set_value([path]).run()
        assert not at.exception, at.exception
        assert not at.error, page_text(at)
        assert "Summary" in [s.value for s in at.subheader]
    at.multiselect(key="open_runs").set_value(paths).run()
    assert not at.exception and not at.error, page_text(at)
    assert "Two runs overlaid" in [s.value for s in at.subheader]


def test_no_server_path_is_shown(saved_run, runs_directory, jobs):
    at = saved_page()  # no runs yet: where they will be kept, in words
    assert at.info and not [t for t in shown_texts(at) if str(runs_directory) in t], shown_texts(at)
    good = copy_of(saved_run, runs_directory)
    broken = copy_of(saved_run, runs_directory, "20261122-134502-broken")
    DAMAGES["null_task_column"][0](broken)
    unreadable = copy_of(saved_run, runs_directory, "20261122-134503-unreadable")
    DAMAGES["summary_a_folder"][0](unreadable)  # reading it gives an OSError naming the whole path

    at = saved_page()
    assert any("unreadable" in c.value for c in at.caption), page_text(at)
    for chosen in ([good], [broken], [good, broken]):
        at.multiselect(key="open_runs").set_value([str(p) for p in chosen]).run()
        assert not at.exception, at.exception
        texts = shown_texts(at)
        assert not [t for t in texts if str(runs_directory.parent) in t], texts
    at.multiselect(key="open_runs").set_value([str(good)]).run()
    assert any(f"Folder: {good.name}" in c.value for c in at.caption), page_text(at)


def test_a_classroom_session_never_sees_other_sessions_folder_names(saved_run, runs_directory, jobs, monkeypatch):
    monkeypatch.setenv("MTLVIZ_RUNS_VISIBLE", "session")
    mine = copy_of(saved_run, runs_directory, "20261122-134501-mine")
    others = ["20261122-134502-theirs", "20261122-134503-theirs-broken", "20261122-134504-theirs-linked"]
    copy_of(saved_run, runs_directory, others[0])
    DAMAGES["summary_a_folder"][0](copy_of(saved_run, runs_directory, others[1]))
    (runs_directory / others[2]).symlink_to(runs_directory / others[0], target_is_directory=True)
    (runs_directory / "20261122-134505-theirs-incomplete").mkdir()
    at = started_app(APP_TIMEOUT)
    at.session_state["own_runs"] = [str(mine)]
    at.segmented_control(key="results").set_value("saved").run()
    at.multiselect(key="open_runs").set_value([str(mine)]).run()
    assert not at.exception, at.exception
    texts = shown_texts(at)
    assert not [t for t in texts if "theirs" in t or str(runs_directory) in t], texts


def test_the_runs_table_neutralises_formula_like_text_for_its_csv_download(runs_directory, jobs):
    path = runs_directory / "20261122-134501-hostile"
    path.mkdir(parents=True)
    summary = {
        "title": '=HYPERLINK("http://x","y")',
        "created": "2026-11-22T13:45:01+00:00",
        "status": "@finished",
        "steps": 10,
        "runs": ["+SGD", "Adam"],
        "tasks": ["-1+1", "\tTab", "\rReturn", "plain"],
        "description": {"source": "=cmd|' /C calc'!A0", "sharing": "Hard sharing", "subtitle": "x"},
    }
    (path / SUMMARY_FILE).write_text(json.dumps(summary))
    at = saved_page()
    [table] = [d.value for d in at.dataframe]
    row = table.iloc[0]
    assert row["title"] == '\'=HYPERLINK("http://x","y")'
    assert row["tasks from"] == "'=cmd|' /C calc'!A0"
    assert row["status"] == "'@finished"
    assert row["runs"] == "'+SGD, Adam"
    assert row["tasks"] == "'-1+1, \tTab, \rReturn, plain"
    assert row["sharing"] == "Hard sharing"
    assert row["steps"] == 10  # numbers stay numbers


def test_a_runs_folder_left_by_a_killed_save_is_swept_when_the_page_lists_it(saved_run, runs_directory, jobs):
    path = copy_of(saved_run, runs_directory)
    stale = path / f".metrics.parquet.{'cd' * 16}.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))
    saved_page()
    assert not stale.exists()
