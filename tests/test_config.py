"""ExperimentConfig validation and its strict JSON round trip.

Every bad value must end in a ConfigError whose field is the dotted path of the
offending value and whose message says what was found and what is allowed.
"""

from __future__ import annotations

import json

import pytest

from mtlviz.config import (
    ExperimentConfig,
    ModelConfig,
    OptimizerConfig,
    SyntheticTasks,
    TaskSpec,
    TrainConfig,
)
from mtlviz.errors import ConfigError
from mtlviz.optim import OPTIMIZERS


def config_error(data: object) -> ConfigError:
    """The ConfigError that ExperimentConfig.from_dict raises for `data`."""
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.from_dict(data)
    return info.value


def assert_names(error: ConfigError, path: str, *fragments: str) -> None:
    """The error names `path` (as its field and at the start of its message) and contains every fragment."""
    message = str(error)
    assert error.field == path, message
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def targets(*names: str, **extra: object) -> dict:
    """A `tasks` section with the given task names."""
    return {"targets": [{"name": n} for n in names], **extra}


def sgd(**fields: object) -> dict:
    return {"name": "sgd", "lr": 0.1, **fields}


# --------------------------------------------------------------------- out of range


OUT_OF_RANGE = [
    ({"train": {"steps": 0}}, "train.steps", "found 0", "[1, 100000]"),
    ({"train": {"steps": 100_001}}, "train.steps", "found 100001", "[1, 100000]"),
    ({"train": {"batch_size": 5000}}, "train.batch_size", "found 5000", "[1, 4096]"),
    ({"train": {"eval_every": 0}}, "train.eval_every", "found 0", "[1, 100000]"),
    ({"train": {"seed": -1}}, "train.seed", "found -1", "[0, 2147483647]"),
    ({"train": {"device": "tpu"}}, "train.device", "found 'tpu'", "auto, cpu, cuda"),
    ({"train": {"stats_every": -1}}, "train.stats_every", "found -1", "[0, 100000]"),
    ({"train": {"conflict_every": 100_001}}, "train.conflict_every", "found 100001", "[0, 100000]"),
    ({"model": {"hidden": 0}}, "model.hidden", "found 0", "[1, 1024]"),
    ({"model": {"depth": 9}}, "model.depth", "found 9", "[0, 8]"),
    ({"model": {"coupling": -0.5}}, "model.coupling", "found -0.5", "[0, 10000]"),
    ({"model": {"sharing": "medium"}}, "model.sharing", "found 'medium'", "independent, hard, soft, soft_chain"),
    ({"model": {"activation": "sigmoid"}}, "model.activation", "found 'sigmoid'", "relu, tanh, gelu"),
    ({"tasks": {"relatedness": 1.5}}, "tasks.relatedness", "found 1.5", "[-1, 1]"),
    ({"tasks": {"num_samples": 10}}, "tasks.num_samples", "found 10", "[20, 200000]"),
    ({"tasks": {"val_fraction": 0.95}}, "tasks.val_fraction", "found 0.95", "[0.05, 0.9]"),
    ({"tasks": {"input_dim": 300}}, "tasks.input_dim", "found 300", "[1, 256]"),
    ({"tasks": {"scale": 0}}, "tasks.scale", "found 0", "(0, 100]"),
    ({"tasks": {"noise_std": -1}}, "tasks.noise_std", "found -1", "[0, 100]"),
    ({"tasks": {"num_sines": 51}}, "tasks.num_sines", "found 51", "[0, 50]"),
    ({"tasks": {"source": "csv"}}, "tasks.source", "found 'csv'", "synthetic"),
    (
        {"tasks": {"targets": [{"name": "a", "loss_scale": 0}, {"name": "b"}]}},
        "tasks.targets[0].loss_scale",
        "found 0",
        "(0, 1e+06]",
    ),
    (
        {"tasks": {"targets": [{"name": "a"}, {"name": "b", "weight": -1}]}},
        "tasks.targets[1].weight",
        "found -1",
        "[0, 1e+06]",
    ),
    (
        {"tasks": {"targets": [{"name": "a", "type": "classification", "num_classes": 1}, {"name": "b"}]}},
        "tasks.targets[0].num_classes",
        "found 1",
        "[2, 100]",
    ),
    (
        {"tasks": {"targets": [{"name": "a", "type": "ranking"}, {"name": "b"}]}},
        "tasks.targets[0].type",
        "found 'ranking'",
        "regression, classification",
    ),
    ({"optimizers": [sgd(lr=0)]}, "optimizers[0].lr", "found 0", "(0, 10000]"),
    ({"optimizers": [sgd(lr=1e5)]}, "optimizers[0].lr", "found 100000", "(0, 10000]"),
    ({"optimizers": [sgd(lr=float("nan"))]}, "optimizers[0].lr", "found nan", "(0, 10000]"),
    ({"optimizers": [sgd(lr=float("inf"))]}, "optimizers[0].lr", "found inf", "(0, 10000]"),
    ({"optimizers": [sgd(momentum=1.0)]}, "optimizers[0].momentum", "found 1.0", "[0, 1)"),
    ({"optimizers": [sgd(weight_decay=11)]}, "optimizers[0].weight_decay", "found 11", "[0, 10]"),
    (
        {"optimizers": [{"name": "adam", "lr": 0.1, "betas": [0.9, 1.0]}]},
        "optimizers[0].betas[1]",
        "found 1.0",
        "[0, 1)",
    ),
    (
        {"optimizers": [{"name": "adam", "lr": 0.1, "betas": [0.9]}]},
        "optimizers[0].betas",
        "found [0.9]",
        "a pair [beta1, beta2]",
    ),
    ({"optimizers": [{"name": "lbfgs", "lr": 0.1}]}, "optimizers[0].name", "found 'lbfgs'", "sgd, adam, adamw"),
    ({"optimizers": [sgd(label="x" * 41)]}, "optimizers[0].label", "found 'xxxx", "at most 40 characters"),
    ({"tasks": {"targets": [{"name": " "}, {"name": "b"}]}}, "tasks.targets[0].name", "found ' '", "non-empty"),
]


