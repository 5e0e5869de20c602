"""The budget: estimates checked against what real runs build and record, and the refusals they lead to.

Real runs are the reference: the engine's parameter counts (RunMetadata), its
records' pandas memory and its optimizers' state. The hostile configs are the
two that took a classroom server down: 64 models of width 1,024 and depth 8 with
mmoe sharing (7.85 B parameters), and 64 tiny models for 100,000 steps.
"""

from __future__ import annotations

import math
import pickle
import re
from dataclasses import replace

import pytest
import torch
from test_layering import import_with_blocked

from mtlviz import budget
from mtlviz.budget import (
    DEFAULT_CALIBRATION,
    RECORD_SHARE,
    Calibration,
    Estimate,
    Limits,
    check_run,
    estimate_run,
    format_bytes,
    format_count,
    format_duration,
    measure_calibration,
)
from mtlviz.config import (
    ExperimentConfig,
    MethodConfig,
    ModelConfig,
    OptimizerConfig,
    SyntheticTasks,
    TableTasks,
    TaskSpec,
    Toy2DTasks,
    TrainConfig,
)
from mtlviz.data.sources import build_taskset
from mtlviz.errors import BudgetError, MtlvizError
from mtlviz.models import SHARING
from mtlviz.optim import OPTIMIZERS
from mtlviz.presets import PRESETS
from mtlviz.run import run_experiment

MB = 1 << 20
CLASSROOM_MB = 640  # a quarter of a 2.5 GB server
# Short runs that write every kind of record: statistics, conflicts and evaluations every 10 steps.
SHORT = TrainConfig(steps=30, batch_size=32, eval_every=10, stats_every=10, conflict_every=10, device="cpu")
THREE_TASKS = SyntheticTasks(
    targets=(TaskSpec("a"), TaskSpec("b", "classification", num_classes=3), TaskSpec("c")), num_samples=400
)


def sweep(name: str = "adam") -> tuple[OptimizerConfig, ...]:
    """8 configurations x 8 learning rates: 64 models side by side, the most the config allows."""
    return tuple(OptimizerConfig(name, tuple(1e-4 * (j + 1) for j in range(8)), f"{name} {i}") for i in range(8))


def huge() -> ExperimentConfig:
    tasks = tuple(TaskSpec(f"task {i}", "classification", num_classes=100) for i in range(8))
    return ExperimentConfig(
        tasks=SyntheticTasks(targets=tasks, input_dim=256),
        model=ModelConfig(sharing="mmoe", hidden=1024, depth=8, experts=16),
        optimizers=sweep(),
        train=TrainConfig(batch_size=4096),
    )


def long() -> ExperimentConfig:
    return ExperimentConfig(
        tasks=SyntheticTasks(targets=tuple(TaskSpec(f"task {i}") for i in range(8))),
        model=ModelConfig(hidden=8, depth=8),
        optimizers=sweep(),
        train=TrainConfig(steps=100_000),
    )


@pytest.fixture
def classroom(monkeypatch) -> Limits:
    monkeypatch.setenv("MTLVIZ_JOB_MEMORY_MB", str(CLASSROOM_MB))
    monkeypatch.delenv("MTLVIZ_JOB_SECONDS", raising=False)
    return Limits.for_server()


@pytest.fixture
def server_defaults(monkeypatch) -> Limits:
    monkeypatch.delenv("MTLVIZ_JOB_MEMORY_MB", raising=False)
    monkeypatch.delenv("MTLVIZ_JOB_SECONDS", raising=False)
    monkeypatch.delenv("MTLVIZ_MAX_ROWS", raising=False)
    return Limits.for_server()


# ------------------------------------------------------------------ estimates against real runs


def small(**changes) -> ExperimentConfig:
    return ExperimentConfig(**{"tasks": THREE_TASKS, "train": SHORT, **changes})


