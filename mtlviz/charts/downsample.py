"""Server-side downsampling, so a figure stays a few thousand points per trace."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tsdownsample import MinMaxLTTBDownsampler

# Points per trace sent to the browser; MinMaxLTTB keeps spikes (divergence!) visible.
MAX_POINTS = 2000


def downsample(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points of (x, y) chosen by MinMaxLTTB; x must be increasing."""
    index = downsample_index(x, y, max_points)
    return (x, y) if index is None else (x[index], y[index])


def downsample_index(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray | None:
    """Positions of the points `downsample` keeps; None when it keeps them all.

    For drawing against another increasing column (wall-clock seconds) chosen on
    the steps, whose even spacing MinMaxLTTB's bins assume.
    """
    if len(x) <= max_points:
        return None
    return MinMaxLTTBDownsampler().downsample(x.astype(np.float64), y.astype(np.float64), n_out=max_points)


def ema(values: np.ndarray, smoothing: float) -> np.ndarray:
    """Bias-corrected exponential moving average (TensorBoard's smoothing slider).

    smoothing in [0, 1): 0 returns the values unchanged.
    """
    if smoothing <= 0 or len(values) == 0:
        return values
    return pd.Series(values).ewm(alpha=1 - smoothing, adjust=True).mean().to_numpy()