@pytest.mark.parametrize(("data", "path", "found", "allowed"), OUT_OF_RANGE, ids=[case[1] for case in OUT_OF_RANGE])
def test_out_of_range_values_are_rejected_with_path_value_and_range(data, path, found, allowed):
    assert_names(config_error(data), path, found, allowed)


def test_an_integer_too_large_for_a_float_is_out_of_range():
    # 1 followed by 400 zeros is a valid JSON integer; float() of it overflows.
    error = config_error(json.loads('{"optimizers": [{"name": "sgd", "lr": 1' + "0" * 400 + "}]}"))
    assert_names(error, "optimizers[0].lr", "found ", "(0, 10000]")


WRONG_TYPES = [
    ({"train": {"steps": True}}, "train.steps", "found True"),
    ({"train": {"seed": False}}, "train.seed", "found False"),
    ({"model": {"depth": True}}, "model.depth", "found True"),
    ({"train": {"steps": 10.5}}, "train.steps", "found 10.5"),
    ({"train": {"steps": "100"}}, "train.steps", "found '100'"),
    ({"train": {"batch_size": None}}, "train.batch_size", "found None"),
    ({"tasks": {"relatedness": "0.5"}}, "tasks.relatedness", "found '0.5'"),
    ({"tasks": {"relatedness": True}}, "tasks.relatedness", "found True"),
    ({"model": {"coupling": [0.1]}}, "model.coupling", "found [0.1]"),
    ({"optimizers": [sgd(lr="0.1")]}, "optimizers[0].lr", "found '0.1'"),
    ({"optimizers": [sgd(momentum="0.9")]}, "optimizers[0].momentum", "found '0.9'"),
    ({"optimizers": [sgd(nesterov="yes", momentum=0.9)]}, "optimizers[0].nesterov", "found 'yes'"),
    ({"optimizers": [{"name": "adam", "lr": 0.1, "amsgrad": 1}]}, "optimizers[0].amsgrad", "found 1"),
    ({"optimizers": [{"name": "adam", "lr": 0.1, "betas": "ab"}]}, "optimizers[0].betas", "found 'ab'"),
    ({"optimizers": [{"name": "adam", "lr": 0.1, "betas": [0.9, "x"]}]}, "optimizers[0].betas[1]", "found 'x'"),
    ({"tasks": {"targets": [{"name": 3}, {"name": "b"}]}}, "tasks.targets[0].name", "found 3"),
]