ACCURACY = {
    "hard": small(),
    "mmoe": small(model=ModelConfig(sharing="mmoe", hidden=16, depth=2, experts=3)),
    "cross_stitch, two methods, two seeds": small(
        model=ModelConfig(sharing="cross_stitch", hidden=16),
        methods=(MethodConfig("pcgrad"), MethodConfig("uncertainty")),
        train=replace(SHORT, seeds=2),
    ),
    "soft_chain, momentum sweep, radam": small(
        model=ModelConfig(sharing="soft_chain", hidden=16, depth=3),
        optimizers=(OptimizerConfig("sgd", (0.01, 0.05), "SGD", {"momentum": 0.9}), OptimizerConfig("radam", 1e-3)),
    ),
    "independent, rmsprop centered": small(
        model=ModelConfig(sharing="independent", hidden=16),
        optimizers=(OptimizerConfig("rmsprop", 1e-3, options={"centered": True, "momentum": 0.5}),),
    ),
    "soft, dwa and uncertainty": small(
        model=ModelConfig(sharing="soft", hidden=16), methods=(MethodConfig("dwa"), MethodConfig("uncertainty"))
    ),
    "hard, gradnorm": small(methods=(MethodConfig("gradnorm"), MethodConfig("static"))),
    "hard, depth 0": small(model=ModelConfig(depth=0)),
    "toy2d": ExperimentConfig(
        tasks=Toy2DTasks(), methods=(MethodConfig("equal"), MethodConfig("mgda")), train=replace(SHORT, eval_every=7)
    ),
    "table (penguins)": ExperimentConfig(
        tasks=TableTasks(dataset="penguins", targets=(TaskSpec("species", "auto"), TaskSpec("body_mass_g", "auto"))),
        model=ModelConfig(sharing="mmoe", hidden=16),
        train=SHORT,
    ),
}


def sizes_of(config: ExperimentConfig) -> dict:
    """A prepared table's sizes, as the CLI and the server pass them; nothing for other sources."""
    if not isinstance(config.tasks, TableTasks):
        return {}
    data = build_taskset(config.tasks, config.train.seed)
    return {
        "input_dim": data.input_dim,
        "output_dims": [t.output_dim for t in data.tasks],
        "train_rows": data.x_train.shape[0],
    }


@pytest.fixture(scope="module", params=list(ACCURACY), ids=list(ACCURACY))
def trained(request):
    """(config, its estimate, the real run, the engine that trained it)."""
    config = ACCURACY[request.param]
    estimate = estimate_run(config, **sizes_of(config))
    engines = []
    result = run_experiment(config, on_start=engines.append)
    return config, estimate, result, engines[0]


def test_every_sharing_strategy_is_covered_by_the_accuracy_configs():
    assert {c.model.sharing for c in ACCURACY.values() if not isinstance(c.tasks, Toy2DTasks)} == set(SHARING)


def test_the_parameter_count_is_the_engines(trained):
    _, estimate, result, _ = trained
    metadata = result.metadata
    assert estimate.rows == len(metadata.rows)
    assert estimate.parameters == metadata.parameters * len(metadata.rows)  # metadata counts one row
    assert estimate.shared_parameters == metadata.shared_parameters


def test_the_record_estimate_is_an_upper_bound_within_a_few_percent(trained):
    _, estimate, result, _ = trained
    real = int(result.records.memory_usage(deep=True).sum())
    assert estimate.records >= len(result.records)
    assert real <= estimate.record_bytes <= 1.05 * real + 1024


def test_the_record_estimate_scales_with_the_run(trained):
    """Training 30 steps more adds what the layout says: the count of a longer run is exact too."""
    config, estimate, result, _ = trained
    longer = replace(config, train=replace(config.train, steps=60))
    real = run_experiment(longer)
    layout = estimate.record_layout
    assert layout.count(longer.train) == len(real.records)
    assert layout.bytes(longer.train) >= real.records.memory_usage(deep=True).sum()
    assert layout.bytes(longer.train) <= 2 * real.records.memory_usage(deep=True).sum()


def test_the_optimizer_state_is_what_the_optimizers_hold(trained):
    config, estimate, _, engine = trained
    held = sum(
        value.numel() * value.element_size()
        for optimizer in engine.optimizers
        for state in optimizer.state.values()
        for value in state.values()
        if torch.is_tensor(value) and value.dim() > 0  # not the step counters
    )
    element = engine.params[0].element_size()
    per_row = sum(p[0].numel() for p in engine.params)
    temporaries = budget.FOREACH_TEMPORARIES * per_row * element
    fused = all(OPTIMIZERS[o.name].fused for o in config.optimizers)
    assert estimate.optimizer_state_bytes == held + (0 if fused else temporaries)


