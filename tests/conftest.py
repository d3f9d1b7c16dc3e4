"""Shared fixtures: evaluators derived in memory, cached for the session."""

from __future__ import annotations

import functools

import pytest

import symws
from symws.spec import Spec


@functools.lru_cache(maxsize=None)
def evaluator_for(depth: int, activation: str, bias: bool,
                  loss: str = "softmax_cross_entropy", weight_decay: float = 0.0,
                  scope: str = "weights"):
    """A NumPy evaluator derived in memory (cached: each is derived once)."""
    safe = "".join(c if c.isalnum() else "_" for c in activation)[:20]
    decay = f"_wd{abs(hash((weight_decay, scope))) % 10**6}" if weight_decay else ""
    name = f"case_{safe}_L{depth}_{'b' if bias else 'nb'}_{loss}{decay}"
    return symws.evaluator(Spec(name, depth, activation, loss=loss, bias=bias,
                                weight_decay=weight_decay, weight_decay_scope=scope))


@pytest.fixture(scope="session")
def make_evaluator():
    return evaluator_for
