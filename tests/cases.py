"""The table of scenarios the oracle tests run: readable ids, one row each.

Columns: id, depth, activation, bias, widths (None = drawn from the seed), N,
seed, soft targets, weight scale, then optionally loss, weight decay and its
scope (softmax cross-entropy, none, weights when left out). The last group lists cases that once failed or
stress a corner (wide logits, single sample, identity-like layers).
"""

from __future__ import annotations

import pytest

CUSTOM = "z*tanh(log(1 + exp(z)))"

ROWS = [
    # depth sweep with and without biases (tanh)
    ("tanh-L1-bias", 1, "tanh", True, None, 4, 1, False, 1.0),
    ("tanh-L1-nobias", 1, "tanh", False, None, 4, 2, True, 1.0),
    ("tanh-L2-bias", 2, "tanh", True, None, 4, 3, False, 1.0),
    ("tanh-L2-nobias", 2, "tanh", False, None, 3, 4, True, 1.0),
    ("tanh-L3-bias", 3, "tanh", True, None, 3, 5, True, 1.0),
    ("tanh-L3-nobias", 3, "tanh", False, None, 4, 6, False, 1.0),
    ("tanh-L4-bias", 4, "tanh", True, [2, 2, 3, 2, 2], 3, 7, False, 1.0),
    ("tanh-L4-nobias", 4, "tanh", False, None, 3, 8, True, 1.0),
    # every registered activation and a custom expression
    ("sigmoid-L2-bias", 2, "sigmoid", True, None, 4, 9, False, 1.5),
    ("softplus-L4-nobias", 4, "softplus", False, None, 3, 10, True, 1.0),
    ("softplus-L2-bias", 2, "softplus", True, None, 4, 11, False, 1.0),
    ("gelu-L2-bias", 2, "gelu", True, None, 4, 12, True, 1.0),
    ("gelu-L3-nobias", 3, "gelu", False, None, 3, 13, False, 1.0),
    ("silu-L2-nobias", 2, "silu", False, None, 4, 14, False, 1.0),
    ("silu-L3-bias", 3, "silu", True, None, 3, 15, True, 1.0),
    ("mish-L2-nobias", 2, "mish", False, None, 3, 30, True, 1.0),
    ("identity-L3-bias", 3, "identity", True, None, 4, 31, False, 1.0),
    ("mish-expr-L2-bias", 2, CUSTOM, True, None, 4, 16, False, 1.0),
    ("mish-expr-L3-nobias", 3, CUSTOM, False, None, 3, 17, True, 1.0),
    ("atan-expr-L2-bias", 2, "atan(z)", True, None, 3, 18, False, 1.0),
    # corners and cases that once failed
    ("wide-logits-L1", 1, "tanh", True, [3, 4], 3, 19, False, 6.0),
    ("one-sample-L2", 2, "sigmoid", True, None, 1, 20, False, 1.0),
    ("two-classes-L3", 3, "tanh", True, [2, 3, 2, 2], 4, 21, True, 1.0),
    ("sum-to-one-S-symmetry-L2", 2, "tanh", False, [3, 3, 3], 4, 22, False, 2.0),
    # the other losses
    ("bce-binary-L2", 2, "tanh", True, [3, 3, 1], 4, 23, False, 1.0,
     "binary_cross_entropy"),
    ("bce-multilabel-L3", 3, "silu", False, [2, 3, 2, 3], 4, 24, True, 1.0,
     "binary_cross_entropy"),
    ("mse-L2", 2, "sigmoid", True, [3, 2, 2], 4, 25, True, 1.0, "mse"),
    ("mse-L4", 4, "softplus", False, [2, 2, 3, 2, 2], 3, 26, False, 1.0, "mse"),
    # weight decay on the weights only and on every parameter
    ("decay-weights-L2", 2, "tanh", True, None, 4, 27, False, 1.0,
     "softmax_cross_entropy", 0.3, "weights"),
    ("decay-all-L3", 3, "gelu", True, None, 3, 28, True, 1.0,
     "binary_cross_entropy", 0.05, "all"),
    ("decay-nobias-L1", 1, "tanh", False, [3, 3], 4, 29, False, 1.0, "mse", 1.5,
     "weights"),
]

NAMES = ["id", "depth", "activation", "bias", "widths", "n_samples", "seed",
         "soft_targets", "weight_scale", "loss", "weight_decay", "scope"]
DEFAULTS = ("softmax_cross_entropy", 0.0, "weights")


def cases():
    """The rows as pytest parameters with their ids (loss defaults to softmax CE)."""
    rows = [row + DEFAULTS[len(row) - len(NAMES):] if len(row) < len(NAMES) else row
            for row in ROWS]
    return [pytest.param(dict(zip(NAMES, row)), id=row[0]) for row in rows]