def test_parameter_bytes_count_weights_and_two_gradients(trained):
    _, estimate, _, engine = trained
    weights = sum(p.numel() * p.element_size() for p in engine.model.parameters())
    assert estimate.parameter_bytes == 3 * weights


def test_activations_grow_with_the_batch_and_the_rows():
    base = estimate_run(small(train=replace(SHORT, batch_size=64)))
    wider = estimate_run(small(train=replace(SHORT, batch_size=128)))
    more = estimate_run(small(optimizers=sweep()[:2], train=replace(SHORT, batch_size=64)))
    assert 1.8 * base.activation_bytes < wider.activation_bytes < 2.2 * base.activation_bytes
    assert more.rows == 16 and more.activation_bytes > 4 * base.activation_bytes


def test_a_tables_estimate_needs_its_prepared_sizes():
    config = ACCURACY["table (penguins)"]
    with pytest.raises(ValueError, match="known only once it is prepared"):
        estimate_run(config)
    with pytest.raises(ValueError, match="one output size per target"):
        estimate_run(config, input_dim=8, output_dims=[3], train_rows=200)


@pytest.mark.parametrize("seeds", [1, 3])
@pytest.mark.parametrize("samples", [400, 4000])
def test_the_data_estimate_covers_every_seeds_tensors(seeds, samples):
    config = small(tasks=replace(THREE_TASKS, num_samples=samples), train=replace(SHORT, seeds=seeds))
    tensors = sum(
        t.numel() * t.element_size()
        for seed in config.train.seed_values
        for t in (lambda d: (d.x_train, d.y_train, d.x_val, d.y_val))(build_taskset(config.tasks, seed))
    )
    # Several seeds are stacked into one more copy; every source draws one seed in float64 first.
    assert tensors < estimate_run(config).table_bytes <= 4 * tensors


# ------------------------------------------------------------------ the hostile configs


def test_the_huge_config_has_the_parameters_counted_by_hand():
    config = huge()
    h, d, e, t, c, depth = 1024, 256, 16, 8, 100, 8
    experts = e * (d * h + h + (depth - 1) * (h * h + h))
    gates = t * (d * e + e)
    heads = t * (h * c + c)
    estimate = estimate_run(config)
    assert estimate.parameters == 64 * (experts + gates + heads) == 7_847_602_176
    assert estimate.shared_parameters == experts
    assert estimate.describe().startswith("7.85 B parameters, ")


@pytest.mark.parametrize("limits", ["classroom", "server_defaults"])
def test_the_huge_config_is_refused_naming_the_estimate_and_the_budget(request, limits):
    limits = request.getfixturevalue(limits)
    config = huge()
    estimate = estimate_run(config)
    with pytest.raises(BudgetError) as info:
        check_run(config, estimate, limits)
    message = str(info.value)
    assert isinstance(info.value, MtlvizError) and isinstance(info.value, ValueError)
    assert "\n" not in message
    assert "7.85 B parameters" in message
    assert f"over the budget of {format_bytes(limits.memory_bytes)} per run" in message
    assert "even one model needs about" in message and "smaller width (1,024), depth (8)" in message
    assert "batch (4,096)" in message
    assert re.search(r"time: projected [\d.]+ (days|years)", message)


@pytest.mark.parametrize("limits", ["classroom", "server_defaults"])
def test_the_long_run_is_refused_for_its_records_with_steps_that_fit(request, limits):
    limits = request.getfixturevalue(limits)
    config = long()
    estimate = estimate_run(config)
    share = int(limits.memory_bytes * RECORD_SHARE)
    # About 80 MB of records per 1,000 steps: 8 GB for the whole run.
    assert 60 * 1e6 < estimate.record_bytes / 100 < 120 * 1e6
    with pytest.raises(BudgetError) as info:
        check_run(config, estimate, limits)
    message = str(info.value)
    assert f"records: {format_count(estimate.records)} record rows for 100,000 steps" in message
    assert f"about {format_bytes(estimate.record_bytes)}" in message
    assert f"over their share of the budget ({format_bytes(share)} of {format_bytes(limits.memory_bytes)}" in message
    steps = int(re.search(r"lower train\.steps to ([\d,]+)", message).group(1).replace(",", ""))
    fits = estimate_run(replace(config, train=replace(config.train, steps=steps)))
    over = estimate_run(replace(config, train=replace(config.train, steps=steps + 1)))
    assert fits.record_bytes <= share < over.record_bytes
    # The losses of every step alone are over the share: raising the intervals cannot help.
    assert "raise train." not in message


