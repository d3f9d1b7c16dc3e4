"""Generated evaluators against the independent mpmath oracle (MATH.md section 6).

Each case of ``cases.py`` derives an evaluator in memory, draws a random network,
and compares tr(H), tr(H^2) and the dense Hessian with a fully scalar SymPy model
evaluated at 30 digits, whose eigenvalues (mpmath.eigsy) must respect every bound.
"""

from __future__ import annotations

import numpy as np
import pytest
from cases import cases

from symws.testing import random_network
from symws.verify import HESSIAN_TOLERANCE, TRACE_TOLERANCE, check_network


@pytest.mark.parametrize("case", cases())
def test_generated_evaluator_matches_mpmath(case, make_evaluator):
    module = make_evaluator(case["depth"], case["activation"], case["bias"],
                            case["loss"], case["weight_decay"], case["scope"])
    params, X, Y = random_network(
        case["depth"], case["bias"], widths=case["widths"],
        n_samples=case["n_samples"], seed=case["seed"],
        weight_scale=case["weight_scale"], soft_targets=case["soft_targets"],
    )

    check = check_network(module, params, X, Y, dps=30)

    assert check.trace_error <= TRACE_TOLERANCE, check
    assert check.trace_sq_error <= TRACE_TOLERANCE, check
    assert check.hessian_error <= HESSIAN_TOLERANCE, check
    assert check.bounds_hold, check


def test_committed_modules_match_mpmath():
    """The modules in generated/ themselves, one random network each."""
    from symws.generated import (
        deep_softplus,
        three_layer_mish,
        three_layer_sigmoid,
        three_layer_tanh,
    )

    for seed, module in enumerate(
        [three_layer_tanh, three_layer_sigmoid, deep_softplus, three_layer_mish]
    ):
        params, X, Y = random_network(module.DEPTH, module.BIAS, n_samples=3, seed=seed)
        check = check_network(module, params, X, Y, dps=30)
        assert check.passed, check


def test_oracle_catches_a_wrong_hessian(make_evaluator):
    """The comparison can fail: a perturbed evaluator result is flagged."""
    module = make_evaluator(2, "tanh", True)
    params, X, Y = random_network(2, True, n_samples=3, seed=0)

    class Wrong:
        NAME, DEPTH, BIAS, ACTIVATION = "wrong", 2, True, "sigmoid"
        LOSS, WEIGHT_DECAY = module.LOSS, module.WEIGHT_DECAY
        check_inputs = staticmethod(module.check_inputs)
        ws_bound = staticmethod(module.ws_bound)
        hessian = staticmethod(module.hessian)

    check = check_network(Wrong, params, X, Y, dps=30)
    assert not check.passed
    assert check.trace_error > 1e-6 and np.isfinite(check.trace_error)


def test_literal_double_differentiation_agrees(make_evaluator):
    """The oracle's literal mode: the whole nested loss differentiated twice."""
    from symws.activations import parse_activation
    from symws.reference import reference_hessian, reference_traces
    from symws.testing import one_hot

    module = make_evaluator(2, "gelu", True)
    params, X, Y = random_network(2, True, widths=[2, 2, 2], n_samples=2, seed=30)
    H = reference_hessian(parse_activation("gelu"), params, X, one_hot(Y, 2), dps=30,
                          method="nested")
    trace, trace_sq = reference_traces(H)

    assert abs(module.trace_h(params, X, Y) / float(trace) - 1) <= TRACE_TOLERANCE
    assert abs(module.trace_h2(params, X, Y) / float(trace_sq) - 1) <= TRACE_TOLERANCE
