"""The table of scenarios the oracle tests run: readable ids, one row each.

Columns: id, depth, activation, bias, widths (None = drawn from the seed), N,
seed, soft targets, weight scale. The last group lists cases that once failed or
stress a corner (wide logits, single sample, identity-like layers).
"""

from __future__ import annotations

import pytest

REGISTERED = ["tanh", "sigmoid", "softplus", "gelu", "silu"]
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
    ("mish-expr-L2-bias", 2, CUSTOM, True, None, 4, 16, False, 1.0),
    ("mish-expr-L3-nobias", 3, CUSTOM, False, None, 3, 17, True, 1.0),
    ("atan-expr-L2-bias", 2, "atan(z)", True, None, 3, 18, False, 1.0),
    # corners and cases that once failed
    ("wide-logits-L1", 1, "tanh", True, [3, 4], 3, 19, False, 6.0),
    ("one-sample-L2", 2, "sigmoid", True, None, 1, 20, False, 1.0),
    ("two-classes-L3", 3, "tanh", True, [2, 3, 2, 2], 4, 21, True, 1.0),
    ("sum-to-one-S-symmetry-L2", 2, "tanh", False, [3, 3, 3], 4, 22, False, 2.0),
]

NAMES = ["id", "depth", "activation", "bias", "widths", "n_samples", "seed",
         "soft_targets", "weight_scale"]


def cases():
    """The rows as pytest parameters with their ids."""
    return [pytest.param(dict(zip(NAMES, row)), id=row[0]) for row in ROWS]
