"""Tests of the high-precision reference Hessian against independent facts.

Nothing here reuses the oracle's own construction: expected values come from
the closed-form Hessian of multinomial logistic regression (numpy and
mpmath), from central finite differences of a hand-written numpy
backpropagation gradient, and from linear-algebra identities.
"""

import math

import mpmath
import numpy as np
import pytest
import sympy

from symws.reference import (
    reference_eigenvalues,
    reference_hessian,
    reference_traces,
)

Z = sympy.Symbol("z")

ACTIVATIONS = {
    "tanh": sympy.tanh(Z),
    "sigmoid": 1 / (1 + sympy.exp(-Z)),
    "softplus": sympy.log(1 + sympy.exp(Z)),
    "gelu": Z * sympy.erf(Z / sympy.sqrt(2)) / 2 + Z / 2,
    "mish": Z * sympy.tanh(sympy.log(1 + sympy.exp(Z))),
}

_erf = np.vectorize(math.erf)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _gelu(z):
    return z * 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))


def _gelu_prime(z):
    cdf = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
    return cdf + z * np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)


def _mish(z):
    return z * np.tanh(np.logaddexp(0.0, z))


def _mish_prime(z):
    t = np.tanh(np.logaddexp(0.0, z))
    return t + z * (1.0 - t**2) * _sigmoid(z)


NUMPY_ACTIVATIONS = {
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "softplus": (lambda z: np.logaddexp(0.0, z), _sigmoid),
    "gelu": (_gelu, _gelu_prime),
    "mish": (_mish, _mish_prime),
}


def _network(rng, widths, bias, scale=0.8):
    """Random ``[(W, b), ...]`` for the given widths."""
    return [
        (
            scale * rng.standard_normal((widths[i + 1], widths[i])),
            0.5 * rng.standard_normal(widths[i + 1]) if bias else None,
        )
        for i in range(len(widths) - 1)
    ]


def _data(rng, n, widths, normalised=True):
    """Inputs ``(n, d_0)`` and positive target rows ``(n, K)``."""
    X = rng.standard_normal((n, widths[0]))
    Y = rng.uniform(0.1, 1.0, size=(n, widths[-1]))
    if normalised:
        Y /= Y.sum(axis=1, keepdims=True)
    return X, Y


def _to_numpy(H):
    return np.array([[float(H[i, j]) for j in range(H.cols)] for i in range(H.rows)])


def _flat(params):
    """Parameters in Hessian order: per layer W row-major, then b."""
    parts = []
    for W, b in params:
        parts.append(W.ravel())
        if b is not None:
            parts.append(b)
    return np.concatenate(parts)


def _unflat(theta, like):
    params, pos = [], 0
    for W, b in like:
        Wn = theta[pos : pos + W.size].reshape(W.shape)
        pos += W.size
        bn = None
        if b is not None:
            bn = theta[pos : pos + b.size]
            pos += b.size
        params.append((Wn, bn))
    return params


def _numpy_loss_and_grad(params, X, Y, act, act_prime):
    """Mean cross-entropy and its backpropagated gradient, in Hessian order."""
    a, pre, post = X, [], [X]
    for layer, (W, b) in enumerate(params):
        z = a @ W.T + (b if b is not None else 0.0)
        pre.append(z)
        a = z if layer == len(params) - 1 else act(z)
        post.append(a)
    f = post[-1]
    shifted = f - f.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = X.shape[0]
    loss = -(Y * log_p).sum() / n
    delta = (np.exp(log_p) * Y.sum(axis=1, keepdims=True) - Y) / n
    grads = []
    for layer in range(len(params) - 1, -1, -1):
        W, b = params[layer]
        grad_b = delta.sum(axis=0) if b is not None else None
        grads.append((delta.T @ post[layer], grad_b))
        if layer > 0:
            delta = (delta @ W) * act_prime(pre[layer - 1])
    return loss, _flat(grads[::-1])


def _fd_hessian(params, X, Y, act, act_prime, h=1e-5):
    """Central differences of the numpy gradient, column by column."""
    theta = _flat(params)
    H = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h
        _, g_plus = _numpy_loss_and_grad(_unflat(theta + step, params), X, Y,
                                         act, act_prime)
        _, g_minus = _numpy_loss_and_grad(_unflat(theta - step, params), X, Y,
                                          act, act_prime)
        H[:, i] = (g_plus - g_minus) / (2 * h)
    return H


def _logistic_coordinates(K, d, bias):
    """(class k, feature j) of each parameter; feature ``d`` is the bias."""
    coords = [(k, j) for k in range(K) for j in range(d)]
    if bias:
        coords += [(k, d) for k in range(K)]
    return coords


