"""Run colours: every run of an experiment its own colour, up to the largest experiment (64 rows)."""

from __future__ import annotations

import re

from mtlviz.charts.colors import PALETTE, run_colors


def test_a_15_run_grid_gets_15_different_colours():
    runs = [f"{o} · {m}" for o in ("SGD", "Adam", "AdamW") for m in ("static", "MGDA", "PCGrad", "CAGrad", "DWA")]
    colors = run_colors(runs)
    assert len(set(colors.values())) == 15
    assert colors["SGD · static"] != colors["Adam · MGDA"]


def test_the_palette_has_20_distinct_colours_and_beyond_it_every_run_still_differs():
    assert len(set(PALETTE)) >= 20
    runs = [f"run {i}" for i in range(64)]
    colors = run_colors(runs)
    assert len(set(colors.values())) == 64
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c, re.I) for c in colors.values())  # bands parse them


def test_a_run_keeps_its_colour_whatever_is_drawn_next_to_it():
    runs = ["SGD", "Adam", "AdamW"]
    assert run_colors(runs) == {run: PALETTE[i] for i, run in enumerate(runs)}
