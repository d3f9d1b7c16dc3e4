"""Per-sample losses as SymPy expressions of the logits f and the targets y.

A loss is written once, as a function of the logits ``f[k]`` and targets ``y[k]``
(k = 0..K-1). The engine differentiates it with ``sympy.diff`` to get the output
gradient g_L[i] = dl/df[i] and the output Hessian S_L[i, j] = d^2 l/df[i] df[j];
nothing about those derivatives is written by hand.

After differentiation, sums over the classes that SymPy leaves behind are named:
``Sum(y[k])`` becomes the target mass ``s`` and ``exp(f[i]) / Sum(exp(f[j]))`` the
softmax ``p[i]``. The generated code evaluates p with the max-shifted softmax, so
logits of 1e3 do not overflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy
from sympy import Expr, IndexedBase, KroneckerDelta, Sum, Symbol, exp, log

from symws.activations import softplus, z
from symws.tensors import contract


def softmax_cross_entropy(f: IndexedBase, y: IndexedBase, K: Symbol) -> Expr:
    r"""l = -\sum_k y_k \log \operatorname{softmax}(f)_k."""
    k, j = sympy.Dummy("k", integer=True), sympy.Dummy("j", integer=True)
    return -Sum(y[k] * (f[k] - log(Sum(exp(f[j]), (j, 0, K - 1)))), (k, 0, K - 1))


def binary_cross_entropy(f: IndexedBase, y: IndexedBase, K: Symbol) -> Expr:
    r"""l = \sum_k \log(1 + e^{f_k}) - y_k f_k: independent logistic outputs
    (one logit for a binary problem, several for multilabel)."""
    k = sympy.Dummy("k", integer=True)
    return Sum(softplus(f[k]) - y[k] * f[k], (k, 0, K - 1))


def mse(f: IndexedBase, y: IndexedBase, K: Symbol) -> Expr:
    r"""l = \frac12 \sum_k (f_k - y_k)^2."""
    k = sympy.Dummy("k", integer=True)
    return Sum((f[k] - y[k]) ** 2, (k, 0, K - 1)) / 2


@dataclass(frozen=True)
class Loss:
    """A registered loss: its expression, the targets it takes, the least K."""

    expression: object
    targets: str
    min_classes: int


LOSSES = {
    "softmax_cross_entropy": Loss(softmax_cross_entropy, "probability_rows", 2),
    "binary_cross_entropy": Loss(binary_cross_entropy, "unit_interval", 1),
    "mse": Loss(mse, "real", 1),
}


@dataclass
class LossDerivatives:
    """The output-layer quantities of one loss.

    Attributes:
        loss: the per-sample loss l(f, y) as written.
        gradient: g_L[i] as an expression in the free index ``i``.
        hessian: S_L[i, j] in the free indices ``i``, ``j``.
        named: auxiliary per-sample quantities the derivatives use, name -> kind
            (``"softmax"`` for p, ``"target_mass"`` for s).
        entrywise: name -> expression in z of each function of one logit the
            derivatives use (for example sigmoid(z)); the name's entry k stands
            for that function of f[k].
    """

    loss: Expr
    gradient: Expr
    hessian: Expr
    named: dict[str, str] = field(default_factory=dict)
    entrywise: dict[str, Expr] = field(default_factory=dict)


def collapse_delta_sums(expr: Expr) -> Expr:
    """Evaluate sum_j delta(i, j) T[j] = T[i] inside SymPy ``Sum`` objects."""

    def has_delta(node: Expr) -> bool:
        if not isinstance(node, Sum) or len(node.limits) != 1:
            return False
        variable = node.limits[0][0]
        return any(variable in d.args for d in node.function.atoms(KroneckerDelta))

    def collapse(node: Sum) -> Expr:
        variable, low, high = node.limits[0]
        kept = []
        for term in sympy.Add.make_args(sympy.expand(node.function)):
            deltas = [d for d in term.atoms(KroneckerDelta) if variable in d.args]
            if deltas:
                other = [a for a in deltas[0].args if a != variable][0]
                kept.append(term.xreplace({deltas[0]: 1}).xreplace({variable: other}))
            else:
                kept.append(Sum(term, (variable, low, high)))
        return sympy.Add(*kept)

    while True:
        new = expr.replace(has_delta, collapse)
        if new == expr:
            return expr
        expr = new


def pull_constants_out(node: Sum) -> Expr:
    """sum_k c T[k] = c sum_k T[k] for every factor c free of the summed index."""
    variable = node.limits[0][0]
    result = []
    for term in sympy.Add.make_args(sympy.expand(node.function)):
        inner = [a for a in sympy.Mul.make_args(term) if a.has(variable)]
        outer = [a for a in sympy.Mul.make_args(term) if not a.has(variable)]
        result.append(sympy.Mul(*outer) * Sum(sympy.Mul(*inner), *node.limits))
    return sympy.Add(*result)


def derive_loss(
    name: str, f: IndexedBase, y: IndexedBase, p: IndexedBase, s: Symbol, K: Symbol
) -> LossDerivatives:
    """Differentiate a registered loss twice with respect to the logits.

    Args:
        name: a key of ``LOSSES``.
        f, y: logits and targets, indexed by class.
        p: the tensor to name the softmax by; s: the symbol for sum_k y[k].
        K: the number of classes.
    """
    i, j = Symbol("i", integer=True), Symbol("j", integer=True)
    loss = LOSSES[name].expression(f, y, K)

    # Differentiate: SymPy turns d f[k] / d f[i] into KroneckerDelta(i, k).
    gradient = collapse_delta_sums(sympy.diff(loss, f[i]))
    hessian = collapse_delta_sums(sympy.diff(gradient, f[j]))

    # Name the class sums: the target mass s and the softmax p.
    partition = Symbol("Z_partition")

    def name_sums(expr: Expr) -> Expr:
        expr = expr.replace(
            lambda e: isinstance(e, Sum) and e.function.func is exp,
            lambda e: partition,
        )
        expr = expr.replace(
            lambda e: e.func is exp and e.args[0].has(f),
            lambda e: p[e.args[0].indices[0]] * partition,
        )
        if expr.has(partition):
            raise NotImplementedError(f"loss {name!r}: partition function left in {expr}")
        expr = expr.replace(lambda e: isinstance(e, Sum), pull_constants_out)
        expr = expr.replace(
            lambda e: isinstance(e, Sum) and e.function == y[e.limits[0][0]],
            lambda e: s,
        )
        return contract(expr)

    gradient, hessian = name_sums(gradient), name_sums(hessian)

    # Name each function of a single logit, e.g. sigmoid(f[k]), as an entrywise
    # quantity o1[k], o2[k], ... that the generated code evaluates on z_L.
    entrywise: dict[str, Expr] = {}

    def name_entrywise(expr: Expr) -> Expr:
        def is_entrywise(e) -> bool:
            if not isinstance(e, sympy.Function) or isinstance(e, KroneckerDelta):
                return False
            entries = e.atoms(sympy.Indexed)
            return bool(entries) and all(x.base == f for x in entries) and len(
                {x.indices for x in entries}) == 1

        def replace(e):
            entry = next(iter(e.atoms(sympy.Indexed)))
            form = e.xreplace({entry: z})
            for existing, known in entrywise.items():
                if known == form:
                    return sympy.IndexedBase(existing)[entry.indices]
            new = f"o{len(entrywise) + 1}"
            entrywise[new] = form
            return sympy.IndexedBase(new)[entry.indices]

        return contract(expr.replace(is_entrywise, replace))

    gradient, hessian = name_entrywise(gradient), name_entrywise(hessian)
    named = {}
    if gradient.has(s) or hessian.has(s):
        named["s"] = "target_mass"
    if gradient.has(p) or hessian.has(p):
        named["p"] = "softmax"
    return LossDerivatives(loss=loss, gradient=gradient, hessian=hessian, named=named,
                           entrywise=entrywise)
