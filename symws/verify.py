"""Check generated evaluators against the independent mpmath oracle.

For random small networks, the dense Hessian of a fully scalar SymPy model is
evaluated with mpmath at ``dps`` digits (``symws.reference``), and its eigenvalues
computed by ``mpmath.eigsy``. A generated evaluator passes when, in float64,

- tr(H) and tr(H^2) agree with the oracle to relative 1e-10,
- its dense Hessian agrees entrywise to 1e-10 of the largest entry,
- all four Wolkowicz-Styan bounds hold for the oracle's extreme eigenvalues
  (with a slack of 1e-9 relative for float64 rounding of the bounds).
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

from symws.activations import parse_activation
from symws.reference import reference_eigenvalues, reference_hessian, reference_traces
from symws.testing import random_network

TRACE_TOLERANCE = 1e-10
HESSIAN_TOLERANCE = 1e-10
BOUND_SLACK = 1e-9


@dataclass
class Check:
    """One random network compared with the oracle."""

    name: str
    depth: int
    bias: bool
    widths: tuple
    n_params: int
    trace_error: float
    trace_sq_error: float
    hessian_error: float
    lambda_min: float
    lambda_max: float
    bounds_hold: bool

    @property
    def passed(self) -> bool:
        return (
            self.trace_error <= TRACE_TOLERANCE
            and self.trace_sq_error <= TRACE_TOLERANCE
            and self.hessian_error <= HESSIAN_TOLERANCE
            and self.bounds_hold
        )


class Report(list):
    """A list of Checks whose repr is a table."""

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self)

    def __repr__(self) -> str:
        header = (
            f"{'evaluator':<22} {'L':>2} {'bias':>5} {'widths':<14} {'P':>4} "
            f"{'rel err trH':>11} {'rel err trH2':>12} {'err H':>9} "
            f"{'lambda_min':>11} {'lambda_max':>11} {'bounds':>6} {'ok':>4}"
        )
        lines = [header, "-" * len(header)]
        for c in self:
            lines.append(
                f"{c.name:<22} {c.depth:>2} {str(c.bias):>5} "
                f"{'-'.join(map(str, c.widths)):<14} {c.n_params:>4} "
                f"{c.trace_error:11.1e} {c.trace_sq_error:12.1e} {c.hessian_error:9.1e} "
                f"{c.lambda_min:11.4g} {c.lambda_max:11.4g} "
                f"{'hold' if c.bounds_hold else 'FAIL':>6} {'yes' if c.passed else 'NO':>4}"
            )
        return "\n".join(lines)


def relative(value: float, reference) -> float:
    scale = max(abs(float(reference)), 1e-300)
    return abs(float(value) - float(reference)) / scale


def penalized_positions(module, params) -> list[int]:
    """Parameter positions the weight decay (lambda / 2) ||theta_S||^2 acts on."""
    if not module.WEIGHT_DECAY:
        return []
    positions, start = [], 0
    for W, b in params:
        positions += range(start, start + W.size)
        start += W.size
        if b is not None:
            if module.WEIGHT_DECAY_SCOPE == "all":
                positions += range(start, start + b.size)
            start += b.size
    return positions


def check_network(module, params, X, Y, dps: int = 30) -> Check:
    """Compare one evaluator with the oracle on one network and data set."""
    activation = parse_activation(module.ACTIVATION)
    _, _, targets = module.check_inputs(params, X, Y)

    H_ref = reference_hessian(activation, params, X, targets, dps=dps, loss=module.LOSS)
    with mpmath.workdps(dps):
        for position in penalized_positions(module, params):
            H_ref[position, position] += mpmath.mpf(module.WEIGHT_DECAY)
    trace_ref, trace_sq_ref = reference_traces(H_ref)
    eigenvalues = reference_eigenvalues(H_ref)
    lambda_min, lambda_max = eigenvalues[0], eigenvalues[-1]

    bounds = module.ws_bound(params, X, Y)
    H = module.hessian(params, X, Y)
    H_ref_float = np.array(H_ref.tolist(), dtype=float)
    hessian_error = float(np.max(np.abs(H - H_ref_float)) / np.max(np.abs(H_ref_float)))

    slack = BOUND_SLACK * max(1.0, float(abs(lambda_max)), float(abs(lambda_min)))
    with mpmath.workdps(dps):
        holds = (
            lambda_max <= bounds.lambda_max_upper + slack
            and lambda_max >= bounds.lambda_max_lower - slack
            and lambda_min >= bounds.lambda_min_lower - slack
            and lambda_min <= bounds.lambda_min_upper + slack
        )
    return Check(
        name=module.NAME,
        depth=module.DEPTH,
        bias=module.BIAS,
        widths=tuple([X.shape[1]] + [W.shape[0] for W, _ in params]),
        n_params=bounds.n_params,
        trace_error=relative(bounds.trace, trace_ref),
        trace_sq_error=relative(bounds.trace_sq, trace_sq_ref),
        hessian_error=hessian_error,
        lambda_min=float(lambda_min),
        lambda_max=float(lambda_max),
        bounds_hold=bool(holds),
    )


def verify_module(module, trials: int = 3, dps: int = 30, seed: int = 0) -> Report:
    """Check an evaluator on ``trials`` random networks of its depth and bias."""
    report = Report()
    for trial in range(trials):
        params, X, Y = random_network(
            module.DEPTH, module.BIAS, n_samples=3 + trial, seed=seed + trial,
            soft_targets=bool(trial % 2),
        )
        report.append(check_network(module, params, X, Y, dps=dps))
    return report
