"""One colour per run, stable across charts and refreshes, different for every run of an experiment.

The first eight are Okabe-Ito, distinguishable with the common colour-vision
deficiencies; then Paul Tol's muted set and a few more, 24 in all. An
experiment can train up to 64 runs: past the palette, colours are spread
around the hue circle (golden-ratio steps) so that no two runs share one.
Views build the map once from every run of the experiment and hand it to each
chart, so hiding a run never recolours the others.
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping

import pandas as pd

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
TOL_MUTED = ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499"]
MORE = ["#661100", "#888888", "#E7298A", "#7570B3", "#A6761D", "#66A61E", "#E41A1C"]
PALETTE = OKABE_ITO + TOL_MUTED + MORE


def run_colors(runs: list[str] | tuple[str, ...], given: Mapping[str, str] | None = None) -> dict[str, str]:
    """Run -> colour: `given` (the view's colours for the whole run, so a chart showing some runs
    keeps every run's colour), else by position: the palette's, then generated ones, never a repeat."""
    if given:
        own = run_colors(runs)
        return {run: given.get(run) or own[run] for run in runs}
    colors: dict[str, str] = {}
    used = set(PALETTE)
    extra = 0
    for i, run in enumerate(runs):
        if i < len(PALETTE):
            colors[run] = PALETTE[i]
            continue
        while True:
            color = _generated(extra)
            extra += 1
            if color not in used:
                break
        used.add(color)
        colors[run] = color
    return colors


def _generated(i: int) -> str:
    """The i-th colour past the palette: golden-ratio hue steps, alternating darker and lighter."""
    hue = (0.11 + i * 0.618034) % 1.0
    lightness = (0.38, 0.55, 0.46)[i % 3]
    r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.75)
    return f"#{round(r * 255):02X}{round(g * 255):02X}{round(b * 255):02X}"


def configuration_colors(
    rows: pd.DataFrame, configurations: list[str], colors: Mapping[str, str] | None
) -> dict[str, str]:
    """Configuration -> colour: its first run's, as in the run's other charts, or one of its own."""
    if colors is None:
        return run_colors(configurations)
    own = run_colors(configurations)
    first = dict(zip(rows["configuration"].astype(str)[::-1], rows["run"].astype(str)[::-1]))  # the first run wins
    return {c: colors.get(first.get(c, ""), own[c]) for c in configurations}