@pytest.mark.parametrize(("data", "path", "found"), WRONG_TYPES, ids=[case[1] for case in WRONG_TYPES])
def test_wrong_types_are_rejected(data, path, found):
    assert_names(config_error(data), path, found, "expected")


def test_integral_floats_are_accepted_as_integers():
    # JSON writers sometimes emit 100.0 for an integer; that is not a type error.
    assert ExperimentConfig.from_dict({"train": {"steps": 100.0}}).train.steps == 100


@pytest.mark.parametrize(
    ("data", "path", "found"),
    [
        ({"model": None}, "model", "found NoneType"),
        ({"train": []}, "train", "found list"),
        ({"tasks": "synthetic"}, "tasks", "found str"),
        ({"tasks": {"targets": "ab"}}, "tasks.targets", "found str"),
        ({"tasks": {"targets": ["a", "b"]}}, "tasks.targets[0]", "found str"),
        ({"optimizers": {"name": "sgd"}}, "optimizers", "found dict"),
        ({"optimizers": [None]}, "optimizers[0]", "found NoneType"),
    ],
)
def test_sections_of_the_wrong_shape_are_rejected(data, path, found):
    assert_names(config_error(data), path, found, "expected")


def test_a_document_that_is_not_an_object_is_rejected():
    error = config_error([])
    assert "expected an object" in str(error)
    assert "list" in str(error)


# ---------------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    ("data", "path", "allowed"),
    [
        ({"trian": {}}, "trian", "tasks, model, optimizers, train"),
        ({"tasks": {"relatednes": 0.5}}, "tasks.relatednes", "relatedness"),
        ({"tasks": {"targets": [{"name": "a"}, {"name": "b", "scale": 2}]}}, "tasks.targets[1].scale", "loss_scale"),
        ({"model": {"width": 64}}, "model.width", "hidden"),
        ({"train": {"epochs": 3}}, "train.epochs", "steps"),
    ],
)
def test_unknown_keys_are_rejected_by_name(data, path, allowed):
    assert_names(config_error(data), path, "unknown key", allowed)


@pytest.mark.parametrize(
    ("optimizer", "key", "title"),
    [
        ({"name": "sgd", "lr": 0.1, "betas": [0.9, 0.99]}, "betas", "SGD"),
        ({"name": "adam", "lr": 0.1, "momentum": 0.9}, "momentum", "Adam"),
        ({"name": "adamw", "lr": 0.1, "nesterov": True}, "nesterov", "AdamW"),
        ({"name": "rmsprop", "lr": 0.1, "betas": [0.9, 0.99]}, "betas", "RMSprop"),
        ({"name": "radam", "lr": 0.1, "momentum_decay": 0.004}, "momentum_decay", "RAdam"),
        ({"name": "sgd", "lr": 0.1, "options": {"momentum": 0.9}}, "options", "SGD"),
    ],
)
def test_an_option_the_optimizer_does_not_have_is_rejected(optimizer, key, title):
    error = config_error({"optimizers": [{"name": "sgd", "lr": 1.0}, optimizer]})
    own = ", ".join(OPTIMIZERS[optimizer["name"]].options)
    assert_names(error, f"optimizers[1].{key}", f"{title} has no option {key!r}", own)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        # `path` is an internal dataclass field, never written by to_json: as a JSON key
        # it is an unknown key like any other, not a way to crash or relabel errors.
        ({"tasks": {"targets": [{"name": "a", "path": "x"}, {"name": "b"}]}}, "tasks.targets[0].path"),
        ({"tasks": {"path": "x"}}, "tasks.path"),
    ],
)
def test_internal_field_names_are_unknown_keys(data, path):
    assert_names(config_error(data), path, "unknown key")


# ------------------------------------------------------------------- missing fields