def test_records_that_fit_with_rarer_statistics_name_the_interval(classroom):
    config = ExperimentConfig(
        tasks=SyntheticTasks(targets=tuple(TaskSpec(f"task {i}") for i in range(8))),
        model=ModelConfig(hidden=16, depth=8),
        train=TrainConfig(steps=100_000, stats_every=1, conflict_every=2, eval_every=1000),
    )
    estimate = estimate_run(config)
    share = int(classroom.memory_bytes * RECORD_SHARE)
    with pytest.raises(BudgetError) as info:
        check_run(config, estimate, classroom)
    found = re.search(r"raise train\.stats_every and train\.conflict_every to ([\d,]+)", str(info.value))
    assert found, str(info.value)
    every = int(found.group(1).replace(",", ""))

    def records(n: int) -> int:
        train = replace(config.train, stats_every=max(1, n), conflict_every=max(2, n))
        return estimate_run(replace(config, train=train)).record_bytes

    assert records(every) <= share < records(every - 1)


def test_every_problem_is_named_at_once(classroom):
    config = ExperimentConfig(
        model=ModelConfig(hidden=1024, depth=8),
        optimizers=sweep(),
        train=TrainConfig(steps=100_000, batch_size=4096),
    )
    with pytest.raises(BudgetError) as info:
        check_run(config, estimate_run(config), classroom)
    message = str(info.value)
    assert message.count("memory: ") == message.count("records: ") == message.count("time: ") == 1
    assert "at most" in message or "even one model" in message


def test_a_run_over_the_time_budget_is_told_how_many_steps_fit():
    calibration = Calibration(flops_per_second=1e9, seconds_per_step=0.01, seconds_per_row=0.001)
    limits = Limits(memory_bytes=None, seconds=60.0)
    config = ExperimentConfig(train=TrainConfig(steps=10_000))
    estimate = estimate_run(config)
    projected = calibration.project_seconds(config, estimate)
    assert projected > 60
    with pytest.raises(BudgetError) as info:
        check_run(config, estimate, limits, calibration)
    message = str(info.value)
    assert f"time: projected {format_duration(projected)} for 10,000 steps at " in message
    assert "steps/s; the budget per run is 1 min" in message
    steps = int(re.search(r"at most ([\d,]+) steps fit", message).group(1).replace(",", ""))
    fewer = replace(config, train=replace(config.train, steps=steps))
    assert (
        calibration.project_seconds(fewer, estimate)
        <= 60
        < calibration.project_seconds(replace(config, train=replace(config.train, steps=steps + 1)), estimate)
    )
    check_run(fewer, estimate, limits, calibration)  # fits: no error


def test_no_limits_refuse_nothing():
    config = huge()
    check_run(config, estimate_run(config), Limits(memory_bytes=None, seconds=None))


# ------------------------------------------------------------------ ordinary configs pass


ORDINARY = {"default": ExperimentConfig(), **{f"preset {key}": preset.config for key, preset in PRESETS.items()}}


@pytest.mark.parametrize("name", list(ORDINARY))
@pytest.mark.parametrize("limits", ["classroom", "server_defaults"])
def test_ordinary_configs_pass_the_server_limits(request, name, limits):
    limits = request.getfixturevalue(limits)
    config = ORDINARY[name]
    estimate = estimate_run(config)
    check_run(config, estimate, limits)
    check_run(config, estimate, limits, DEFAULT_CALIBRATION)
    assert estimate.total_bytes < 100 * 1e6  # far inside the budget, not just under it


# ------------------------------------------------------------------ limits


