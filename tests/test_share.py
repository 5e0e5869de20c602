"""Shareable links: exact round trips, and every bad link ends in a ConfigError."""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtlviz import share
from mtlviz.config import ExperimentConfig, OptimizerConfig, SyntheticTasks, TableTasks, TaskSpec, TrainConfig
from mtlviz.errors import ConfigError
from mtlviz.share import MAX_JSON_BYTES, MAX_TEXT_LENGTH, decode_config, encode_config

# database=None: no .hypothesis folder in the working tree; failures print their example instead.
SOME = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

PENGUINS = TableTasks(
    dataset="penguins",
    targets=(
        TaskSpec("species", "classification"),
        TaskSpec("body_mass_g", "regression", loss_scale=0.01),
        TaskSpec("sex", "auto", weight=2.0),
    ),
    features=("island", "bill_length_mm", "flipper_length_mm"),
    missing="impute",
)
OPTIONS = (
    OptimizerConfig("sgd", 0.1, "SGD momentum", {"momentum": 0.9, "nesterov": True}),
    OptimizerConfig("adam", 3e-4, options={"betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True}),
    OptimizerConfig("adamw", 1e-3, options={"weight_decay": 0.1}),
    OptimizerConfig("radam", 1e-3, options={"decoupled_weight_decay": True, "weight_decay": 0.05}),
    OptimizerConfig("rmsprop", 1e-3, options={"centered": True, "alpha": 0.9}),
)
EIGHT_BY_EIGHT = ExperimentConfig(
    tasks=SyntheticTasks(
        targets=tuple(
            TaskSpec(f"task {i}", ("regression", "classification")[i % 2], num_classes=3, loss_scale=10.0 ** (i % 3))
            for i in range(8)
        ),
        relatedness=0.1,
    ),
    optimizers=tuple(OptimizerConfig("sgd", 0.01 * (i + 1), options={"momentum": 0.9}) for i in range(8)),
)

CONFIGS = {
    "default": ExperimentConfig(),
    "penguins": ExperimentConfig(tasks=PENGUINS),
    "options": ExperimentConfig(optimizers=OPTIONS, train=TrainConfig(steps=321, seed=7, stats_every=0)),
    "uploaded table": ExperimentConfig(tasks=TableTasks(path="my data.csv", targets=(TaskSpec("y"),))),
    "non-ascii names": ExperimentConfig(tasks=SyntheticTasks(targets=(TaskSpec("Größe → 名前"), TaskSpec("b")))),
    "8 tasks x 8 optimizers": EIGHT_BY_EIGHT,
}


def pack(payload: bytes, version: str = "1") -> str:
    """A link around arbitrary decompressed bytes, built independently of share.py."""
    return f"{version}." + base64.urlsafe_b64encode(zlib.compress(payload, 9)).rstrip(b"=").decode()


def pack_json(data: object) -> str:
    return pack(json.dumps(data).encode())


def refused(text: object, *fragments: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        decode_config(text)  # type: ignore[arg-type]
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"
    return info.value


# ------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("name", list(CONFIGS))
def test_round_trip_is_exact(name: str) -> None:
    config = CONFIGS[name]
    text = encode_config(config)
    back = decode_config(text)
    assert back == config
    assert back.to_json() == config.to_json()
    assert encode_config(back) == text  # stable: re-sharing an opened link gives the same link


@pytest.mark.parametrize("name", list(CONFIGS))
def test_text_is_url_safe_versioned_and_short(name: str) -> None:
    text = encode_config(CONFIGS[name])
    assert text.startswith("1.")
    assert set(text[2:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(text) < 1000  # even 8 tasks x 8 optimizers stay far below URL limits


def test_compression_pays_off() -> None:
    text = encode_config(EIGHT_BY_EIGHT)
    assert len(text) < len(json.dumps(EIGHT_BY_EIGHT.to_dict(), separators=(",", ":"))) / 2


def test_uploaded_table_keeps_its_file_name() -> None:
    back = decode_config(encode_config(CONFIGS["uploaded table"]))
    assert isinstance(back.tasks, TableTasks) and back.tasks.path == "my data.csv" and not back.tasks.dataset


def test_surrounding_whitespace_is_tolerated() -> None:
    assert decode_config(f"  {encode_config(ExperimentConfig())}\n") == ExperimentConfig()


# ----------------------------------------------------------------------- bad links


def test_wrong_version() -> None:
    body = encode_config(ExperimentConfig())[2:]
    refused(f"2.{body}", "format version 1", "found '2.")
    refused(body, "format version 1")
    refused("", "format version 1")


def test_bad_base64() -> None:
    refused("1.abc$def", "base64url", "'$'")
    refused("1.", "nothing after the version tag")
    refused("1.abcde", "complete base64url", "5 characters")  # 4n + 1 characters cannot be base64


def test_bad_zlib() -> None:
    refused("1." + base64.urlsafe_b64encode(b"not zlib at all").decode().rstrip("="), "zlib")


def test_truncated_link() -> None:
    text = encode_config(ExperimentConfig())
    cut = text[:-12]
    if (len(cut) - 2) % 4 == 1:  # keep the base64 itself decodable: the zlib stream must be what is short
        cut = cut[:-1]
    refused(cut, "truncated")


def test_trailing_bytes() -> None:
    packed = zlib.compress(json.dumps({}).encode()) + b"junk"
    refused("1." + base64.urlsafe_b64encode(packed).decode().rstrip("="), "4 extra bytes")


def test_zip_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = pack(b" " * 10_000_000)  # zlib's best ratio is about 1000:1, so this is ~13,000 characters
    refused(bomb, f"at most {MAX_TEXT_LENGTH} characters")
    small_bomb = pack(b" " * 5_000_000)
    assert len(small_bomb) < MAX_TEXT_LENGTH  # passes the length check: the size bound must stop it
    refused(small_bomb, f"at most {MAX_JSON_BYTES} bytes")
    # And the size bound alone stops the big one too.
    monkeypatch.setattr(share, "MAX_TEXT_LENGTH", 10**6)
    refused(bomb, f"at most {MAX_JSON_BYTES} bytes")


def test_over_long_text() -> None:
    refused("1." + "A" * MAX_TEXT_LENGTH, f"at most {MAX_TEXT_LENGTH} characters")


def test_not_utf8() -> None:
    refused(pack(b'{"tasks": "\xff"}'), "UTF-8", "0xff")


def test_bad_json() -> None:
    refused(pack(b'{"tasks": '), "invalid JSON")
    refused(pack(b"[" * 50_000), "nested too deeply")
    refused(pack(b"1" * 5000), "invalid JSON")  # more digits than Python converts


def test_not_text() -> None:
    refused(b"1.abc", "expected text, found bytes")


def test_unknown_key_gets_the_configs_own_error() -> None:
    data = ExperimentConfig().to_dict()
    data["model"]["widht"] = 3
    error = refused(pack_json(data), "unknown key")
    assert error.field == "model.widht"


def test_invalid_value_names_its_field() -> None:
    data = ExperimentConfig().to_dict()
    data["train"]["steps"] = 0
    assert refused(pack_json(data), "found 0").field == "train.steps"


def test_validation_crash_becomes_config_error() -> None:
    # A shape validation does not expect (a number where a list belongs) still ends in a ConfigError.
    data = {"tasks": {"source": "table", "dataset": "penguins", "targets": ["species"], "features": 5}}
    refused(pack_json(data))


# -------------------------------------------------------------------- properties

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _leaves(data: object, path: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [leaf for key, value in data.items() for leaf in _leaves(value, (*path, key))] + [path]
    if isinstance(data, list):
        return [leaf for i, value in enumerate(data) for leaf in _leaves(value, (*path, i))] + [path]
    return [path]


def _replace(data: object, path: tuple, value: object) -> object:
    if not path:
        return value
    head, *rest = path
    data[head] = _replace(data[head], tuple(rest), value)  # type: ignore[index]
    return data


def decodes_or_refuses(text: str) -> None:
    """Only a ConfigError may come out; whatever does decode is a config that shares as itself."""
    try:
        config = decode_config(text)
    except ConfigError:
        return
    assert decode_config(encode_config(config)) == config


@SOME
@given(st.text(max_size=200) | st.from_regex(r"1\.[A-Za-z0-9_-]{0,120}", fullmatch=True))
def test_arbitrary_text_only_raises_config_error(text: str) -> None:
    decodes_or_refuses(text)


@SOME
@given(st.binary(max_size=300))
def test_arbitrary_payload_only_raises_config_error(payload: bytes) -> None:
    decodes_or_refuses(pack(payload))


@SOME
@given(st.sampled_from(sorted(CONFIGS)), st.data())
def test_edited_config_only_raises_config_error(name: str, data: st.DataObject) -> None:
    # Replace one part of a valid configuration (a leaf, a list, a section) with arbitrary JSON.
    config = CONFIGS[name].to_dict()
    path = data.draw(st.sampled_from(_leaves(config)))
    decodes_or_refuses(pack(json.dumps(_replace(config, path, data.draw(JSON))).encode()))


@SOME
@given(st.data())
def test_corrupted_link_only_raises_config_error(data: st.DataObject) -> None:
    text = list(encode_config(CONFIGS[data.draw(st.sampled_from(sorted(CONFIGS)))]))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text) - 1))
        text[i] = data.draw(st.sampled_from("Aa0-_.$="))
    decodes_or_refuses("".join(text))
