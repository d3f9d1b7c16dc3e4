"""Networks people already have: a fitted scikit-learn MLPClassifier, a PyTorch
``nn.Sequential``. Each becomes a ``Model``: the matching spec, the parameters in
symws' layout, and the evaluator for the objective the library itself minimizes.

scikit-learn's MLPClassifier minimizes the mean log-loss plus
(alpha / (2 N)) sum_l ||W_l||^2 (weights only, N the number of training
samples), with a softmax output for more than two classes, one logistic output
for two, and independent logistic outputs for multilabel targets. As weight
decay that is lambda = alpha / N, applied to the weights: ``Model`` passes it with
the N of the data it is given.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from symws.activations import WHY
from symws.spec import Spec

SKLEARN_ACTIVATIONS = {"tanh": "tanh", "logistic": "sigmoid", "identity": "identity"}


@functools.lru_cache(maxsize=32)
def evaluator_for(spec: Spec) -> ModuleType:
    """A generated module matching the spec if one exists, else one derived now."""
    import importlib
    import pkgutil

    import symws.generated as package

    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"symws.generated.{info.name}")
        if (module.DEPTH, module.ACTIVATION, module.LOSS, module.BIAS) == (
            spec.depth, spec.activation, spec.loss, spec.bias
        ) and bool(module.WEIGHT_DECAY) == bool(spec.weight_decay) and (
            module.WEIGHT_DECAY_SCOPE == spec.weight_decay_scope
        ):
            return module
    from symws import evaluator

    return evaluator(spec)


@dataclass
class Model:
    """A network with its symws evaluator.

    Attributes:
        spec: the derivation spec that matches the network.
        params: [(W_l (d_l, d_{l-1}), b_l (d_l,) or None)], float64.
        module: the evaluator (generated or derived in memory).
        weight_decay: lambda of a fixed penalty (lambda / 2)||W||^2, or None.
        decay_per_sample: alpha with lambda = alpha / N for the data given
            (scikit-learn's scaling), or None.
        classes: label values whose positions are the class indices, or None.
    """

    spec: Spec
    params: list
    module: ModuleType = field(repr=False)
    weight_decay: float | None = None
    decay_per_sample: float | None = None
    classes: np.ndarray | None = None

    def targets(self, y) -> np.ndarray:
        """Labels in the library's own values -> what the evaluator takes."""
        y = np.asarray(y)
        if self.classes is None or y.ndim != 1:
            return y
        positions = np.searchsorted(self.classes, y)
        positions = np.clip(positions, 0, len(self.classes) - 1)
        if np.any(self.classes[positions] != y):
            unknown = sorted(set(y[self.classes[positions] != y].tolist()))[:5]
            raise ValueError(f"labels {unknown} are not among the fitted classes")
        return positions

    def decay(self, X) -> float:
        if self.decay_per_sample is not None:
            return self.decay_per_sample / np.shape(X)[0]
        return self.weight_decay or 0.0

    def ws_bound(self, X, y):
        """The Wolkowicz-Styan bounds (fields as a generated ``ws_bound``)."""
        return self.module.ws_bound(self.params, X, self.targets(y),
                                    weight_decay=self.decay(X))

    def loss(self, X, y) -> float:
        return self.module.loss(self.params, X, self.targets(y),
                                weight_decay=self.decay(X))

    def gradient(self, X, y) -> np.ndarray:
        return self.module.gradient(self.params, X, self.targets(y),
                                    weight_decay=self.decay(X))

    def hessian(self, X, y) -> np.ndarray:
        return self.module.hessian(self.params, X, self.targets(y),
                                   weight_decay=self.decay(X))

    def trace_h(self, X, y) -> float:
        return self.module.trace_h(self.params, X, self.targets(y),
                                   weight_decay=self.decay(X))

    def trace_h2(self, X, y) -> float:
        return self.module.trace_h2(self.params, X, self.targets(y),
                                    weight_decay=self.decay(X))


def from_sklearn(classifier) -> Model:
    """A fitted ``sklearn.neural_network.MLPClassifier`` as a Model.

    Raises:
        ValueError: not a fitted MLPClassifier, or a non-smooth activation.
    """
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise ValueError("scikit-learn is not installed") from None
    if not isinstance(classifier, MLPClassifier):
        raise ValueError(
            f"from_sklearn takes a fitted MLPClassifier, got {type(classifier).__name__}"
        )
    if not hasattr(classifier, "coefs_"):
        raise ValueError("the MLPClassifier is not fitted yet: call fit first")
    name = classifier.activation
    if name not in SKLEARN_ACTIVATIONS:
        raise ValueError(f"MLPClassifier activation {name!r} is not smooth; {WHY}")

    output = classifier.out_activation_
    if output == "softmax":
        loss = "softmax_cross_entropy"
    elif output == "logistic":
        loss = "binary_cross_entropy"
    else:
        raise ValueError(f"MLPClassifier output {output!r} is not supported")
    multilabel = getattr(classifier, "_label_binarizer", None) is not None and (
        classifier._label_binarizer.y_type_.startswith("multilabel")
    )

    params = [
        (np.asarray(W, dtype=float).T.copy(), np.asarray(b, dtype=float).copy())
        for W, b in zip(classifier.coefs_, classifier.intercepts_)
    ]
    alpha = float(classifier.alpha)
    activation = SKLEARN_ACTIVATIONS[name]
    spec = Spec(
        name=f"sklearn_{activation}_L{len(params)}_{loss}{'_decay' if alpha else ''}",
        depth=len(params),
        activation=activation,
        loss=loss,
        bias=True,
        weight_decay=1.0 if alpha else 0.0,
    )
    return Model(
        spec=spec,
        params=params,
        module=evaluator_for(spec),
        decay_per_sample=alpha,
        classes=None if multilabel else np.asarray(classifier.classes_),
    )


def torch_activation(module) -> str:
    """The spec activation of a smooth torch activation module.

    Raises:
        ValueError: a non-smooth or unknown module.
    """
    kind = type(module).__name__
    simple = {"Tanh": "tanh", "Sigmoid": "sigmoid", "SiLU": "silu", "Mish": "mish",
              "Identity": "identity"}
    if kind in simple:
        return simple[kind]
    if kind == "Softplus":
        beta = float(module.beta)
        return "softplus" if beta == 1.0 else f"log(1 + exp({beta!r}*z))/{beta!r}"
    if kind == "GELU":
        if module.approximate == "tanh":
            return "z/2*(1 + tanh(sqrt(2/pi)*(z + 0.044715*z**3)))"
        return "gelu"
    if kind in ("ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU",
                "Hardtanh", "Hardsigmoid", "Hardswish", "Hardshrink", "Softshrink",
                "Threshold", "RReLU"):
        raise ValueError(f"{kind} is not smooth; {WHY}")
    raise ValueError(
        f"layer {kind} is not supported: symws takes Linear layers and the smooth "
        "activations Tanh, Sigmoid, Softplus, GELU, SiLU, Mish, Identity"
    )


def from_torch(network, loss: str = "softmax_cross_entropy",
               weight_decay: float = 0.0) -> Model:
    """A torch ``nn.Sequential`` of Linear layers and one smooth activation.

    Args:
        network: Linear, activation, Linear, ..., Linear (logits last; no softmax).
        loss: the loss the network is trained with (a symws loss name).
        weight_decay: the optimizer's weight decay on the weights, if any.

    Raises:
        ValueError: other layers, non-smooth or mixed activations, a network that
            does not end in a Linear layer, mixed biases, NaN weights.
    """
    try:
        import torch
    except ImportError:
        raise ValueError("PyTorch is not installed") from None
    if not isinstance(network, torch.nn.Sequential):
        raise ValueError(f"from_torch takes an nn.Sequential, got {type(network).__name__}")
    layers = list(network)
    if not layers or not isinstance(layers[-1], torch.nn.Linear):
        raise ValueError("the network must end with a Linear layer giving the logits")

    params, activations, previous_linear = [], set(), False
    for layer in layers:
        if isinstance(layer, torch.nn.Linear):
            if previous_linear and params:
                activations.add("identity")
            W = layer.weight.detach().to(torch.float64).cpu().numpy().copy()
            b = None if layer.bias is None else (
                layer.bias.detach().to(torch.float64).cpu().numpy().copy())
            params.append((W, b))
            previous_linear = True
        else:
            if not params:
                raise ValueError("the network must start with a Linear layer")
            if not previous_linear:
                raise ValueError("two activations in a row are not supported")
            activations.add(torch_activation(layer))
            previous_linear = False
    if len(activations) > 1:
        raise ValueError(
            f"hidden layers use different activations ({', '.join(sorted(activations))}); "
            "a spec has one activation"
        )
    if len({b is None for _, b in params}) > 1:
        raise ValueError("some Linear layers have a bias and others not")
    for W, b in params:
        for array in (W,) if b is None else (W, b):
            if not np.all(np.isfinite(array)):
                raise ValueError("the network has NaN or inf weights")

    activation = activations.pop() if activations else "tanh"
    bias = params[0][1] is not None
    tag = hashlib.sha1(repr((activation, loss, bias, weight_decay)).encode()).hexdigest()
    spec = Spec(
        name=f"torch_L{len(params)}_{tag[:10]}",
        depth=len(params),
        activation=activation,
        loss=loss,
        bias=bias,
        weight_decay=float(weight_decay),
    )
    return Model(spec=spec, params=params, module=evaluator_for(spec),
                 weight_decay=float(weight_decay))