@pytest.mark.parametrize("bias", [True, False])
def test_depth1_matches_logistic_regression_numpy(bias):
    rng = np.random.default_rng(0)
    widths = (3, 4)
    params = _network(rng, widths, bias)
    X, Y = _data(rng, 5, widths)
    W, b = params[0]
    K, d = W.shape
    coords = _logistic_coordinates(K, d, bias)
    expected = np.zeros((len(coords), len(coords)))
    for x, y in zip(X, Y):
        f = W @ x + (b if bias else 0.0)
        p = np.exp(f - f.max())
        p /= p.sum()
        A = y.sum() * (np.diag(p) - np.outer(p, p))
        x_tilde = np.append(x, 1.0)
        for r, (k, j) in enumerate(coords):
            for c, (k2, j2) in enumerate(coords):
                expected[r, c] += A[k, k2] * x_tilde[j] * x_tilde[j2]
    expected /= len(X)
    if not bias:
        # Without bias the row-major order is exactly kron(A, x x^T).
        kron_form = np.zeros_like(expected)
        for x in X:
            p = np.exp(W @ x) / np.exp(W @ x).sum()
            kron_form += np.kron(np.diag(p) - np.outer(p, p), np.outer(x, x))
        kron_form /= len(X)
        np.testing.assert_allclose(expected, kron_form, rtol=0, atol=1e-14)

    H = _to_numpy(reference_hessian(ACTIVATIONS["tanh"], params, X, Y))
    assert H.shape == (K * d + (K if bias else 0),) * 2
    np.testing.assert_allclose(H, expected, rtol=0, atol=1e-12)


def test_depth1_high_precision_and_unnormalised_targets():
    rng = np.random.default_rng(1)
    widths = (2, 3)
    params = _network(rng, widths, bias=True)
    X, Y = _data(rng, 3, widths, normalised=False)
    W, b = params[0]
    K, d = W.shape
    coords = _logistic_coordinates(K, d, bias=True)
    dps = 50
    H = reference_hessian(ACTIVATIONS["sigmoid"], params, X, Y, dps=dps)
    with mpmath.workdps(dps):
        expected = mpmath.zeros(len(coords))
        for x, y in zip(X, Y):
            x_tilde = [mpmath.mpf(float(v)) for v in x] + [mpmath.mpf(1)]
            f = [
                mpmath.fsum(mpmath.mpf(float(W[k, j])) * x_tilde[j] for j in range(d))
                + mpmath.mpf(float(b[k]))
                for k in range(K)
            ]
            norm = mpmath.fsum(mpmath.exp(v) for v in f)
            p = [mpmath.exp(v) / norm for v in f]
            y_sum = mpmath.fsum(mpmath.mpf(float(v)) for v in y)
            for r, (k, j) in enumerate(coords):
                for c, (k2, j2) in enumerate(coords):
                    a_kk = (p[k] if k == k2 else 0) - p[k] * p[k2]
                    expected[r, c] += y_sum * a_kk * x_tilde[j] * x_tilde[j2]
        expected /= len(X)
        scale = mpmath.mnorm(expected, "F")
        error = mpmath.mnorm(H - expected, "F") / scale
    assert error < mpmath.mpf(10) ** (-45)


