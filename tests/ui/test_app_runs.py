"""Saved runs, shared links, classroom presets, seeds and sweeps, driven through AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_app import APP, has_summary, page_text, progress_text, run_until, started_app, summary_frame

from mtlviz.config import ExperimentConfig, ModelConfig, OptimizerConfig, SyntheticTasks, TaskSpec, TrainConfig
from mtlviz.jobs import TrainingJob
from mtlviz.presets import PRESETS
from mtlviz.run import run_experiment
from mtlviz.share import QUERY_KEY, decode_config, encode_config
from mtlviz.store import new_run_dir, runs_dir

APP_TIMEOUT = 60


def saved(labels: tuple[str, ...], steps: int = 30, model: ModelConfig | None = None) -> str:
    """Train and save a small run into the test's runs directory; its path."""
    config = ExperimentConfig(
        tasks=SyntheticTasks(num_samples=300),
        model=model or ModelConfig(hidden=8, depth=1),
        optimizers=tuple(OptimizerConfig("sgd", 0.01 * (i + 1), label) for i, label in enumerate(labels)),
        train=TrainConfig(steps=steps, batch_size=32, eval_every=10),
    )
    result = run_experiment(config, save_to=lambda: new_run_dir(runs_dir(), " vs ".join(labels)))
    assert result.saved is not None, result.save_error
    return str(result.saved)


def chart_runs(at: AppTest) -> set[str]:
    """The run names the (first) chart draws lines for."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {t["name"] for t in spec["data"] if t.get("name") and t.get("mode", "").startswith("lines")}


def test_a_saved_run_opens_with_its_charts_and_summary(jobs: list[TrainingJob]) -> None:
    path = saved(("Slow", "Fast"))
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="results").set_value("saved").run()
    assert [o.split(" · ")[0] for o in at.multiselect(key="open_runs").options] == ["Slow vs Fast"]
    at.multiselect(key="open_runs").set_value([path]).run()
    assert not at.exception, at.exception
    assert "Summary" in [s.value for s in at.subheader]
    summary = summary_frame(at)
    assert set(summary["run"]) == {"Slow", "Fast"}
    # Its settings go back into the sidebar, ready to train again.
    at.button(key="load_saved_settings").click().run()
    assert not at.exception, at.exception
    labels = {at.session_state[f"opt{uid}_label"] for uid in at.session_state["optimizer_uids"]}
    assert labels == {"Slow", "Fast"}
    assert at.session_state["steps"] == 30
    assert at.session_state["results"] == "experiment"


@pytest.mark.parametrize("sharing", ["mmoe", "cross_stitch"])
def test_a_saved_run_of_a_strategy_with_shared_parameters_shows_its_conflict(
    jobs: list[TrainingJob],
    sharing: str,
) -> None:
    """Whether a strategy shares parameters is the engine's fact, saved with the run: mmoe's
    experts and cross-stitch's units are shared, though neither is a "hard" trunk."""
    path = saved(("SGD",), model=ModelConfig(sharing=sharing, hidden=8, depth=1, experts=2))
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="results").set_value("saved").run()
    at.multiselect(key="open_runs").set_value([path]).run()
    at.segmented_control(key="view").set_value("Conflict").run()
    assert not at.exception, at.exception
    assert not any("no shared parameters" in i.value for i in at.info), page_text(at)
    assert any("**task A** and **task B**" in m.value for m in at.markdown), page_text(at)
    # cosines, their distribution, the latest heatmap, task gradient norms
    assert len(at.get("plotly_chart")) == 4


@pytest.mark.parametrize("sharing", ["hard", "independent"])
def test_a_run_saved_before_metadata_decides_conflict_by_its_records(
    jobs: list[TrainingJob],
    sharing: str,
) -> None:
    path = saved(("SGD",), model=ModelConfig(sharing=sharing, hidden=8, depth=1))
    summary_path = Path(path) / "summary.json"
    summary = json.loads(summary_path.read_text())
    del summary["metadata"]  # as saved before runs kept their metadata
    summary_path.write_text(json.dumps(summary))
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="results").set_value("saved").run()
    at.multiselect(key="open_runs").set_value([path]).run()
    at.segmented_control(key="view").set_value("Conflict").run()
    assert not at.exception, at.exception
    says_nothing_shared = any("no shared parameters" in i.value for i in at.info)
    assert says_nothing_shared == (sharing == "independent"), page_text(at)
    assert len(at.get("plotly_chart")) == (0 if sharing == "independent" else 4)


