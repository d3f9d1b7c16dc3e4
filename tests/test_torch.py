"""PyTorch networks: tr(H) and tr(H^2) against torch.func.hessian in float64."""

from __future__ import annotations

import numpy as np
import pytest

import symws

torch = pytest.importorskip("torch")
nn = torch.nn


def flat_loss(network, X, Y, loss):
    """The mean loss as a function of one flat float64 parameter vector."""
    shapes = [p.shape for p in network.parameters()]
    names = [n for n, _ in network.named_parameters()]

    def function(theta):
        params, start = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            params[name] = theta[start:start + size].reshape(shape)
            start += size
        logits = torch.func.functional_call(network, params, (X,))
        if loss == "softmax_cross_entropy":
            return -(Y * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        if loss == "binary_cross_entropy":
            return torch.nn.functional.binary_cross_entropy_with_logits(
                logits, Y, reduction="sum") / X.shape[0]
        return 0.5 * ((logits - Y) ** 2).sum() / X.shape[0]

    theta = torch.cat([p.detach().reshape(-1) for p in network.parameters()])
    return function, theta


NETWORKS = [
    ("tanh", lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)),
     "softmax_cross_entropy"),
    ("softplus-beta", lambda: nn.Sequential(nn.Linear(3, 4), nn.Softplus(beta=2.0),
                                            nn.Linear(4, 4), nn.Softplus(beta=2.0),
                                            nn.Linear(4, 2)), "softmax_cross_entropy"),
    ("gelu-tanh", lambda: nn.Sequential(nn.Linear(3, 5), nn.GELU(approximate="tanh"),
                                        nn.Linear(5, 3)), "softmax_cross_entropy"),
    ("gelu-erf", lambda: nn.Sequential(nn.Linear(3, 4, bias=False), nn.GELU(),
                                       nn.Linear(4, 3, bias=False)), "mse"),
    ("silu", lambda: nn.Sequential(nn.Linear(3, 4), nn.SiLU(), nn.Linear(4, 2)),
     "binary_cross_entropy"),
    ("mish", lambda: nn.Sequential(nn.Linear(3, 3), nn.Mish(), nn.Linear(3, 3),
                                   nn.Mish(), nn.Linear(3, 3)), "softmax_cross_entropy"),
    ("sigmoid", lambda: nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 3)),
     "softmax_cross_entropy"),
]


@pytest.mark.parametrize("label, build, loss", NETWORKS, ids=[n[0] for n in NETWORKS])
def test_traces_match_torch_autograd_hessian(label, build, loss):
    torch.manual_seed(0)
    network = build().double()
    rng = np.random.default_rng(1)
    classes = network[-1].out_features
    X = rng.normal(size=(6, 3))
    if loss == "softmax_cross_entropy":
        Y = rng.dirichlet(np.ones(classes), size=6)
    elif loss == "binary_cross_entropy":
        Y = rng.uniform(size=(6, classes))
    else:
        Y = rng.normal(size=(6, classes))

    model = symws.from_torch(network, loss=loss)
    function, theta = flat_loss(network, torch.tensor(X), torch.tensor(Y), loss)
    H = torch.func.hessian(function)(theta).numpy()

    assert model.trace_h(X, Y) == pytest.approx(np.trace(H), rel=1e-9)
    assert model.trace_h2(X, Y) == pytest.approx(np.sum(H**2), rel=1e-9)
    assert model.loss(X, Y) == pytest.approx(float(function(theta)), rel=1e-12)


@pytest.mark.parametrize("layer, words", [
    (lambda: nn.ReLU(), "not smooth"),
    (lambda: nn.ELU(), "not smooth"),
    (lambda: nn.Dropout(0.1), "not supported"),
])
def test_unsupported_layers_are_refused(layer, words):
    network = nn.Sequential(nn.Linear(3, 4), layer(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=words):
        symws.from_torch(network)


def test_malformed_networks_are_refused():
    with pytest.raises(ValueError, match="end with a Linear"):
        symws.from_torch(nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=1)))
    with pytest.raises(ValueError, match="different activations"):
        symws.from_torch(nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 3),
                                       nn.Sigmoid(), nn.Linear(3, 2)))
    with pytest.raises(ValueError, match="nn.Sequential"):
        symws.from_torch(nn.Linear(3, 2))
    network = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        network[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        symws.from_torch(network)


def test_cli_reads_a_state_dict(tmp_path):
    import json
    import subprocess
    import sys

    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    torch.save(network.state_dict(), tmp_path / "net.pt")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 3)), rng.integers(0, 3, size=5)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    (tmp_path / "fake.pt").write_text("not a checkpoint")

    def bound(weights):
        return subprocess.run(
            [sys.executable, "-m", "symws", "bound", "--spec", "three_layer_tanh",
             "--weights", str(weights), "--data", str(tmp_path / "data.npz"), "--json"],
            capture_output=True, text=True)

    result = bound(tmp_path / "net.pt")
    assert result.returncode == 0, result.stderr
    expected = symws.from_torch(network).ws_bound(X, y)
    assert json.loads(result.stdout)["trace"] == pytest.approx(expected.trace, rel=1e-12)
    bad = bound(tmp_path / "fake.pt")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
