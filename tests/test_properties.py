"""Mathematical properties of MATH.md section 6, on the generated evaluators."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy

from symws.activations import REGISTERED, parse_activation, z
from symws.testing import one_hot, random_network


def test_bounds_hold_against_dense_eigenvalues(make_evaluator):
    """Wolkowicz-Styan, Mirsky and Frobenius bounds on many random networks."""
    for seed in range(12):
        depth, bias = 1 + seed % 3, bool(seed % 2)
        module = make_evaluator(depth, ["tanh", "sigmoid", "softplus"][seed % 3], bias)
        params, X, Y = random_network(depth, bias, n_samples=5, seed=100 + seed,
                                      widths=[3] * depth + [3], weight_scale=2.0)
        r = module.ws_bound(params, X, Y)
        eigenvalues = np.linalg.eigvalsh(module.hessian(params, X, Y))
        low, high = eigenvalues[0], eigenvalues[-1]
        slack = 1e-9 * max(1.0, abs(high), abs(low))

        assert r.n_params == len(eigenvalues)
        assert r.lambda_max_lower - slack <= high <= r.lambda_max_upper + slack
        assert r.lambda_min_lower - slack <= low <= r.lambda_min_upper + slack
        assert high - low <= r.spectral_range_upper + slack
        assert r.lambda_max_upper <= r.frobenius_upper + slack


def test_sample_permutation_leaves_traces_unchanged(make_evaluator):
    module = make_evaluator(3, "tanh", True)
    params, X, Y = random_network(3, True, n_samples=9, seed=3, soft_targets=True)
    order = np.random.default_rng(0).permutation(9)

    before = module.trace_h(params, X, Y), module.trace_h2(params, X, Y)
    after = module.trace_h(params, X[order], Y[order]), module.trace_h2(
        params, X[order], Y[order]
    )
    np.testing.assert_allclose(after, before, rtol=1e-12)


def test_hidden_unit_permutation_leaves_traces_unchanged(make_evaluator):
    module = make_evaluator(2, "silu", True)
    params, X, Y = random_network(2, True, widths=[3, 5, 3], n_samples=6, seed=4)
    order = np.random.default_rng(1).permutation(5)
    (W1, b1), (W2, b2) = params
    permuted = [(W1[order], b1[order]), (W2[:, order], b2)]

    np.testing.assert_allclose(
        [module.trace_h(permuted, X, Y), module.trace_h2(permuted, X, Y)],
        [module.trace_h(params, X, Y), module.trace_h2(params, X, Y)],
        rtol=1e-12,
    )


@pytest.mark.parametrize("bias", [True, False])
def test_depth_one_is_multinomial_logistic_regression(bias, make_evaluator):
    """H = (1/N) sum_n (x~ x~^T) kron S_L, built here with numpy alone."""
    module = make_evaluator(1, "tanh", bias)
    params, X, Y = random_network(1, bias, widths=[4, 3], n_samples=7, seed=5)
    W, b = params[0]
    logits = X @ W.T + (b if bias else 0.0)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)

    size = W.size + (W.shape[0] if bias else 0)
    expected = np.zeros((size, size))
    for x, q in zip(X, p):
        S = np.diag(q) - np.outer(q, q)
        blocks = [[np.kron(S, np.outer(x, x))]]
        if bias:
            cross = np.kron(S, x[:, None])
            blocks = [[blocks[0][0], cross], [cross.T, S]]
        expected += np.block(blocks)
    expected /= len(X)

    np.testing.assert_allclose(module.hessian(params, X, Y), expected, atol=1e-14)


def test_tile_size_does_not_change_the_result(make_evaluator):
    module = make_evaluator(2, "gelu", True)
    params, X, Y = random_network(2, True, n_samples=11, seed=6)
    reference = module.trace_h2(params, X, Y, tile_size=11)
    for tile_size in (1, 2, 3, 5, 10):
        np.testing.assert_allclose(
            module.trace_h2(params, X, Y, tile_size=tile_size), reference, rtol=1e-12
        )
        np.testing.assert_allclose(
            module.hessian(params, X, Y, tile_size=tile_size),
            module.hessian(params, X, Y), atol=1e-14,
        )


def test_integer_labels_equal_one_hot_rows(make_evaluator):
    module = make_evaluator(2, "tanh", True)
    params, X, y = random_network(2, True, n_samples=6, seed=7)
    Y = one_hot(y, params[-1][0].shape[0])
    assert module.ws_bound(params, X, y) == module.ws_bound(params, X, Y)


def test_orthogonal_inputs_cancel_cross_sample_terms_of_layer_one(make_evaluator):
    """Without biases and with orthogonal inputs, ||H_{W1,G}||^2 is the sum of the
    per-sample parts: every cross-sample term carries the factor x_n . x_m = 0."""
    module = make_evaluator(2, "tanh", False)
    params, _, Y = random_network(2, False, widths=[6, 3, 3], n_samples=4, seed=8)
    X = 3.0 * np.linalg.qr(np.random.default_rng(2).normal(size=(6, 4)))[0].T
    weights = params[0][0].size

    H = module.hessian(params, X, Y)
    per_sample = [module.hessian(params, X[n:n + 1], Y[n:n + 1]) for n in range(4)]
    touching = H[:weights, :]
    expected = sum(np.sum(h[:weights, :] ** 2) for h in per_sample) / 4**2

    np.testing.assert_allclose(np.sum(touching**2), expected, rtol=1e-12)
    correlated = X + 0.5 * X[0]
    H_correlated = module.hessian(params, correlated, Y)
    per_sample = [module.hessian(params, correlated[n:n + 1], Y[n:n + 1])
                  for n in range(4)]
    expected = sum(np.sum(h[:weights, :] ** 2) for h in per_sample) / 4**2
    assert not np.isclose(np.sum(H_correlated[:weights, :] ** 2), expected, rtol=1e-6)


def test_huge_logits_do_not_overflow(make_evaluator):
    """Logits of order 1e3: softmax is shifted, results finite and equal to mpmath."""
    from symws.reference import reference_hessian, reference_traces

    module = make_evaluator(1, "tanh", True)
    params, X, Y = random_network(1, True, widths=[2, 3], n_samples=3, seed=9)
    W, b = params[0]
    params = [(W * 300.0, b * 300.0)]
    X = X / np.abs(X).max() * 1.5
    r = module.ws_bound(params, X, Y)
    assert all(math.isfinite(v) for v in r.as_dict().values())

    trace, trace_sq = reference_traces(
        reference_hessian(sympy.tanh(z), params, X, one_hot(Y, 3), dps=40)
    )
    assert abs(r.trace - float(trace)) <= 1e-12 * max(1.0, abs(float(trace)))
    assert abs(r.trace_sq - float(trace_sq)) <= 1e-12 * max(1.0, float(trace_sq))


@pytest.mark.parametrize("name", sorted(set(REGISTERED) - {"identity"}))
def test_activation_derivatives_are_stable_at_large_preactivations(name, make_evaluator):
    """sigma, sigma', sigma'' at +-1e3 as printed: finite and equal to mpmath's."""
    module = make_evaluator(2, name, False)
    plain = parse_activation(name)
    exact = [sympy.lambdify(z, sympy.diff(plain, z, k), "mpmath") for k in range(3)]
    values = np.array([-1000.0, -40.0, -3.0, 0.0, 2.5, 40.0, 1000.0])

    W1 = values[:, None]
    params = [(W1, None), (np.ones((2, len(values))), None)]
    q = module._pair_quantities(
        [(p, b) for p, b in params], np.ones((1, 1)), np.array([[1.0, 0.0]])
    )
    for k, key in enumerate(["a1", "sp1", "spp1"]):
        if key not in q:
            continue
        got = q[key][0]
        assert np.all(np.isfinite(got)), (key, got)
        with mpmath.workdps(40):
            want = np.array([float(exact[k](mpmath.mpf(v))) for v in values])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14)


def test_naive_sigmoid_derivative_is_worse_than_the_stable_form():
    """The reason for the stable rewrite: exp(-z)/(1+exp(-z))^2 fails at z = -1e3."""
    naive = sympy.lambdify(z, sympy.diff(1 / (1 + sympy.exp(-z)), z), "numpy")
    with np.errstate(all="ignore"):
        assert not np.isfinite(naive(np.array(-1000.0)))
    from symws.activations import derivatives
    from symws.codegen import ActivationPrinter

    first = derivatives("sigmoid")[1]
    code = ActivationPrinter({"fully_qualified_modules": True}).doprint(first)
    value = eval(code, {"numpy": np, "z": np.array(-1000.0)})
    assert np.isfinite(value) and value >= 0.0


@pytest.mark.parametrize("depth, bias, activation", [(1, True, "tanh"), (2, False, "gelu"),
                                                     (3, True, "sigmoid"),
                                                     (4, False, "softplus")])
def test_hessian_vector_product_equals_dense_hessian_times_vector(
    depth, bias, activation, make_evaluator
):
    module = make_evaluator(depth, activation, bias)
    params, X, Y = random_network(depth, bias, n_samples=7, seed=40 + depth)
    H = module.hessian(params, X, Y)
    v = np.random.default_rng(depth).normal(size=H.shape[0])

    np.testing.assert_allclose(module.hvp(params, X, Y, v, tile_size=3), H @ v,
                               atol=1e-13 * np.abs(H).max() * np.abs(v).sum())
    apply = module.hvp_operator(params, X, Y, tile_size=2)
    np.testing.assert_allclose(apply(v), H @ v, atol=1e-13 * np.abs(H).sum())


def test_lanczos_finds_the_dense_extreme_eigenvalues(make_evaluator):
    from symws.spectrum import extreme_eigenvalues

    module = make_evaluator(2, "tanh", True)
    params, X, Y = random_network(2, True, widths=[6, 8, 4], n_samples=20, seed=50)
    dense = extreme_eigenvalues(module, params, X, Y, method="dense")
    lanczos = extreme_eigenvalues(module, params, X, Y, method="lanczos",
                                  progress=False)

    assert lanczos.method == "lanczos" and lanczos.products > 0
    assert lanczos.lambda_max == pytest.approx(dense.lambda_max, rel=1e-8)
    assert lanczos.lambda_min == pytest.approx(dense.lambda_min, rel=1e-8, abs=1e-12)


def test_api_refuses_bad_arguments_with_value_errors(make_evaluator):
    """Cases a new user found: each is a ValueError naming the problem."""
    module = make_evaluator(2, "tanh", True)
    params, X, Y = random_network(2, True, widths=[3, 4, 3], n_samples=5, seed=70)
    (W1, b1), (W2, b2) = params
    bad = [
        (dict(tile_size=0), "tile_size"),
        (dict(tile_size=2.5), "tile_size"),
        (dict(tile_size=True), "tile_size"),
    ]
    for kwargs, words in bad:
        with pytest.raises(ValueError, match=words):
            module.trace_h2(params, X, Y, **kwargs)
    with pytest.raises(ValueError, match="missing"):
        module.ws_bound(params, X, None)
    with pytest.raises(ValueError, match="not finite"):
        module.ws_bound([(W1 * 1e300, b1), (W2 * 1e300, b2)], X * 1e300, Y)
    with pytest.raises(ValueError, match="numeric"):
        module.ws_bound([(W1 > 0, b1), (W2, b2)], X, Y)
    with pytest.raises(ValueError, match="width"):
        module.ws_bound([(W1[:0], b1[:0]), (W2[:, :0], b2)], X, Y)
    with pytest.raises(ValueError, match="weight_decay"):
        module.ws_bound(params, X, Y, weight_decay=0.1)


def test_default_tile_size_shrinks_for_wide_layers(make_evaluator):
    module = make_evaluator(2, "tanh", True)
    narrow, _, _ = random_network(2, True, widths=[4, 16, 3], n_samples=2, seed=71)
    wide, _, _ = random_network(2, True, widths=[4, 2000, 3], n_samples=2, seed=72)
    assert module.auto_tile_size(narrow) == module.TILE_SIZE
    assert module.auto_tile_size(wide) < 10