def test_numpy_gradient_is_consistent():
    """Sanity check of the test's own backpropagation against its loss."""
    rng = np.random.default_rng(2)
    widths = (2, 3, 2)
    params = _network(rng, widths, bias=True)
    X, Y = _data(rng, 3, widths)
    for name, (act, act_prime) in NUMPY_ACTIVATIONS.items():
        theta = _flat(params)
        _, grad = _numpy_loss_and_grad(params, X, Y, act, act_prime)
        fd = np.empty_like(theta)
        h = 1e-6
        for i in range(theta.size):
            step = np.zeros_like(theta)
            step[i] = h
            up, _ = _numpy_loss_and_grad(_unflat(theta + step, params), X, Y,
                                         act, act_prime)
            down, _ = _numpy_loss_and_grad(_unflat(theta - step, params), X, Y,
                                           act, act_prime)
            fd[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_depth2_matches_finite_differences(name):
    rng = np.random.default_rng(3)
    widths = (2, 3, 2)
    params = _network(rng, widths, bias=True)
    X, Y = _data(rng, 3, widths)
    act, act_prime = NUMPY_ACTIVATIONS[name]
    H = _to_numpy(reference_hessian(ACTIVATIONS[name], params, X, Y))
    H_fd = _fd_hessian(params, X, Y, act, act_prime)
    scale = np.abs(H).max()
    assert np.abs(H - H_fd).max() <= 1e-6 * scale


def test_depth3_without_bias_matches_finite_differences():
    rng = np.random.default_rng(4)
    widths = (2, 2, 3, 2)
    params = _network(rng, widths, bias=False, scale=1.0)
    X, Y = _data(rng, 4, widths)
    act, act_prime = NUMPY_ACTIVATIONS["tanh"]
    H = _to_numpy(reference_hessian(ACTIVATIONS["tanh"], params, X, Y))
    H_fd = _fd_hessian(params, X, Y, act, act_prime)
    assert np.abs(H - H_fd).max() <= 1e-6 * np.abs(H).max()


@pytest.mark.parametrize(
    "activation",
    [ACTIVATIONS["mish"], ACTIVATIONS["gelu"], sympy.Float(0.1) * Z + sympy.tanh(Z)],
)
def test_chain_construction_matches_nested_diff(activation):
    rng = np.random.default_rng(5)
    widths = (1, 2, 2)
    params = _network(rng, widths, bias=False)
    X, Y = _data(rng, 2, widths)
    dps = 40
    H_chain = reference_hessian(activation, params, X, Y, dps=dps)
    H_nested = reference_hessian(activation, params, X, Y, dps=dps, method="nested")
    with mpmath.workdps(dps):
        error = mpmath.mnorm(H_chain - H_nested, "F") / mpmath.mnorm(H_nested, "F")
    assert error < mpmath.mpf(10) ** (-35)


@pytest.fixture(scope="module")
def depth4_hessian():
    rng = np.random.default_rng(6)
    widths = (2, 2, 2, 2, 2)
    params = _network(rng, widths, bias=True, scale=1.0)
    X, Y = _data(rng, 4, widths)
    return reference_hessian(ACTIVATIONS["gelu"], params, X, Y, dps=30)


def test_symmetry(depth4_hessian):
    H = depth4_hessian
    assert H.rows == H.cols == 24
    assert all(H[i, j] == H[j, i] for i in range(H.rows) for j in range(i))


def test_eigenvalues_match_traces(depth4_hessian):
    H = depth4_hessian
    eigenvalues = reference_eigenvalues(H)
    trace, trace_sq = reference_traces(H)
    assert len(eigenvalues) == H.rows
    assert all(isinstance(v, mpmath.mpf) for v in eigenvalues)
    assert eigenvalues == sorted(eigenvalues)
    with mpmath.workdps(30):
        assert trace == mpmath.fsum(H[i, i] for i in range(H.rows))
        tol = mpmath.mpf(10) ** (-25)
        assert abs(mpmath.fsum(eigenvalues) - trace) < tol * trace_sq**0.5
        assert abs(mpmath.fsum(v**2 for v in eigenvalues) - trace_sq) < tol * trace_sq
    np.testing.assert_allclose(
        [float(v) for v in eigenvalues],
        np.linalg.eigvalsh(_to_numpy(H)),
        rtol=0,
        atol=1e-12 * float(trace_sq) ** 0.5,
    )


def test_precision_is_real():
    rng = np.random.default_rng(3)
    widths = (2, 3, 2)
    params = _network(rng, widths, bias=True)
    X, Y = _data(rng, 3, widths)
    H30 = reference_hessian(ACTIVATIONS["tanh"], params, X, Y, dps=30)
    H60 = reference_hessian(ACTIVATIONS["tanh"], params, X, Y, dps=60)
    with mpmath.workdps(60):
        error = mpmath.mnorm(H30 - H60, "F") / mpmath.mnorm(H60, "F")
    assert error < mpmath.mpf(10) ** (-28)
    assert error > 0

    assert mpmath.mp.dps == 15
    default = reference_eigenvalues(H60)
    explicit = reference_eigenvalues(H60, dps=60)
    with mpmath.workdps(60):
        gap = max(abs(u - v) for u, v in zip(default, explicit))
        assert gap < mpmath.mpf(10) ** (-50)
        assert abs(reference_traces(H60)[1] - reference_traces(H60, dps=60)[1]) < (
            mpmath.mpf(10) ** (-50)
        )
    assert mpmath.mp.dps == 15


def test_input_validation():
    rng = np.random.default_rng(7)
    widths = (2, 2, 2)
    params = _network(rng, widths, bias=True)
    X, Y = _data(rng, 2, widths)
    with pytest.raises(ValueError):
        reference_hessian(ACTIVATIONS["tanh"], [params[0], (params[1][0], None)], X, Y)
    with pytest.raises(ValueError):
        reference_hessian(ACTIVATIONS["tanh"], params, X[:, :1], Y)
    with pytest.raises(ValueError):
        reference_hessian(ACTIVATIONS["tanh"], params, X, Y[:1])
    with pytest.raises(ValueError):
        reference_hessian(sympy.tanh(sympy.Symbol("u")), params, X, Y)
    with pytest.raises(ValueError):
        reference_hessian(ACTIVATIONS["tanh"], params, X, Y, method="autograd")
    with pytest.raises(ValueError):
        reference_eigenvalues(mpmath.matrix(2, 3))