@pytest.mark.parametrize("missing", ["name", "lr"])
def test_an_optimizer_without_name_or_lr_is_rejected(missing):
    optimizer = {"name": "adam", "lr": 0.01}
    del optimizer[missing]
    assert_names(config_error({"optimizers": [optimizer]}), f"optimizers[0].{missing}", "missing")


def test_a_task_without_a_name_is_rejected():
    assert_names(config_error({"tasks": {"targets": [{"name": "a"}, {"type": "regression"}]}}), "tasks.targets[1].name")


# -------------------------------------------------------------- cross-field checks


def test_duplicate_labels_are_rejected():
    data = {"optimizers": [sgd(label="fast"), {"name": "adam", "lr": 0.01, "label": " fast "}]}
    assert_names(config_error(data), "optimizers[1].label", "'fast'", "unique")


def test_duplicate_default_labels_are_rejected():
    # Same name and lr: the derived labels collide even though the options differ.
    data = {"optimizers": [sgd(), sgd(momentum=0.9)]}
    assert_names(config_error(data), "optimizers[1].label", "'SGD lr=0.1'", "unique")


def test_duplicate_task_names_are_rejected():
    assert_names(config_error({"tasks": targets("a", "b", "a")}), "tasks.targets[2].name", "'a'", "unique")


@pytest.mark.parametrize(("num_tasks", "lowest"), [(3, "-0.5"), (4, "-0.3333"), (8, "-0.1429")])
def test_infeasible_relatedness_names_the_lowest_feasible_value(num_tasks, lowest):
    names = [f"t{i}" for i in range(num_tasks)]
    error = config_error({"tasks": targets(*names, relatedness=-0.6)})
    assert_names(error, "tasks.relatedness", "found -0.6", lowest)


@pytest.mark.parametrize("num_tasks", [2, 3, 5, 8])
def test_the_lowest_feasible_relatedness_itself_is_accepted(num_tasks):
    names = tuple(TaskSpec(f"t{i}") for i in range(num_tasks))
    tasks = SyntheticTasks(targets=names, relatedness=-1.0 / (num_tasks - 1))
    assert tasks.relatedness == pytest.approx(-1.0 / (num_tasks - 1))


def test_input_dim_smaller_than_the_number_of_tasks_is_rejected():
    error = config_error({"tasks": targets("a", "b", "c", "d", input_dim=3)})
    assert_names(error, "tasks.input_dim", "found 3", "(4)")


@pytest.mark.parametrize(
    "options",
    [{"nesterov": True}, {"nesterov": True, "momentum": 0.0}, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}],
)
def test_nesterov_needs_momentum_and_no_dampening(options):
    assert_names(config_error({"optimizers": [sgd(**options)]}), "optimizers[0].nesterov", "momentum > 0")


def test_nesterov_with_momentum_is_accepted():
    config = OptimizerConfig("sgd", 0.1, options={"nesterov": True, "momentum": 0.9})
    assert config.option("nesterov") is True


def test_more_than_eight_optimizers_are_rejected():
    data = {"optimizers": [sgd(lr=0.01 * (i + 1)) for i in range(9)]}
    assert_names(config_error(data), "optimizers", "found 9", "1 to 8")


def test_no_optimizers_are_rejected():
    assert_names(config_error({"optimizers": []}), "optimizers", "found 0", "1 to 8")


@pytest.mark.parametrize(("count", "found"), [(1, "found 1"), (9, "found 9")])
def test_too_few_or_too_many_tasks_are_rejected(count, found):
    names = [f"t{i}" for i in range(count)]
    assert_names(config_error({"tasks": targets(*names, input_dim=16)}), "tasks.targets", found, "2 to 8")


def test_classification_needs_enough_samples_per_class_in_each_split():
    tasks = {"num_samples": 20, "targets": [{"name": "a", "type": "classification", "num_classes": 3}, {"name": "b"}]}
    assert_names(config_error({"tasks": tasks}), "tasks.targets[0].num_classes", "6 samples", "found 4 validation")


