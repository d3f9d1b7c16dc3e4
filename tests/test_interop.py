"""scikit-learn and PyTorch networks: objective, gradient and Hessian traces
against the libraries' own code."""

from __future__ import annotations

import numpy as np
import pytest

import symws

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def iris(classes=3, n=60):
    data = load_iris()
    keep = data.target < classes
    X = StandardScaler().fit_transform(data.data[keep])[:n]
    return X, data.target[keep][:n]


def sklearn_objective(clf, X, y):
    """scikit-learn's own loss and gradient (its private _backprop), flattened in
    symws' parameter order: W_l (= coefs_[l].T) row-major, then b_l."""
    Y = clf._label_binarizer.transform(y).astype(float)
    layers = clf.n_layers_
    activations = [X] + [None] * (layers - 1)
    deltas = [None] * (layers - 1)
    coef_grads = [np.empty_like(c) for c in clf.coefs_]
    intercept_grads = [np.empty_like(b) for b in clf.intercepts_]
    loss, coef_grads, intercept_grads = clf._backprop(
        X, Y, None, activations, deltas, coef_grads, intercept_grads
    )
    flat = np.concatenate([np.concatenate([c.T.ravel(), b])
                           for c, b in zip(coef_grads, intercept_grads)])
    return loss, flat


@pytest.mark.parametrize("activation, classes, hidden", [
    ("tanh", 3, (5,)),
    ("logistic", 3, (4, 3)),
    ("identity", 3, (4,)),
    ("tanh", 2, (4,)),
])
def test_sklearn_objective_gradient_and_bounds(activation, classes, hidden):
    X, y = iris(classes)
    clf = MLPClassifier(hidden_layer_sizes=hidden, activation=activation, alpha=0.05,
                        solver="lbfgs", max_iter=60, random_state=0).fit(X, y)

    model = symws.from_sklearn(clf)
    loss, gradient = sklearn_objective(clf, X, y)

    assert model.loss(X, y) == pytest.approx(loss, rel=1e-10)
    np.testing.assert_allclose(model.gradient(X, y), gradient, rtol=1e-8, atol=1e-12)
    r = model.ws_bound(X, y)
    eigenvalues = np.linalg.eigvalsh(model.hessian(X, y))
    slack = 1e-9 * abs(eigenvalues).max()
    assert r.lambda_max_lower - slack <= eigenvalues[-1] <= r.lambda_max_upper + slack
    assert r.lambda_min_lower - slack <= eigenvalues[0] <= r.lambda_min_upper + slack
    assert r.trace == pytest.approx(eigenvalues.sum(), rel=1e-10)


def test_sklearn_string_labels_and_unknown_labels():
    X, y = iris(3)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(3,), activation="tanh", solver="lbfgs",
                        max_iter=30, random_state=0).fit(X, names)
    model = symws.from_sklearn(clf)
    assert model.loss(X, names) == pytest.approx(sklearn_objective(clf, X, names)[0],
                                                 rel=1e-10)
    with pytest.raises(ValueError, match="not among the fitted classes"):
        model.ws_bound(X, np.array(["rose"] * len(X)))


def test_sklearn_refuses_relu_and_unfitted():
    X, y = iris(3)
    clf = MLPClassifier(hidden_layer_sizes=(3,), activation="relu", max_iter=5,
                        random_state=0)
    with pytest.raises(ValueError, match="not fitted"):
        symws.from_sklearn(clf)
    with pytest.warns(Warning):
        clf.fit(X, y)
    with pytest.raises(ValueError, match="relu.*not smooth"):
        symws.from_sklearn(clf)
    with pytest.raises(ValueError, match="MLPClassifier"):
        symws.from_sklearn(object())
