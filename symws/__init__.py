"""symws: closed-form Wolkowicz-Styan bounds on the loss Hessian of smooth networks.

SymPy derives the per-sample Hessian blocks, tr(H) and tr(H^2) of a fully connected
network with a smooth activation under a given loss; symws prints them as
vectorized NumPy modules (``symws.generated``) and checks every module against the
eigenvalues of an independently built Hessian computed with mpmath.

    import symws
    d = symws.derive("derivations/three_layer_tanh.toml")
    d.blocks[(1, 2)], d.trace, d.trace_sq, d.bounds

The names below are imported on first use, so ``from symws.generated import ...``
loads NumPy alone, not SymPy.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

__all__ = ["Derivation", "Model", "Spec", "derive", "evaluator", "from_sklearn",
           "from_torch", "load_spec"]

_LAZY = {
    "Derivation": "symws.engine",
    "derive": "symws.engine",
    "Spec": "symws.spec",
    "load_spec": "symws.spec",
    "Model": "symws.interop",
    "from_sklearn": "symws.interop",
    "from_torch": "symws.interop",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'symws' has no attribute {name!r}")


def evaluator(spec):
    """A NumPy evaluator module: the generated one of that name, or one derived in
    memory from a spec object or a spec file path.

    The module has the same functions as a generated one (ws_bound, trace_h,
    trace_h2, hessian, hvp, loss, gradient).

    Raises:
        ValueError: an unknown name, a missing or malformed spec.
    """
    from pathlib import Path

    from symws.codegen import load_module
    from symws.generate import render
    from symws.spec import Spec, load_spec

    if isinstance(spec, str) and spec.isidentifier() and not Path(spec).exists():
        try:
            return importlib.import_module(f"symws.generated.{spec}")
        except ImportError:
            raise ValueError(f"no generated evaluator named {spec!r}") from None
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    result = render(spec)
    return load_module(result.files[f"{spec.name}.py"], f"_symws_{spec.name}")
