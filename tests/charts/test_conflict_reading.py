"""The conflict reading and charts agree with the cosines: near zero is not conflict.

A cosine within the dead zone (|cos| <= CONFLICT_DEAD_ZONE) says the tasks' gradients
are near orthogonal; only a cosine below -CONFLICT_DEAD_ZONE counts as conflict, in
the engine's conflict_share metric and in the reading alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mtlviz.charts.conflict import conflict_reading, conflict_shares, cosine_chart, cosine_distribution
from mtlviz.records import CATALOGUE, CONFLICT_DEAD_ZONE, CONFLICT_SHARE, GRAD_COSINE

# Like MMoE under SGD: most cosines a hair either side of zero, a few clearly apart.
SGD = [-0.01, -0.02, -0.03, 0.01, -0.017, 0.02, -0.04, 0.03, -0.3, 0.4]  # 1 conflicting, 8 near, 1 aligned
ADAM = [0.3, 0.4, -0.2, -0.3, 0.5, 0.6, -0.25, 0.2, 0.1, 0.01]  # 3 conflicting, 1 near, 6 aligned


def cosine_rows(values: dict[str, list[float]], pair: str = "A ↔ B") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run": run,
                "seed": 0,
                "step": 10 * (i + 1),
                "task": pair,
                "layer": "shared",
                "metric": GRAD_COSINE,
                "value": v,
                "seconds": 0.0,
            }
            for run, vs in values.items()
            for i, v in enumerate(vs)
        ]
    )


def test_the_dead_zone_is_one_stated_constant_in_the_catalogue() -> None:
    assert CONFLICT_DEAD_ZONE == 0.05
    for metric in (CONFLICT_SHARE, GRAD_COSINE):
        assert "0.05" in CATALOGUE[metric].help and "orthogonal" in CATALOGUE[metric].help


def test_near_zero_cosines_are_near_orthogonal_not_conflict() -> None:
    (line,) = conflict_reading(cosine_rows({"SGD": SGD}))
    assert "**A** and **B**" in line
    assert "mostly near orthogonal" in line
    assert "opposite directions (cos < −0.05) **10%**" in line  # only -0.3; today's reading says 60%
    assert "near orthogonal (|cos| ≤ 0.05) **80%**" in line
    assert "aligned (cos > 0.05) **10%**" in line
    assert "median cosine −0.014" in line


def test_three_shares_and_the_median_per_configuration() -> None:
    table = conflict_shares(cosine_rows({"SGD": SGD, "Adam": ADAM}))
    assert list(table.columns) == [
        "pair",
        "configuration",
        "conflicting",
        "near orthogonal",
        "aligned",
        "median cosine",
        "measurements",
    ]
    by_run = table.set_index("configuration")
    np.testing.assert_allclose(by_run.loc["SGD", ["conflicting", "near orthogonal", "aligned"]], [0.1, 0.8, 0.1])
    np.testing.assert_allclose(by_run.loc["Adam", ["conflicting", "near orthogonal", "aligned"]], [0.3, 0.1, 0.6])
    assert by_run.loc["SGD", "median cosine"] == np.median(SGD)
    assert by_run.loc["Adam", "measurements"] == 10
    (line,) = conflict_reading(cosine_rows({"SGD": SGD, "Adam": ADAM}))
    # The configuration that conflicts most is Adam, not SGD (whose cosines hug zero).
    assert "Most under Adam (30% opposite, 10% near orthogonal, median +0.150)" in line
    assert "least under SGD (10% opposite, 80% near orthogonal, median −0.014)" in line


def test_cosine_chart_draws_the_dead_zone_in_every_panel(validated) -> None:
    frame = pd.concat([cosine_rows({"SGD": SGD}, "A ↔ B"), cosine_rows({"SGD": SGD}, "A ↔ C")], ignore_index=True)
    figure = validated(cosine_chart(frame, ["SGD"]))
    bands = [s for s in figure.layout.shapes if s.type == "rect"]
    assert [(b.yref, b.y0, b.y1) for b in bands] == [("y", -0.05, 0.05), ("y2", -0.05, 0.05)]
    assert sum(bool(b.showlegend) for b in bands) == 1 and "orthogonal" in bands[0].name


def test_cosine_distribution_has_a_box_per_configuration_and_pair(validated) -> None:
    frame = pd.concat(
        [cosine_rows({"SGD": SGD, "Adam": ADAM}, "A ↔ B"), cosine_rows({"SGD": SGD, "Adam": ADAM}, "A ↔ C")],
        ignore_index=True,
    )
    figure = validated(cosine_distribution(frame, ["SGD", "Adam"]))
    boxes = [t for t in figure.data if t.type == "box"]
    assert [(t.name, t.xaxis) for t in boxes] == [("SGD", "x"), ("Adam", "x"), ("SGD", "x2"), ("Adam", "x2")]
    np.testing.assert_allclose(np.asarray(boxes[0].y, dtype=float), SGD, rtol=1e-6)
    assert len([s for s in figure.layout.shapes if s.type == "rect"]) == 2  # the dead zone behind the boxes


def test_seeds_count_the_mean_cosine_of_each_step() -> None:
    # Seed means per step: -0.2 (conflict), 0.02 (near), 0.3 and 0.4 (aligned).
    frame = pd.concat(
        [
            cosine_rows({"R": [-0.5, 0.1, 0.3, 0.4]}).assign(seed=0),
            cosine_rows({"R": [0.1, -0.06, 0.3, 0.4]}).assign(seed=1),
        ],
        ignore_index=True,
    )
    table = conflict_shares(frame)
    np.testing.assert_allclose(table.loc[0, ["conflicting", "near orthogonal", "aligned"]], [0.25, 0.25, 0.5])
    assert table.loc[0, "measurements"] == 4
