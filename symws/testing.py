"""Reusable generators of small random networks and data, for tests and `verify`.

Everything is seeded, so a failing case can be rerun from its id alone.
"""

from __future__ import annotations

import numpy as np


def random_network(
    depth: int,
    bias: bool,
    widths: list[int] | None = None,
    n_samples: int = 4,
    seed: int = 0,
    weight_scale: float = 1.0,
    soft_targets: bool = False,
):
    """Random weights, inputs and targets for a small network.

    Args:
        depth: number of affine layers L.
        bias: whether layers carry biases.
        widths: d_0..d_L; drawn from 2..3 (K >= 2) when None.
        n_samples: N.
        seed: seed of numpy's default generator.
        weight_scale: standard deviation of the weights and biases.
        soft_targets: Dirichlet probability rows instead of integer labels (with
            one output unit, labels are 0 or 1).

    Returns:
        (params, X, Y): params = [(W_l (d_l, d_{l-1}), b_l (d_l,) or None)],
        X (N, d_0), Y (N,) int labels or (N, K) probability rows.
    """
    rng = np.random.default_rng(seed)
    if widths is None:
        widths = [int(w) for w in rng.integers(2, 4, size=depth + 1)]
    if len(widths) != depth + 1:
        raise ValueError(f"need {depth + 1} widths, got {len(widths)}")
    params = []
    for layer in range(1, depth + 1):
        W = weight_scale * rng.normal(size=(widths[layer], widths[layer - 1]))
        b = weight_scale * rng.normal(size=widths[layer]) if bias else None
        params.append((W, b))
    X = rng.normal(size=(n_samples, widths[0]))
    if soft_targets:
        Y = rng.dirichlet(np.ones(widths[-1]), size=n_samples)
    else:
        Y = rng.integers(0, max(2, widths[-1]), size=n_samples)
    return params, X, Y


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    """(N,) integer labels -> (N, K) one-hot rows."""
    return np.eye(classes)[np.asarray(labels)]