def test_two_saved_runs_overlay_on_one_chart(jobs: list[TrainingJob]) -> None:
    first, second = saved(("SGD",)), saved(("SGD", "Other"))
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="results").set_value("saved").run()
    at.multiselect(key="open_runs").set_value([first, second]).run()
    assert not at.exception, at.exception
    assert "Two runs overlaid" in [s.value for s in at.subheader]
    assert {"Run 1", "Run 2"} <= {m.value.strip("*") for m in at.markdown}
    # Each run's table reads like the main summary: the same columns and number formats, not raw floats.
    tables = [d.value for d in at.dataframe if "at step" in d.value.columns]
    assert len(tables) == 2
    for table in tables:
        assert {"val loss", "accuracy / R²", "RMSE (units)", "status"} <= set(table.columns)
        assert all(isinstance(v, str) for v in table["val loss"])


def test_saved_runs_with_the_same_optimizers_say_what_differs(jobs: list[TrainingJob]) -> None:
    first = saved(("SGD", "Adam"))
    second = saved(("SGD", "Adam"), model=ModelConfig(sharing="independent", hidden=8, depth=1))
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="results").set_value("saved").run()
    table = at.dataframe[0].value  # the list of saved runs
    assert list(table["tasks from"]) == ["synthetic, 2 tasks, relatedness 0.5"] * 2
    assert list(table["sharing"]) == ["Independent", "Hard sharing"]  # newest first
    assert list(table["seeds"]) == ["seed 0", "seed 0"]
    at.multiselect(key="open_runs").set_value([first, second]).run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    assert "What differs: sharing: Hard sharing vs Independent." in captions, "\n".join(captions)
    # One time format: the table's and the captions' are the same text.
    saved_at = table["saved"].iloc[0]
    assert saved_at.endswith(" UTC") and "T" not in saved_at.removesuffix(" UTC")
    assert any(saved_at in c for c in captions), (saved_at, captions)


def test_the_page_link_holds_the_config_and_opens_it_again(jobs: list[TrainingJob]) -> None:
    at = started_app(APP_TIMEOUT)
    at.number_input(key="steps").set_value(345).run()
    at.number_input(key="seeds").set_value(3).run()
    # The link is ?config=...: links shared before keep opening only while the key stays "config".
    assert set(at.query_params) == {"config"}
    config = decode_config(at.query_params["config"])
    assert (config.train.steps, config.train.seeds) == (345, 3)
    # A new session opened from that link starts with the same experiment.
    fresh = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    fresh.query_params["config"] = at.query_params["config"]
    fresh.run()
    assert not fresh.exception, fresh.exception
    assert fresh.session_state["steps"] == 345 and fresh.session_state["seeds"] == 3
    assert decode_config(fresh.query_params[QUERY_KEY]) == config


def test_a_link_with_a_sweep_and_targets_restores_them(jobs: list[TrainingJob]) -> None:
    config = ExperimentConfig(
        tasks=SyntheticTasks(targets=(TaskSpec("price", loss_scale=10), TaskSpec("churn", "classification", 3))),
        optimizers=(OptimizerConfig("adam", (1e-4, 1e-3, 1e-2), "Adam"), OptimizerConfig("sgd", 0.1, "SGD")),
        train=TrainConfig(steps=200, seeds=2),
        val_targets={"churn": 0.7},
    )
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    at.query_params[QUERY_KEY] = encode_config(config)
    at.run()
    assert not at.exception, at.exception
    assert decode_config(at.query_params[QUERY_KEY]) == config


def test_a_broken_link_says_so_and_keeps_the_defaults(jobs: list[TrainingJob]) -> None:
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    at.query_params[QUERY_KEY] = "1.not-a-config"
    at.run()
    assert not at.exception, at.exception
    assert any("could not be opened" in t.value for t in at.toast)
    assert at.session_state["steps"] == 1000


@pytest.mark.parametrize("key", list(PRESETS))
def test_each_preset_sets_the_controls_and_starts(jobs: list[TrainingJob], key: str) -> None:
    preset = PRESETS[key]
    at = started_app(APP_TIMEOUT)
    at.selectbox(key="preset").set_value(key).run()
    assert not at.exception, at.exception
    assert any(preset.title in i.value for i in at.info), "the explanation is shown"
    assert decode_config(at.query_params[QUERY_KEY]) == preset.config
    at.button(key="start").click().run()
    run_until(at, lambda a: progress_text(a).startswith("Step") and "Step 0 " not in progress_text(a), 60, "steps")
    assert jobs[-1].config == preset.config
    jobs[-1].stop()


