"""The run metadata: its divergence helpers and its JSON round trip."""

from __future__ import annotations

import json

import pytest

from mtlviz.records import CATALOGUE, METRICS, Divergence, RowInfo, RunMetadata

ROWS = tuple(RowInfo(run, seed, run, "sgd", 0.1, "Static weights") for run in ("a", "b") for seed in (0, 1, 2))


def test_every_recorded_metric_has_a_catalogue_entry():
    assert set(METRICS) <= set(CATALOGUE)


def test_divergences_by_run_and_the_first_of_a_run():
    events = (
        Divergence("a", 2, 40, "t", 5.0, {"t": 5.0}),
        Divergence("a", 0, 12, "t", None, {"t": None}),
        Divergence("b", 1, 7, "u", 9.0),
    )
    metadata = RunMetadata(rows=ROWS, divergences=events)
    assert metadata.diverged_runs() == {"a": {2: 40, 0: 12}, "b": {1: 7}}
    assert metadata.first_divergence("a") == events[1]
    assert metadata.first_divergence("c") is None
    assert metadata.runs == ("a", "b") and metadata.seeds == (0, 1, 2) and metadata.seeds_of("a") == 3


def test_json_round_trip_writes_non_finite_losses_as_null():
    event = Divergence("a", 0, 3, "t", float("inf"), {"t": float("inf"), "u": 2.0})
    metadata = RunMetadata(rows=ROWS, tasks=("t", "u"), has_shared_parameters=False, divergences=(event,))
    text = json.dumps(metadata.to_dict(), allow_nan=False)  # strict JSON
    back = RunMetadata.from_dict(json.loads(text))
    assert back.divergences[0].loss is None and back.divergences[0].losses == {"t": None, "u": 2.0}
    assert back.rows == ROWS and back.has_shared_parameters is False


@pytest.mark.parametrize("damaged", [[], {"rows": [{"run": "a"}]}, {"divergences": [{"run": "a", "seed": "x"}]}])
def test_damaged_metadata_is_a_value_error(damaged):
    with pytest.raises(ValueError, match="metadata: expected"):
        RunMetadata.from_dict(damaged)


def test_step_size_metrics_name_their_kind():
    """A closed-form step size and a measured one are different metrics, each saying which it is."""
    from mtlviz.records import EFFECTIVE_LR, LAYER_METRICS, MEASURED_STEP

    assert {EFFECTIVE_LR, MEASURED_STEP} <= set(LAYER_METRICS)
    assert "closed form" in CATALOGUE[EFFECTIVE_LR].axis and "√v̂" not in CATALOGUE[EFFECTIVE_LR].axis
    assert "measured" in CATALOGUE[MEASURED_STEP].axis and "|Δθ| / |g|" in CATALOGUE[MEASURED_STEP].axis
    for suffix in ("_p10", "_p90"):
        assert CATALOGUE[MEASURED_STEP + suffix].axis == CATALOGUE[MEASURED_STEP].axis
