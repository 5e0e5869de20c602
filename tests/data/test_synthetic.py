"""Synthetic tasks: exact relatedness, reproducible draws, splits and labels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mtlviz.config import SyntheticTasks, TaskSpec
from mtlviz.data.sources import build_taskset
from mtlviz.data.synthetic import related_unit_vectors
from mtlviz.errors import ConfigError


def regression_tasks(count: int, **fields: object) -> SyntheticTasks:
    names = tuple(TaskSpec(f"t{i}") for i in range(count))
    return SyntheticTasks(targets=names, **fields)


def all_y(taskset) -> np.ndarray:
    return torch.cat([taskset.y_train, taskset.y_val]).double().numpy()


def all_x(taskset) -> np.ndarray:
    return torch.cat([taskset.x_train, taskset.x_val]).double().numpy()


# ------------------------------------------------------------- related unit vectors


def _relatedness_cases() -> list[tuple[int, float]]:
    cases = []
    for t in range(2, 9):
        for p in (-1.0 / (t - 1), -0.5 / (t - 1), 0.0, 0.5, 0.9, 1.0):
            cases.append((t, p))
    return cases


@pytest.mark.parametrize(("num_tasks", "relatedness"), _relatedness_cases())
def test_pairwise_cosine_equals_relatedness(num_tasks, relatedness):
    vectors = related_unit_vectors(num_tasks, 12, relatedness, np.random.default_rng(num_tasks))
    assert vectors.shape == (num_tasks, 12)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    for i, j in itertools.combinations(range(num_tasks), 2):
        cosine = vectors[i] @ vectors[j] / (np.linalg.norm(vectors[i]) * np.linalg.norm(vectors[j]))
        assert cosine == pytest.approx(relatedness, abs=1e-6), (i, j)


@pytest.mark.parametrize("num_tasks", [2, 5, 8])
def test_vectors_fit_when_dim_equals_number_of_tasks(num_tasks):
    vectors = related_unit_vectors(num_tasks, num_tasks, 0.3, np.random.default_rng(0))
    gram = vectors @ vectors.T
    expected = 0.7 * np.eye(num_tasks) + 0.3
    np.testing.assert_allclose(gram, expected, atol=1e-6)


def test_vectors_are_randomly_oriented():
    # The subspace is random: different draws give different vectors with the same Gram matrix.
    a = related_unit_vectors(3, 10, 0.2, np.random.default_rng(1))
    b = related_unit_vectors(3, 10, 0.2, np.random.default_rng(2))
    assert not np.allclose(a, b)
    np.testing.assert_allclose(a @ a.T, b @ b.T, atol=1e-6)


@pytest.mark.parametrize(
    ("num_tasks", "dim", "relatedness", "field"),
    [(3, 2, 0.5, "tasks.input_dim"), (3, 8, -0.6, "tasks.relatedness"), (2, 8, 1.1, "tasks.relatedness")],
)
def test_infeasible_vectors_raise_config_error(num_tasks, dim, relatedness, field):
    with pytest.raises(ConfigError) as info:
        related_unit_vectors(num_tasks, dim, relatedness, np.random.default_rng(0))
    assert info.value.field == field


# ------------------------------------------------------------------------ task set


def test_same_seed_gives_identical_tensors_and_different_seed_differs():
    config = regression_tasks(3, num_samples=300)
    a, b, c = build_taskset(config, 7), build_taskset(config, 7), build_taskset(config, 8)
    for name in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
        assert not torch.equal(getattr(a, name), getattr(c, name)), name


@pytest.mark.parametrize(("num_samples", "val_fraction", "n_val"), [(1000, 0.2, 200), (403, 0.25, 101), (50, 0.9, 45)])
def test_split_sizes_match_val_fraction(num_samples, val_fraction, n_val):
    config = regression_tasks(2, num_samples=num_samples, val_fraction=val_fraction, input_dim=5)
    taskset = build_taskset(config, 0)
    assert taskset.x_val.shape == (n_val, 5)
    assert taskset.y_val.shape == (n_val, 2)
    assert taskset.x_train.shape == (num_samples - n_val, 5)
    assert taskset.y_train.shape == (num_samples - n_val, 2)
    assert taskset.x_train.dtype == taskset.y_train.dtype == torch.float32
    assert taskset.input_dim == 5


def test_splits_are_disjoint():
    taskset = build_taskset(regression_tasks(2, num_samples=500), 0)
    rows = {tuple(r) for r in taskset.x_train.tolist()}
    assert rows.isdisjoint(tuple(r) for r in taskset.x_val.tolist())
    assert len(rows) == taskset.x_train.shape[0]


@pytest.mark.parametrize("num_classes", [2, 3, 7])
def test_classification_targets_are_balanced_classes(num_classes):
    targets = (
        TaskSpec("score"),
        TaskSpec("grade", type="classification", num_classes=num_classes),
    )
    config = SyntheticTasks(targets=targets, num_samples=2100, val_fraction=0.2)
    taskset = build_taskset(config, 3)
    y = all_y(taskset)[:, 1]
    assert set(np.unique(y)) == set(range(num_classes))
    counts = np.bincount(y.astype(int), minlength=num_classes)
    # Quantile bins: every class holds 1/K of the samples (up to ties at the edges).
    assert counts.max() - counts.min() <= 2, counts
    # Each split is a random subset, so roughly balanced too.
    train_counts = np.bincount(taskset.y_train[:, 1].long().numpy(), minlength=num_classes)
    expected = taskset.y_train.shape[0] / num_classes
    assert np.all(np.abs(train_counts - expected) < 0.25 * expected), train_counts
    # The regression column is untouched: continuous values, not class indices.
    assert len(np.unique(all_y(taskset)[:, 0])) > 100


def test_class_order_follows_the_underlying_score():
    # Same seed and data, one regression and one classification view of the same task:
    # higher classes must hold higher underlying values.
    regression = SyntheticTasks(targets=(TaskSpec("a"), TaskSpec("b")), relatedness=1.0, noise_std=0.0)
    mixed = SyntheticTasks(
        targets=(TaskSpec("a"), TaskSpec("b", type="classification", num_classes=4)), relatedness=1.0, noise_std=0.0
    )
    score = all_y(build_taskset(regression, 5))[:, 1]
    classes = all_y(build_taskset(mixed, 5))[:, 1].astype(int)
    highs = [score[classes == k].max() for k in range(4)]
    lows = [score[classes == k].min() for k in range(4)]
    for k in range(3):
        assert highs[k] <= lows[k + 1]


def test_task_specs_are_carried_into_the_task_set():
    targets = (
        TaskSpec("price", loss_scale=100.0, weight=0.5),
        TaskSpec("click", type="classification", num_classes=3, loss_scale=0.1),
    )
    taskset = build_taskset(SyntheticTasks(targets=targets, num_samples=200), 0)
    assert taskset.tasks == targets
    assert taskset.names == ("price", "click")
    assert [t.loss_scale for t in taskset.tasks] == [100.0, 0.1]
    assert [t.type for t in taskset.tasks] == ["regression", "classification"]


# --------------------------------------------------------------------- label formula


@pytest.mark.parametrize("relatedness", [-0.5, 0.0, 0.8])
def test_linear_labels_recover_weights_with_norm_scale_and_cosine_relatedness(relatedness):
    # Without sines and noise, y = x @ W^T exactly: least squares recovers W.
    config = regression_tasks(3, relatedness=relatedness, num_sines=0, noise_std=0.0, scale=0.4, input_dim=6)
    taskset = build_taskset(config, 11)
    x, y = all_x(taskset), all_y(taskset)
    weights, *_ = np.linalg.lstsq(x, y, rcond=None)  # (d, T)
    np.testing.assert_allclose(x @ weights, y, atol=1e-5)
    norms = np.linalg.norm(weights, axis=0)
    np.testing.assert_allclose(norms, 0.4, atol=1e-5)
    cosines = (weights.T @ weights) / np.outer(norms, norms)
    np.testing.assert_allclose(cosines[~np.eye(3, dtype=bool)], relatedness, atol=1e-5)


def test_labels_follow_the_documented_formula():
    # Redraw W, alpha, beta from the same generator in the documented order and
    # recompute y_t = w_t.x + sum_i sin(alpha_i w_t.x + beta_i) from the stored x.
    config = regression_tasks(3, relatedness=0.3, input_dim=5, num_samples=100, scale=0.8, num_sines=4, noise_std=0.0)
    taskset = build_taskset(config, 21)
    rng = np.random.default_rng(21)
    weights = 0.8 * related_unit_vectors(3, 5, 0.3, rng)
    alpha, beta = rng.standard_normal(4), rng.standard_normal(4)
    x = all_x(taskset)
    projected = x @ weights.T  # (n, T)
    expected = projected + np.sin(projected[..., None] * alpha + beta).sum(-1)
    np.testing.assert_allclose(all_y(taskset), expected, atol=1e-5)


def test_fully_related_noiseless_tasks_have_identical_targets():
    taskset = build_taskset(regression_tasks(4, relatedness=1.0, noise_std=0.0), 2)
    y = all_y(taskset)
    for t in range(1, 4):
        np.testing.assert_allclose(y[:, t], y[:, 0], atol=1e-6)


def test_noise_has_the_configured_standard_deviation():
    # p = 1: the tasks share w.x and the sines, so their difference is noise only.
    taskset = build_taskset(regression_tasks(2, relatedness=1.0, noise_std=0.5, num_samples=20_000), 4)
    y = all_y(taskset)
    assert np.std(y[:, 0] - y[:, 1]) == pytest.approx(0.5 * np.sqrt(2), rel=0.03)


def test_sines_make_labels_nonlinear():
    config = regression_tasks(2, num_sines=5, noise_std=0.0, scale=2.0)
    taskset = build_taskset(config, 0)
    x, y = all_x(taskset), all_y(taskset)
    design = np.hstack([x, np.ones((len(x), 1))])
    _, residual, *_ = np.linalg.lstsq(design, y, rcond=None)
    assert np.all(residual / len(x) > 1e-3)