def test_seeds_and_a_sweep_train_and_summarise(jobs: list[TrainingJob]) -> None:
    config = ExperimentConfig(
        tasks=SyntheticTasks(num_samples=400),
        model=ModelConfig(hidden=16, depth=1),
        optimizers=(OptimizerConfig("adam", (1e-3, 1e-2), "Adam"), OptimizerConfig("sgd", 0.05, "SGD")),
        train=TrainConfig(steps=40, batch_size=32, eval_every=20, seeds=2),
        val_targets={"task A": 10.0},
    )
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    at.query_params[QUERY_KEY] = encode_config(config)
    at.run()
    at.button(key="start").click().run()
    run_until(at, has_summary, 90, "summary")
    summary = summary_frame(at)
    assert set(summary["run"]) == {"Adam lr=0.001", "Adam lr=0.01", "SGD"}
    assert set(summary["seeds"]) == {"2"}  # shown as text: "1 of 2" when a seed diverged
    assert set(summary.loc[summary["task"] == "task A", "target"]) == {"reached"}
    assert any("Best learning rate" in m.value for m in at.markdown)
    at.segmented_control(key="view").set_value("LR sensitivity").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 1
    at.segmented_control(key="view").set_value("Loss").run()
    assert chart_runs(at) == {"Adam lr=0.001", "Adam lr=0.01", "SGD"}
    at.toggle(key="chart_best_lr").set_value(True).run()
    assert not at.exception, at.exception
    best = next(m.value for m in at.markdown if "Best learning rate" in m.value).split("**Adam**: ")[1].split(";")[0]
    assert chart_runs(at) == {best.replace("\\", ""), "SGD"}  # only Adam's best lr, and SGD
    at.segmented_control(key="chart_band").set_value("minmax").run()
    at.segmented_control(key="chart_x").set_value("seconds").run()
    assert not at.exception, at.exception
    assert jobs[-1].saved is not None and str(jobs[-1].saved).startswith(str(runs_dir()))


def test_methods_grid_and_toy2d_views(jobs: list[TrainingJob]) -> None:
    config = ExperimentConfig.from_dict(
        {
            "tasks": {"source": "toy2d", "start": [-8.5, 7.5]},
            "optimizers": [{"name": "adam", "lr": 0.02, "label": "Adam"}],
            "methods": ["equal", "mgda", {"name": "cagrad", "c": 0.3}],
            "train": {"steps": 60, "eval_every": 20},
        }
    )
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    at.query_params[QUERY_KEY] = encode_config(config)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["task_source"] == "toy2d" and at.session_state["methods"] == ["equal", "mgda", "cagrad"]
    assert decode_config(at.query_params[QUERY_KEY]) == config
    at.button(key="start").click().run()
    run_until(at, has_summary, 90, "summary")
    assert jobs[-1].config == config
    summary = summary_frame(at)
    assert set(summary["run"]) == {"Adam · Equal weights", "Adam · MGDA", "Adam · CAGrad (c=0.3)"}
    assert "Task weights" in at.segmented_control(key="view").options
    at.segmented_control(key="view").set_value("Task weights").run()
    assert not at.exception, at.exception
    assert chart_runs(at) == set(summary["run"])
    at.segmented_control(key="view").set_value("Loss space").run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2  # the contour map with the paths, and L1 against L2


def test_a_classroom_server_lists_only_the_sessions_own_runs(
    jobs: list[TrainingJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved(("Someone else's",))
    monkeypatch.setenv("MTLVIZ_RUNS_VISIBLE", "session")
    at = started_app(APP_TIMEOUT)
    at.segmented_control(key="results").set_value("saved").run()
    assert any("No saved runs yet" in i.value for i in at.info)
    # The session's own run is listed once it is saved.
    at.segmented_control(key="results").set_value("experiment").run()
    at.number_input(key="steps").set_value(20).run()
    at.button(key="start").click().run()
    run_until(at, has_summary, 60, "summary")
    run_until(at, lambda a: any("Saved in" in c.value for c in a.caption), 30, "saved run")
    at.segmented_control(key="results").set_value("saved").run()
    titles = [o.split(" · ")[0] for o in at.multiselect(key="open_runs").options]
    assert titles == ["SGD vs Adam vs AdamW"]


def test_a_bundled_table_with_several_seeds_splits_it_per_seed(jobs: list[TrainingJob]) -> None:
    config = ExperimentConfig.from_dict(
        {
            "tasks": {"source": "table", "dataset": "penguins", "targets": ["species", "body_mass_g"]},
            "model": {"hidden": 16, "depth": 1},
            "optimizers": [{"name": "adam", "lr": 0.01, "label": "Adam"}],
            "train": {"steps": 30, "eval_every": 10, "seeds": 2, "batch_size": 32},
        }
    )
    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    at.query_params[QUERY_KEY] = encode_config(config)
    at.run()
    assert not at.exception, at.exception
    at.button(key="start").click().run()
    run_until(at, has_summary, 90, "summary")
    records = jobs[-1].frame(["val_loss"])
    start = records[records["step"] == 0].pivot_table(index="seed", columns="task", values="value", observed=True)
    # Two seeds: two splits and two initialisations, so two different starting losses.
    assert len(start) == 2 and not (start.iloc[0] == start.iloc[1]).all()
