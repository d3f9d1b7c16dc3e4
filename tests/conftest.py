"""Shared fixtures: evaluators derived in memory, cached for the session."""

from __future__ import annotations

import functools

import pytest

import symws
from symws.spec import Spec


@functools.lru_cache(maxsize=None)
def evaluator_for(depth: int, activation: str, bias: bool):
    """A NumPy evaluator derived in memory (cached: each is derived once)."""
    safe = "".join(c if c.isalnum() else "_" for c in activation)[:20]
    name = f"case_{safe}_L{depth}_{'b' if bias else 'nb'}"
    return symws.evaluator(Spec(name, depth, activation, bias=bias))


@pytest.fixture(scope="session")
def make_evaluator():
    return evaluator_for
