"""symws: closed-form Wolkowicz-Styan bounds on the loss Hessian of smooth networks.

SymPy derives the per-sample Hessian blocks, tr(H) and tr(H^2) of a fully connected
network with a smooth activation under a given loss; symws prints them as
vectorized NumPy modules (``symws.generated``) and checks every module against the
eigenvalues of an independently built Hessian computed with mpmath.

    import symws
    d = symws.derive("derivations/three_layer_tanh.toml")
    d.blocks[(1, 2)], d.trace, d.trace_sq, d.bounds
"""

from symws.engine import Derivation, derive
from symws.interop import Model, from_sklearn, from_torch
from symws.spec import Spec, load_spec

__version__ = "0.1.0"

__all__ = ["Derivation", "Model", "Spec", "derive", "evaluator", "from_sklearn",
           "from_torch", "load_spec"]


def evaluator(spec):
    """A NumPy evaluator module for a spec object or spec path, derived in memory.

    The module has the same functions as a generated one (ws_bound, trace_h,
    trace_h2, hessian).
    """
    from symws.codegen import load_module
    from symws.generate import render

    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    result = render(spec)
    return load_module(result.files[f"{spec.name}.py"], f"_symws_{spec.name}")
