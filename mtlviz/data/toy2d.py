"""The two-objective toy problem of CAGrad (Liu et al., NeurIPS 2021), also used by Nash-MTL and FAMO.

The "model" is a point x = (x1, x2) and the two task losses are closed-form:

    f1 = log(max(|0.5(-x1 - 7) - tanh(-x2)|, 5e-6)) + 6
    f2 = log(max(|0.5(-x1 + 3) + tanh(-x2) + 2|, 5e-6)) + 6
    g1 = ((-x1 + 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20
    g2 = ((-x1 - 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20
    c1 = max(tanh(x2 / 2), 0),  c2 = max(tanh(-x2 / 2), 0)
    L1 = c1 f1 + c2 g1,  L2 = c1 f2 + c2 g2

Above the x1 axis the losses are the log-valleys f, below it the quadratic
bowls g; both are computed in float64. This module is the problem's geometry in
NumPy (torch-free, for the charts); the trained model and its differentiable
losses are in mtlviz/models/toy2d.py. The Nash-MTL and FAMO experiments also
scale L1 by 0.1; these are the unscaled losses of the CAGrad paper.
"""

from __future__ import annotations

import numpy as np

FLOOR = 5e-6  # the log-valleys' floor: log(5e-6) + 6 = -6.2, reached on the valley floor
COORDINATES = ("x1", "x2")  # the layer names of the `position` records
X_RANGE = (-10.0, 10.0)  # the square the papers plot, in both coordinates

# Start points of the papers' figures. Nash-MTL and FAMO start from the first
# five; CAGrad's own figure from "top left", "bottom left" and "top right".
START_POINTS: dict[str, tuple[float, float]] = {
    "top left": (-8.5, 7.5),
    "centre": (0.0, 0.0),
    "top right": (9.0, 9.0),
    "left": (-7.5, -0.5),
    "right": (9.0, -1.0),
    "bottom left": (-8.5, -5.0),
}

# The two single-task minima lie at x1 = +7 (L1) and x1 = -7 (L2), on the Pareto set.
_BOWL_CENTRE = 7.0


def toy2d_losses_np(x1: np.ndarray | float, x2: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(L1, L2) at points (x1, x2) of any broadcastable shapes, in float64: for charts on grids."""
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = np.asarray(x2, dtype=np.float64)
    t = np.tanh(-x2)
    f1 = np.log(np.maximum(np.abs(0.5 * (-x1 - 7) - t), FLOOR)) + 6
    f2 = np.log(np.maximum(np.abs(0.5 * (-x1 + 3) + t + 2), FLOOR)) + 6
    height = 0.1 * (-x2 - 8) ** 2
    g1 = ((-x1 + 7) ** 2 + height) / 10 - 20
    g2 = ((-x1 - 7) ** 2 + height) / 10 - 20
    c1 = np.maximum(np.tanh(x2 / 2), 0)
    c2 = np.maximum(np.tanh(-x2 / 2), 0)
    return c1 * f1 + c2 * g1, c1 * f2 + c2 * g2


def pareto_set(num: int = 200) -> np.ndarray:
    """`num` Pareto-optimal points (x1, x2), shape (num, 2), x1 evenly spaced from -7 to 7.

    Derivation. A point is Pareto-stationary when lambda * grad L1 + (1 - lambda) * grad L2 = 0
    for some lambda in [0, 1]. Below the x1 axis L_i = c2(x2) g_i, and the
    lambda-weighted bowl is

        lambda g1 + (1 - lambda) g2 = (lambda (7 - x1)^2 + (1 - lambda)(x1 + 7)^2) / 10 + 0.01 (x2 + 8)^2 - 20,

    smallest in x1 at x1 = 14 lambda - 7, where its x1 part equals (49 - x1^2) / 10.
    So each x1 in [-7, 7] (lambda = (x1 + 7) / 14) has one Pareto point, at the x2
    that minimises phi(x2) = c2(x2) (A + 0.01 (x2 + 8)^2) with A = (49 - x1^2) / 10 - 20,
    a value in [-20, -15.1]. phi's minimum lies in [-10, -7] (c2 is within 0.2% of
    1 there and the bowl is lowest at -8); it is found by bisection on phi'.
    phi' has a single root on x2 < 0, so each of these points minimises its
    lambda-weighted loss over the whole plane and is Pareto-optimal. Nothing
    else is: beyond x1 = +-7 both losses grow with |x1|, and above the x1 axis
    both losses are at least -6.2, dominated by the set's centre where both are
    -15.09. tests/data/test_toy2d.py checks all of this on a grid.

    The set is a slightly bent curve: x2 = -8.3551 at x1 = 0 (the straight
    segment x2 = -8.3552 the CAGrad and Nash-MTL figures draw) and -8.4345 at
    the ends, the single-task minima (+-7, -8.4345).
    """
    if num < 2:
        raise ValueError(f"expected at least 2 points, found num={num}")
    x1 = np.linspace(-_BOWL_CENTRE, _BOWL_CENTRE, num)
    depth = (_BOWL_CENTRE**2 - x1**2) / 10 - 20  # A of the docstring, (num,)
    low, high = np.full(num, -10.0), np.full(num, -7.0)
    # phi' < 0 at -10 and > 0 at -7 for every A in [-20, -15.1]; 60 halvings reach float64 resolution.
    for _ in range(60):
        middle = (low + high) / 2
        rising = _slope(middle, depth) > 0
        high = np.where(rising, middle, high)
        low = np.where(rising, low, middle)
    return np.stack([x1, (low + high) / 2], axis=1)


def _slope(x2: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """phi'(x2) for phi(x2) = tanh(-x2 / 2) (depth + 0.01 (x2 + 8)^2), for x2 < 0."""
    # 1 / cosh^2 rather than 1 - tanh^2: tanh is within 1e-4 of 1 here, the difference would cancel.
    bowl = depth + 0.01 * (x2 + 8) ** 2
    return -0.5 / np.cosh(x2 / 2) ** 2 * bowl + np.tanh(-x2 / 2) * 0.02 * (x2 + 8)


def pareto_front(num: int = 200) -> np.ndarray:
    """The Pareto front in loss space: (L1, L2) at `pareto_set(num)`, shape (num, 2).

    From (L1, L2) = (-0.40, -19.99) at x1 = -7 through (-15.09, -15.09) to (-19.99, -0.40) at x1 = 7.
    """
    points = pareto_set(num)
    l1, l2 = toy2d_losses_np(points[:, 0], points[:, 1])
    return np.stack([l1, l2], axis=1)
