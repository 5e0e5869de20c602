"""Dynamic Weight Average: weights from how fast each task's loss has been falling.

Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019
(section 3.3).

  w_t = T * softmax_t(r_t / temperature),  r_t = L_t(previous) / L_t(before previous)

where the L are average losses over two consecutive windows (the paper's
epochs). A task whose loss fell less (larger ratio) gets more weight; the
weights sum to T. The paper uses temperature 2; a large temperature gives
equal weights. Until two windows have passed every weight is 1.
"""

from __future__ import annotations

import math

import torch

from mtlviz.methods.base import check_matrix, check_same_shape


def dwa_weights(previous: torch.Tensor, before_previous: torch.Tensor | None, temperature: float = 2.0) -> torch.Tensor:
    """(K, T) weights from the average losses of the last window and the one before it (None: too early)."""
    check_matrix("previous", previous)
    if not temperature > 0:  # also catches NaN
        raise ValueError(f"temperature: expected a number > 0, found {temperature!r}")
    if before_previous is None:
        return torch.ones_like(previous)
    check_same_shape("before_previous", before_previous, previous)
    num_tasks = previous.shape[1]
    if math.isinf(temperature):
        return torch.ones_like(previous)
    tiny = torch.finfo(previous.dtype).tiny  # a loss of exactly 0 must not divide by zero
    ratios = previous.detach() / before_previous.detach().clamp_min(tiny)  # (K, T)
    return num_tasks * torch.softmax(ratios / temperature, dim=1)