def test_server_limits_default_to_a_quarter_of_memory_at_most_4_gb_and_15_minutes(server_defaults):
    assert server_defaults.memory_bytes == min(budget.physical_memory() // 4, 4096 * MB)
    assert server_defaults.seconds == 900
    assert server_defaults.rows == 256


def test_server_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MTLVIZ_JOB_MEMORY_MB", "1536")
    monkeypatch.setenv("MTLVIZ_JOB_SECONDS", "120.5")
    monkeypatch.setenv("MTLVIZ_MAX_ROWS", "96")
    assert Limits.for_server() == Limits(memory_bytes=1536 * MB, seconds=120.5, rows=96)
    monkeypatch.setenv("MTLVIZ_JOB_MEMORY_MB", "0")
    monkeypatch.setenv("MTLVIZ_JOB_SECONDS", "0")
    monkeypatch.setenv("MTLVIZ_MAX_ROWS", "0")
    assert Limits.for_server() == Limits(memory_bytes=None, seconds=None, rows=None)  # 0: no limit


@pytest.mark.parametrize("variable", ["MTLVIZ_JOB_MEMORY_MB", "MTLVIZ_JOB_SECONDS", "MTLVIZ_MAX_ROWS"])
@pytest.mark.parametrize("value", ["lots", "-5", "nan", "inf"])
def test_a_bad_limit_in_the_environment_names_the_variable_and_the_value(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=rf"{variable} must be a positive number.*found '{value}'"):
        Limits.for_server()


def test_machine_limits_are_80_percent_of_memory_without_a_time_limit(monkeypatch):
    monkeypatch.setattr(budget, "physical_memory", lambda: 10_000_000_000)
    assert Limits.for_machine() == Limits(memory_bytes=8_000_000_000, seconds=None)
    if not torch.cuda.is_available():
        assert Limits.for_machine("auto") == Limits.for_machine("cpu")


# ------------------------------------------------------------------ calibration, formats, layering


def test_measured_calibration_predicts_a_positive_time_that_grows_with_steps():
    calibration = measure_calibration("cpu")
    assert math.isfinite(calibration.flops_per_second) and calibration.flops_per_second > 1e7
    assert calibration.seconds_per_step >= 0 and calibration.seconds_per_row >= 0
    config = ExperimentConfig()
    estimate = estimate_run(config)
    short = calibration.project_seconds(replace(config, train=replace(config.train, steps=100)), estimate)
    assert 0 < short < calibration.project_seconds(config, estimate)
    assert pickle.loads(pickle.dumps(calibration)) == calibration  # sent from a worker process


def test_an_estimate_describes_itself_in_one_line():
    estimate = Estimate(
        parameters=7_847_602_176,
        shared_parameters=0,
        parameter_bytes=60_000_000_000,
        optimizer_state_bytes=34_000_000_000,
        activation_bytes=12_000_000_000,
        record_bytes=3_000_000,
    )
    assert estimate.describe() == (
        "7.85 B parameters, 94 GB for weights, gradients and optimizer state, 12 GB of activations, 3 MB of records"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45 s"),
        (0.5, "0.5 s"),
        (900, "15 min"),
        (3 * 3600, "3 h"),
        (29 * 86400, "29 days"),
        (3 * 365 * 86400, "3 years"),
    ],
)
def test_durations_read_in_the_largest_fitting_unit(seconds, text):
    assert format_duration(seconds) == text


def test_sizes_and_counts_read_in_decimal_units():
    assert [format_bytes(n) for n in (512, 3_000_000, 671_088_640, 94e9, 1.19e12)] == [
        "512 bytes",
        "3 MB",
        "671 MB",
        "94 GB",
        "1.19 TB",
    ]
    assert [format_count(n) for n in (5_634, 12_300_000, 7_847_602_176)] == ["5,634", "12.3 M", "7.85 B"]


def test_the_budget_imports_without_torch():
    result = import_with_blocked(("torch",), ["mtlviz.budget"])
    assert result.returncode == 0, result.stderr


def test_a_searched_momentum_counts_its_momentum_buffers() -> None:
    """Trials with momentum keep a buffer per parameter: a search from 0 must not be costed as none."""

    def estimate(lr, momentum) -> int:  # two trials each
        config = ExperimentConfig.from_dict(
            {"optimizers": [{"name": "sgd", "lr": lr, "momentum": momentum}], "train": {"steps": 10}}
        )
        return estimate_run(config).total_bytes

    assert estimate(0.1, [0.0, 0.9]) > estimate([0.1, 0.2], 0.0)
    assert estimate(0.1, [0.0, 0.9]) == estimate([0.1, 0.2], 0.9)  # an upper bound: each trial with its buffer