def test_dataclasses_validate_on_direct_construction():
    with pytest.raises(ConfigError, match=r"^train\.steps: "):
        TrainConfig(steps=0)
    with pytest.raises(ConfigError, match=r"^model\.depth: "):
        ModelConfig(depth=-1)
    with pytest.raises(ConfigError, match=r"^optimizers\[0\]\.lr: "):
        OptimizerConfig("adam", -1.0)


# ---------------------------------------------------------------------------- JSON


@pytest.mark.parametrize("text", ["{", "", "{'train': {}}", '{"train": {"steps": 10,}}', "[1,"])
def test_invalid_json_is_a_config_error(text):
    with pytest.raises(ConfigError) as info:
        ExperimentConfig.from_json(text)
    assert "not valid JSON" in str(info.value)
    assert "line 1" in str(info.value)


def every_optimizer_config() -> ExperimentConfig:
    """Every optimizer with non-default options, and classification tasks."""
    tasks = SyntheticTasks(
        targets=(
            TaskSpec("price", loss_scale=10.0, weight=0.5),
            TaskSpec("click", type="classification", num_classes=2),
            TaskSpec("grade", type="classification", num_classes=5, weight=2.0),
        ),
        relatedness=-0.25,
        input_dim=12,
        num_samples=1000,
        val_fraction=0.3,
        scale=0.7,
        num_sines=3,
        noise_std=0.05,
    )
    optimizers = (
        OptimizerConfig("sgd", 0.1, "", {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
        OptimizerConfig("adam", 3e-4, "Adam (ams)", {"betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True}),
        OptimizerConfig("adamw", 1e-3, "", {"weight_decay": 0.1, "betas": [0.85, 0.95]}),
        OptimizerConfig("rmsprop", 1e-2, "", {"alpha": 0.9, "momentum": 0.5, "centered": True}),
        OptimizerConfig("adagrad", 0.05, "", {"lr_decay": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-8}),
        OptimizerConfig("nadam", 2e-3, "", {"momentum_decay": 0.01, "decoupled_weight_decay": True}),
        OptimizerConfig("radam", 2e-3, "", {"weight_decay": 0.01, "decoupled_weight_decay": True}),
    )
    model = ModelConfig(sharing="soft_chain", hidden=24, depth=3, activation="gelu", coupling=0.5)
    train = TrainConfig(
        steps=777, batch_size=33, eval_every=7, seed=12345, device="cpu", stats_every=0, conflict_every=3
    )
    return ExperimentConfig(tasks, model, optimizers, train)


@pytest.mark.parametrize("config", [ExperimentConfig(), every_optimizer_config()], ids=["default", "every_optimizer"])
def test_json_round_trip(config):
    text = config.to_json()
    again = ExperimentConfig.from_json(text)
    assert again == config
    assert again.to_json() == text


def test_round_trip_keeps_every_non_default_setting():
    # Guard against a round trip that is equal only because both sides fell back to defaults.
    config = ExperimentConfig.from_json(every_optimizer_config().to_json())
    assert {o.name for o in config.optimizers} == set(OPTIMIZERS)
    assert config.optimizers[1].option("betas") == (0.8, 0.99)
    assert config.optimizers[2].option("betas") == (0.85, 0.95)
    assert config.optimizers[3].option("centered") is True
    assert config.tasks.targets[2] == TaskSpec("grade", type="classification", num_classes=5, weight=2.0)
    assert config.tasks.relatedness == -0.25
    assert config.model.sharing == "soft_chain"
    assert config.train.seed == 12345
    assert (config.train.stats_every, config.train.conflict_every) == (0, 3)


def test_json_holds_options_flat_in_each_optimizer():
    data = json.loads(every_optimizer_config().to_json())
    assert data["optimizers"][0] == {
        "name": "sgd",
        "label": "SGD lr=0.1",
        "lr": 0.1,
        "momentum": 0.9,
        "nesterov": True,
        "weight_decay": 1e-4,
    }
    assert "path" not in data["tasks"]
    assert all("path" not in t for t in data["tasks"]["targets"])


def test_missing_sections_take_defaults():
    assert ExperimentConfig.from_json("{}") == ExperimentConfig()


@pytest.mark.parametrize(
    ("name", "lr", "label"),
    [("sgd", 0.05, "SGD lr=0.05"), ("adam", 1e-3, "Adam lr=0.001"), ("rmsprop", 2.5e-4, "RMSprop lr=0.00025")],
)
def test_default_label_is_derived_from_name_and_lr(name, lr, label):
    assert OptimizerConfig(name, lr).label == label
    assert OptimizerConfig(name, lr, "   ").label == label
    config = ExperimentConfig.from_dict({"optimizers": [{"name": name, "lr": lr}]})
    assert config.labels == (label,)


def test_explicit_labels_are_stripped_and_kept():
    assert OptimizerConfig("sgd", 0.1, "  my sgd ").label == "my sgd"


def test_unset_options_fall_back_to_the_registry_default():
    config = OptimizerConfig("adamw", 1e-3)
    assert config.options == {}
    assert config.option("weight_decay") == 0.01
    assert config.option("betas") == (0.9, 0.999)


# ------------------------------------------------------------- sweeps, seeds and targets


def test_a_log_range_gives_geometric_learning_rates():
    config = ExperimentConfig.from_dict({"optimizers": [{"name": "adam", "lr": {"from": 1e-4, "to": 1e-1, "num": 4}}]})
    assert config.optimizers[0].lrs == (1e-4, 1e-3, 1e-2, 1e-1)
    assert config.runs == ("Adam lr=0.0001", "Adam lr=0.001", "Adam lr=0.01", "Adam lr=0.1")
    assert ExperimentConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("lr", "field", "fragment"),
    [
        ({"from": 1e-2, "to": 1e-3, "num": 3}, "optimizers[0].lr.to", "expected a value above from (0.01)"),
        ({"from": 1e-3, "to": 1e-2}, "optimizers[0].lr", "a grid needs listed values or a range with num"),
        ([1e-3] * 2, "optimizers[0].lr", "expected distinct learning rates"),
        ([1e-3 * (i + 1) for i in range(65)], "optimizers[0].lr", "expected 1 to 64 learning rates, found 65"),
        ([1e-3, -1], "optimizers[0].lr[1]", "found -1"),
    ],
)
def test_bad_sweeps_name_what_was_expected(lr, field, fragment):
    with pytest.raises(ConfigError) as caught:
        ExperimentConfig.from_dict({"optimizers": [{"name": "adam", "lr": lr}]})
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_too_many_rows_are_refused_before_training():
    # A sanity bound: what fits is the budget's to say (tests/test_budget.py), this stops absurd configs.
    with pytest.raises(ConfigError, match=r"at most 4096 models .* found 512 runs x 10 seeds = 5120"):
        ExperimentConfig.from_dict(
            {
                "optimizers": [
                    {
                        "name": "adam",
                        "label": f"Adam {i}",
                        "lr": [1e-4 * (j + 1) for j in range(64)],
                        "weight_decay": [0.0, 0.1],
                    }
                    for i in range(4)
                ],
                "train": {"seeds": 10},
            }
        )


def test_validation_targets_must_name_tasks():
    with pytest.raises(ConfigError, match=r"no such task; the tasks are task A, task B"):
        ExperimentConfig.from_dict({"val_targets": {"nope": 0.1}})
    config = ExperimentConfig.from_dict({"val_targets": {"task B": 0.5}})
    assert ExperimentConfig.from_json(config.to_json()).val_targets == {"task B": 0.5}


def test_a_task_name_with_the_pair_separator_is_refused():
    """Gradient-cosine rows name task pairs "a ↔ b"; a task called "x ↔ y" would make them ambiguous."""
    with pytest.raises(ConfigError, match=r"tasks.targets\[0\].name: a task name cannot contain '↔', found 'x ↔ y'"):
        ExperimentConfig.from_dict({"tasks": {"targets": [{"name": "x ↔ y"}, {"name": "z"}]}})


def test_a_huge_integer_literal_is_a_config_error_not_a_raw_value_error():
    text = '{"train": {"steps": ' + "9" * 5000 + "}}"
    with pytest.raises(ConfigError, match="not a usable config: Exceeds the limit"):
        ExperimentConfig.from_json(text)
