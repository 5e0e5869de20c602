"""Synthetic multi-task regression/classification with controllable relatedness.

After the MMoE paper (Ma et al., "Modeling Task Relationships in Multi-task
Learning with Multi-gate Mixture-of-Experts", KDD 2018): inputs x ~ N(0, I_d);
task weight vectors w_t = c * u_t where the unit vectors u_t have pairwise
cosine exactly p; labels y_t = w_t.x + sum_i sin(alpha_i * w_t.x + beta_i) + noise,
with alpha_i, beta_i ~ N(0, 1) shared by all tasks. A classification task bins
its y_t into K classes at the quantiles of y_t.
"""

from __future__ import annotations

import numpy as np
import torch

from mtlviz.config import SyntheticTasks
from mtlviz.data.taskset import TaskSet
from mtlviz.errors import ConfigError


def related_unit_vectors(num_tasks: int, dim: int, relatedness: float, rng: np.random.Generator) -> np.ndarray:
    """(T, d) unit vectors whose pairwise cosine is exactly `relatedness`.

    Factor the Gram matrix G = (1-p) I + p 11^T as G = B B^T (B is T x T) and
    embed B's rows in a random T-dimensional subspace of R^d. An eigendecomposition
    rather than Cholesky keeps p = 1 and p = -1/(T-1) (singular G) feasible.
    """
    if dim < num_tasks:
        raise ConfigError("tasks.input_dim", f"needs at least one dimension per task ({num_tasks}), found {dim}")
    lowest = -1.0 / (num_tasks - 1)
    if relatedness < lowest - 1e-12 or relatedness > 1:
        raise ConfigError(
            "tasks.relatedness",
            f"expected a value in [-1/(T-1), 1] = [{lowest:.4g}, 1] for {num_tasks} tasks, found {relatedness:g}",
        )
    gram = (1 - relatedness) * np.eye(num_tasks) + relatedness * np.ones((num_tasks, num_tasks))
    eigval, eigvec = np.linalg.eigh(gram)
    factor = eigvec * np.sqrt(np.clip(eigval, 0.0, None))  # (T, T), factor @ factor.T == gram
    basis, _ = np.linalg.qr(rng.standard_normal((dim, num_tasks)))  # (d, T) orthonormal columns
    vectors = factor @ basis.T  # (T, d)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_taskset(config: SyntheticTasks, seed: int) -> TaskSet:
    rng = np.random.default_rng(seed)
    t, d, n = len(config.targets), config.input_dim, config.num_samples
    weights = config.scale * related_unit_vectors(t, d, config.relatedness, rng)  # (T, d)
    alpha = rng.standard_normal(config.num_sines)
    beta = rng.standard_normal(config.num_sines)
    x = rng.standard_normal((n, d))
    projected = x @ weights.T  # (n, T)
    y = projected + np.sin(projected[..., None] * alpha + beta).sum(-1) + config.noise_std * rng.standard_normal((n, t))
    for j, spec in enumerate(config.targets):
        if spec.type == "classification":
            edges = np.quantile(y[:, j], np.linspace(0, 1, spec.num_classes + 1)[1:-1])
            y[:, j] = np.searchsorted(edges, y[:, j], side="right")
    order = rng.permutation(n)
    n_val = round(n * config.val_fraction)
    n_test = round(n * config.test_fraction)
    # Validation first and test next, so a test split leaves the validation split as it was.
    val, test, train = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    held = {"x_test": tensor(x[test]), "y_test": tensor(y[test])} if n_test else {}
    return TaskSet(tuple(config.targets), tensor(x[train]), tensor(y[train]), tensor(x[val]), tensor(y[val]), **held)
