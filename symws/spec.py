"""Derivation specs: what network and loss a generated evaluator is derived for.

A spec is one small TOML file in derivations/::

    name = "three_layer_tanh"        # module name, a Python identifier
    depth = 2                        # number of affine layers, >= 1
    activation = "tanh"              # a registered name, or a SymPy expression in z
    loss = "softmax_cross_entropy"
    bias = true

Every problem with a spec is raised as a ValueError naming the file and the field.
"""

from __future__ import annotations

import hashlib
import keyword
import tomllib
from dataclasses import dataclass
from pathlib import Path

from symws.activations import parse_activation
from symws.losses import LOSSES

FIELDS = {
    "name": str,
    "depth": int,
    "activation": str,
    "loss": str,
    "bias": bool,
    "weight_decay": float,
    "weight_decay_scope": str,
}
SCOPES = ("weights", "all")
MAX_DEPTH = 12


@dataclass(frozen=True)
class Spec:
    """One derivation: depth, activation, loss and whether layers carry biases.

    Attributes:
        name: Python identifier; the generated module is ``symws.generated.<name>``.
        depth: number of affine layers L >= 1 (the paper's three-layer net is L = 2).
        activation: a registered name or a SymPy expression in ``z``.
        loss: a registered loss name (see ``symws.losses.LOSSES``).
        bias: whether every layer has a bias vector.
        weight_decay: coefficient lambda of the penalty (lambda / 2) ||theta_S||^2
            added to the mean loss; 0 for none.
        weight_decay_scope: "weights" (S = the weight matrices, as scikit-learn
            and most optimizers' weight decay) or "all" (biases too).
        source: the TOML text the spec was read from ('' for specs built in Python).
    """

    name: str
    depth: int
    activation: str
    loss: str = "softmax_cross_entropy"
    bias: bool = True
    weight_decay: float = 0.0
    weight_decay_scope: str = "weights"
    source: str = ""

    def __post_init__(self) -> None:
        where = f"spec {self.name!r}"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"{where}: name must be a Python identifier")
        if keyword.iskeyword(self.name):
            raise ValueError(f"{where}: name must not be a Python keyword")
        if self.name.startswith("_"):
            raise ValueError(f"{where}: name must not start with an underscore")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int):
            raise ValueError(f"{where}: depth must be an integer, got {self.depth!r}")
        if not 1 <= self.depth <= MAX_DEPTH:
            raise ValueError(
                f"{where}: depth must be between 1 and {MAX_DEPTH}, got {self.depth} "
                "(the derivation grows with the square of the depth)"
            )
        if self.loss not in LOSSES:
            known = ", ".join(sorted(LOSSES))
            raise ValueError(f"{where}: unknown loss {self.loss!r} (known: {known})")
        if not isinstance(self.bias, bool):
            raise ValueError(f"{where}: bias must be true or false")
        decay = self.weight_decay
        if isinstance(decay, bool) or not isinstance(decay, (int, float)):
            raise ValueError(f"{where}: weight_decay must be a number, got {decay!r}")
        if not decay >= 0 or decay == float("inf"):
            raise ValueError(f"{where}: weight_decay must be finite and >= 0, got {decay}")
        if self.weight_decay_scope not in SCOPES:
            raise ValueError(
                f"{where}: weight_decay_scope must be one of {', '.join(SCOPES)}, "
                f"got {self.weight_decay_scope!r}"
            )
        parse_activation(self.activation)

    @property
    def digest(self) -> str:
        """SHA-256 of the spec's fields, written into the banner of generated files."""
        text = repr((self.name, self.depth, self.activation, self.loss, self.bias))
        if self.weight_decay:
            text += repr((float(self.weight_decay), self.weight_decay_scope))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec file.

    Raises:
        ValueError: the file is missing, is not TOML, lacks a field, has an unknown
            field or a field of the wrong type, or names an unusable activation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"spec file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read spec file {path}: {error}") from None

    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML ({error})") from None

    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {', '.join(unknown)}")
    for field in ("name", "depth", "activation"):
        if field not in table:
            raise ValueError(f"{path}: missing field {field!r}")
    for field, kind in FIELDS.items():
        value = table.get(field)
        if value is None:
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = table[field] = float(value)
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(
                f"{path}: field {field!r} must be {kind.__name__}, got {value!r}"
            )

    try:
        return Spec(source=text, **table)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
