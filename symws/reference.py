"""High-precision reference Hessian of a tiny fully-connected network.

This module is an independent, deliberately naive oracle.  The per-sample
loss of a small multilayer perceptron is written as a fully scalar SymPy
model (every weight, bias, input and target entry is its own
``sympy.Symbol``), SymPy differentiates it twice, ``lambdify`` compiles the
result for mpmath, and the Hessian of the mean loss is evaluated at a chosen
number of decimal digits (30 by default).  Eigenvalues come from
``mpmath.eigsy``.

It shares no code with the rest of ``symws`` on purpose: it is the ground
truth the fast implementations are checked against, so a bug elsewhere in
the package cannot propagate into the reference.  It uses no matrix
calculus, no Gauss-Newton split and no automatic differentiation library;
only scalar SymPy expressions and ``sympy.diff``.

Two constructions give the same expressions mathematically:

* ``method="nested"``: the loss is one nested expression and the Hessian is
  ``sympy.diff`` applied twice to it.  This is the most literal form, but
  the expressions swell with depth (about 40 s for a depth-4 network with
  24 parameters, several minutes for 36).
* ``method="chain"`` (default): every unit's pre-activation, activation and
  the loss are separate scalar nodes of a straight-line program.  SymPy
  differentiates each node's expression with respect to its arguments and
  the totals follow from the scalar chain rule (symbolic forward mode), so
  the program stays small.  It agrees with ``"nested"`` to the working
  precision and builds a depth-4 network with 24 to 36 parameters in one to
  three seconds.

Network convention (``torch.nn.Linear``): depth ``L`` is the number of
affine layers with widths ``d_0, ..., d_L = K``.  For ``l = 1..L``,
``z_l = W_l a_{l-1} + b_l`` with ``W_l`` of shape ``(d_l, d_{l-1})``,
``a_0 = x`` and ``a_l = sigma(z_l)`` for ``l < L``.  The logits are
``f = z_L`` (no output activation).  The per-sample loss is the softmax
cross-entropy ``-sum_k y_k log softmax(f)_k`` and the total loss is its mean
over the ``N`` samples.  Parameters are ordered layer by layer: ``W_l``
row-major (``W_l[0, 0], W_l[0, 1], ...``), then ``b_l``.

The softmax is written naively as ``f_k - log(sum_j exp(f_j))`` without the
max-shift.  That is fine for the small networks and moderate values the
oracle is meant for: mpmath's exponent range does not overflow, and the
derivative formulas (differences such as ``p - p**2``) lose only about
``gap / 2.3`` of the working digits when one logit exceeds the others by
``gap``, which is harmless at 30+ digits for gaps up to a few tens.
Compiled programs are cached per (widths, activation, bias).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import mpmath
import numpy as np
import sympy
from sympy.printing.pycode import MpmathPrinter

__all__ = ["reference_hessian", "reference_eigenvalues", "reference_traces"]

_Z = sympy.Symbol("z")


def _activation_symbol(activation: sympy.Expr) -> sympy.Symbol:
    """Return the symbol the activation is written in.

    Args:
        activation: SymPy expression in a single symbol named ``z``.

    Returns:
        That symbol (``Symbol('z')`` if the expression is constant).

    Raises:
        ValueError: If the expression has a free symbol not named ``z``.
    """
    free = activation.free_symbols
    if not free:
        return _Z
    if len(free) != 1 or next(iter(free)).name != "z":
        raise ValueError(
            f"activation must be an expression in Symbol('z'), got {activation}"
        )
    return next(iter(free))


def _exact_activation(activation) -> sympy.Expr:
    """Sympify the activation and make its float constants exact.

    Every ``Float`` is replaced by the ``Rational`` with the same binary
    value, so a constant such as ``0.1`` means the double ``0.1`` exactly
    (like the parameters) and SymPy never rounds float arithmetic while
    differentiating.

    Args:
        activation: SymPy expression (or string) in ``Symbol('z')``.

    Returns:
        The exact expression.

    Raises:
        ValueError: If the expression has a free symbol not named ``z``.
    """
    activation = sympy.sympify(activation)
    _activation_symbol(activation)
    return activation.xreplace(
        {f: sympy.Rational(f) for f in activation.atoms(sympy.Float)}
    )


def _network_symbols(
    widths: tuple[int, ...], bias: bool
) -> tuple[list[sympy.Symbol], list, list[sympy.Symbol], list[sympy.Symbol]]:
    """Create the scalar symbols of one architecture.

    Args:
        widths: Layer widths ``(d_0, ..., d_L)``.
        bias: Whether every layer has a bias vector.

    Returns:
        ``(params, layers, x, y)``: the ``P`` parameter symbols in Hessian
        order; per layer a pair ``(w, b)`` with ``w`` a ``d_l x d_{l-1}``
        nested list of symbols and ``b`` a list of ``d_l`` symbols or
        ``None``; the ``d_0`` input symbols; the ``K`` target symbols.
    """
    params: list[sympy.Symbol] = []
    layers = []
    for layer in range(1, len(widths)):
        n_out, n_in = widths[layer], widths[layer - 1]
        w = [
            [sympy.Symbol(f"W{layer}_{i}_{j}") for j in range(n_in)]
            for i in range(n_out)
        ]
        params.extend(s for row in w for s in row)
        b = [sympy.Symbol(f"b{layer}_{i}") for i in range(n_out)] if bias else None
        if b is not None:
            params.extend(b)
        layers.append((w, b))
    x = [sympy.Symbol(f"x_{i}") for i in range(widths[0])]
    y = [sympy.Symbol(f"y_{k}") for k in range(widths[-1])]
    return params, layers, x, y


def _affine(w: list, b: list | None, a: list, i: int) -> sympy.Expr:
    """Pre-activation ``sum_j w[i][j] a[j] (+ b[i])`` of unit ``i``."""
    acc = sympy.Add(*(w_ij * a_j for w_ij, a_j in zip(w[i], a)))
    return acc + b[i] if b is not None else acc


def _cross_entropy(logits: list, y: list) -> sympy.Expr:
    """Naive softmax cross-entropy ``-sum_k y_k (f_k - log sum_j exp f_j)``."""
    log_norm = sympy.log(sympy.Add(*(sympy.exp(f) for f in logits)))
    return -sympy.Add(*(y_k * (f_k - log_norm) for y_k, f_k in zip(y, logits)))


def _binary_cross_entropy(logits: list, y: list) -> sympy.Expr:
    """Independent logistic losses ``sum_k log(1 + exp f_k) - y_k f_k``."""
    return sympy.Add(*(sympy.log(1 + sympy.exp(f)) - y_k * f for f, y_k in zip(logits, y)))


def _half_squared_error(logits: list, y: list) -> sympy.Expr:
    """``sum_k (f_k - y_k)^2 / 2``."""
    return sympy.Add(*((f - y_k) ** 2 for f, y_k in zip(logits, y))) / 2


_LOSSES = {
    "softmax_cross_entropy": _cross_entropy,
    "binary_cross_entropy": _binary_cross_entropy,
    "mse": _half_squared_error,
}


@functools.lru_cache(maxsize=32)
def _compiled_nested(
    widths: tuple[int, ...], activation_srepr: str, bias: bool,
    loss_name: str = "softmax_cross_entropy",
) -> tuple[Callable[..., list], int]:
    """Literal construction: one nested loss expression, ``diff`` twice.

    The whole per-sample loss is a single SymPy expression in the parameter,
    input and target symbols.  Its gradient and the upper triangle of its
    Hessian come from ``sympy.diff``; ``lambdify(..., cse=True)`` compiles
    them.  Exact but the expressions swell quickly with depth (tens of
    seconds for depth 4), so this is kept for cross-checking tiny networks.

    Args:
        widths: Layer widths ``(d_0, ..., d_L)``; ``d_L = K`` classes.
        activation_srepr: ``sympy.srepr`` of the activation expression.
        bias: Whether every layer carries a bias vector.

    Returns:
        A pair ``(func, P)``.  ``func(*params, *x, *y)`` takes the ``P``
        parameters (in Hessian order), the ``d_0`` inputs and the ``K``
        targets as mpmath numbers and returns the ``P * (P + 1) / 2``
        entries ``H[i, j]``, ``i <= j``, in row-major order.
    """
    activation = sympy.sympify(activation_srepr)
    z = _activation_symbol(activation)
    params, layers, x, y = _network_symbols(widths, bias)
    a: list = x
    for layer, (w, b) in enumerate(layers, start=1):
        pre = [_affine(w, b, a, i) for i in range(len(w))]
        a = pre if layer == len(layers) else [activation.xreplace({z: p}) for p in pre]
    loss = _LOSSES[loss_name](a, y)

    grad = [sympy.diff(loss, p) for p in params]
    n_par = len(params)
    upper = [
        sympy.diff(grad[i], params[j]) for i in range(n_par) for j in range(i, n_par)
    ]
    func = sympy.lambdify(params + x + y, upper, modules="mpmath", cse=True)
    return func, n_par


class _Program:
    """Straight-line scalar program built from SymPy assignments.

    Every intermediate quantity (a unit's value, a local partial derivative,
    a total first or second derivative) is bound to a fresh symbol
    ``t<n>``, so expressions stay small however deep the network is.

    Attributes:
        assignments: ``(symbol, expression)`` pairs in evaluation order.
    """

    def __init__(self) -> None:
        self.assignments: list[tuple[sympy.Symbol, sympy.Expr]] = []

    def bind(self, expr: sympy.Expr, force: bool = False) -> sympy.Expr:
        """Bind ``expr`` to a new symbol unless it is already an atom.

        Args:
            expr: Expression in earlier symbols.
            force: Bind even a number or a symbol.

        Returns:
            The new symbol, or ``expr`` itself if it is an atom and not forced.
        """
        if expr.is_Atom and not force:
            return expr
        symbol = sympy.Symbol(f"t{len(self.assignments)}")
        self.assignments.append((symbol, expr))
        return symbol


def _product(*factors: sympy.Expr) -> sympy.Expr:
    """Unevaluated product of non-zero atoms, dropping factors equal to one.

    Skipping SymPy's canonicalisation keeps building large programs cheap;
    the factors are symbols or numbers, so nothing is lost.
    """
    kept = [f for f in factors if f != 1]
    if not kept:
        return sympy.S.One
    if len(kept) == 1:
        return kept[0]
    return sympy.Mul(*kept, evaluate=False)


def _sum(terms: list[sympy.Expr]) -> sympy.Expr:
    """Unevaluated sum of a non-empty list of terms."""
    return terms[0] if len(terms) == 1 else sympy.Add(*terms, evaluate=False)


class _ChainRule:
    """Symbolic second-order forward-mode chain rule over a ``_Program``.

    For a node ``v = e(s_1, ..., s_r)`` whose arguments are parameters, data
    or earlier nodes, SymPy supplies the local partials ``g_s = de/ds`` and
    ``h_st = d2e/ds dt``; the totals are
    ``dv/dp_i = sum_s g_s ds/dp_i`` and
    ``d2v/dp_i dp_j = sum_s g_s d2s/dp_i dp_j
    + sum_{s,t} h_st ds/dp_i dt/dp_j``.
    Only arguments that depend on a parameter are differentiated, and
    derivatives that vanish identically are never materialised.

    Args:
        params: Parameter symbols in Hessian order.
    """

    def __init__(self, params: Sequence[sympy.Symbol]) -> None:
        self.program = _Program()
        self.index = {p: i for i, p in enumerate(params)}
        self.first: dict[sympy.Symbol, dict[int, sympy.Expr]] = {}
        self.second: dict[sympy.Symbol, dict[tuple[int, int], sympy.Expr]] = {}

    def _tangent(self, s: sympy.Symbol) -> dict[int, sympy.Expr]:
        """Non-zero first derivatives ``{i: ds/dp_i}`` of an argument."""
        if s in self.index:
            return {self.index[s]: sympy.S.One}
        return self.first.get(s, {})

    def node(self, expr: sympy.Expr) -> sympy.Symbol:
        """Add node ``v = expr`` with its first and second derivatives.

        Args:
            expr: Expression in parameter, data and earlier node symbols.

        Returns:
            The symbol bound to the node's value.
        """
        prog = self.program
        tangents = {}
        for s in sorted(expr.free_symbols, key=lambda s: s.name):
            tangent = self._tangent(s)
            if tangent:
                tangents[s] = tangent
        args = list(tangents)
        grad = {}
        for s in args:
            d_s = sympy.diff(expr, s)
            if d_s != 0:
                grad[s] = d_s
        curv = {}
        for pos, s in enumerate(args):
            for t in args[pos:]:
                if s in grad:
                    d_st = sympy.diff(grad[s], t)
                    if d_st != 0:
                        curv[s, t] = prog.bind(d_st)
        grad = {s: prog.bind(g) for s, g in grad.items()}
        value = prog.bind(expr, force=True)

        support = sorted({i for tan in tangents.values() for i in tan})
        first = {}
        for i in support:
            terms = [
                _product(g, tangents[s][i])
                for s, g in grad.items()
                if i in tangents[s]
            ]
            if terms:
                first[i] = prog.bind(_sum(terms))
        second = {}
        for pos, i in enumerate(support):
            for j in support[pos:]:
                terms = [
                    _product(g, self.second[s][i, j])
                    for s, g in grad.items()
                    if (i, j) in self.second.get(s, {})
                ]
                for (s, t), h in curv.items():
                    ts, tt = tangents[s], tangents[t]
                    if i in ts and j in tt:
                        terms.append(_product(h, ts[i], tt[j]))
                    if s != t and j in ts and i in tt:
                        terms.append(_product(h, ts[j], tt[i]))
                if terms:
                    second[i, j] = prog.bind(_sum(terms))
        self.first[value] = first
        self.second[value] = second
        return value


def _fast_printer() -> MpmathPrinter:
    """The printer ``lambdify`` would use for mpmath, minus term sorting.

    Sorting the terms of every sum only makes the source look canonical and
    dominated the compile time of large programs.
    """
    return MpmathPrinter(
        {
            "fully_qualified_modules": False,
            "inline": True,
            "allow_unknown_functions": True,
            "user_functions": {},
            "order": "none",
        }
    )


@functools.lru_cache(maxsize=32)
def _compiled_chain(
    widths: tuple[int, ...], activation_srepr: str, bias: bool,
    loss_name: str = "softmax_cross_entropy",
) -> tuple[Callable[..., list], int]:
    """Unit-by-unit construction differentiated by the symbolic chain rule.

    Same network and loss as :func:`_compiled_nested`, but every unit's
    pre-activation, activation and the loss are separate scalar nodes of a
    straight-line program (see :class:`_ChainRule`).  The generated code is
    the same mathematics without expression swell.

    Args:
        widths: Layer widths ``(d_0, ..., d_L)``; ``d_L = K`` classes.
        activation_srepr: ``sympy.srepr`` of the activation expression.
        bias: Whether every layer carries a bias vector.

    Returns:
        ``(func, P)`` exactly as :func:`_compiled_nested`.
    """
    activation = sympy.sympify(activation_srepr)
    z = _activation_symbol(activation)
    params, layers, x, y = _network_symbols(widths, bias)
    chain = _ChainRule(params)
    a: list = x
    for layer, (w, b) in enumerate(layers, start=1):
        pre = [chain.node(_affine(w, b, a, i)) for i in range(len(w))]
        if layer == len(layers):
            a = pre
        else:
            a = [chain.node(activation.xreplace({z: p})) for p in pre]
    loss = chain.node(_LOSSES[loss_name](a, y))

    n_par = len(params)
    hess = chain.second[loss]
    upper = [
        hess.get((i, j), sympy.S.Zero) for i in range(n_par) for j in range(i, n_par)
    ]
    assignments = chain.program.assignments
    func = sympy.lambdify(
        params + x + y,
        upper,
        modules="mpmath",
        printer=_fast_printer(),
        cse=lambda exprs: (assignments, exprs),
    )
    return func, n_par


_METHODS = {"chain": _compiled_chain, "nested": _compiled_nested}


def _check_inputs(
    params: Sequence[tuple[np.ndarray, np.ndarray | None]],
    X: np.ndarray,
    Y: np.ndarray,
) -> tuple[tuple[int, ...], bool]:
    """Validate shapes and return ``(widths, bias)``.

    Raises:
        ValueError: On inconsistent shapes, mixed bias usage or non-finite data.
    """
    if len(params) == 0:
        raise ValueError("params must contain at least one layer")
    bias = params[0][1] is not None
    widths = [np.shape(params[0][0])[1]]
    for idx, (w, b) in enumerate(params):
        w_shape = np.shape(w)
        if len(w_shape) != 2 or w_shape[1] != widths[-1]:
            raise ValueError(f"layer {idx + 1}: W has shape {w_shape}, expected "
                             f"(d_out, {widths[-1]})")
        if (b is not None) != bias:
            raise ValueError("either every layer has a bias or none does")
        if b is not None and np.shape(b) != (w_shape[0],):
            raise ValueError(f"layer {idx + 1}: b has shape {np.shape(b)}, "
                             f"expected ({w_shape[0]},)")
        widths.append(w_shape[0])
    if np.ndim(X) != 2 or np.shape(X)[1] != widths[0]:
        raise ValueError(f"X has shape {np.shape(X)}, expected (N, {widths[0]})")
    if np.shape(Y) != (np.shape(X)[0], widths[-1]):
        raise ValueError(f"Y has shape {np.shape(Y)}, expected "
                         f"({np.shape(X)[0]}, {widths[-1]})")
    if np.shape(X)[0] == 0:
        raise ValueError("need at least one sample")
    arrays = [X, Y] + [w for w, _ in params] + [b for _, b in params if b is not None]
    if not all(np.all(np.isfinite(np.asarray(v, dtype=float))) for v in arrays):
        raise ValueError("all inputs must be finite")
    return tuple(int(d) for d in widths), bias


def _to_mpf(values) -> list:
    """Flatten an array row-major into exact mpmath numbers."""
    return [mpmath.mpf(float(v)) for v in np.asarray(values, dtype=float).ravel()]


def reference_hessian(
    activation: sympy.Expr,
    params: Sequence[tuple[np.ndarray, np.ndarray | None]],
    X: np.ndarray,
    Y: np.ndarray,
    dps: int = 30,
    method: str = "chain",
    loss: str = "softmax_cross_entropy",
) -> mpmath.matrix:
    """Hessian of the mean loss (softmax cross-entropy by default), in high precision.

    Args:
        activation: SymPy expression in ``sympy.Symbol('z')`` used as the
            hidden-layer nonlinearity, e.g. ``tanh(z)`` or ``1/(1+exp(-z))``.
            Float constants in it are taken as their exact binary value.
        params: List of ``L`` pairs ``(W, b)`` of float arrays, ``W`` of shape
            ``(d_l, d_{l-1})`` and ``b`` of shape ``(d_l,)``.  ``b`` may be
            ``None``, in which case no layer may have a bias.
        X: Inputs, shape ``(N, d_0)``.
        Y: Target rows, shape ``(N, K)`` with ``K = d_L``.
        dps: Decimal digits of working precision.
        method: ``"chain"`` (default) differentiates the scalar unit-by-unit
            program with the symbolic chain rule; ``"nested"`` differentiates
            the single fully nested loss expression with ``sympy.diff`` (same
            result, far slower beyond depth 2; meant for cross-checks).
        loss: "softmax_cross_entropy", "binary_cross_entropy" (independent
            logistic outputs) or "mse" (half the squared error).

    Returns:
        ``mpmath.matrix`` of shape ``(P, P)``, ``P`` the number of parameters,
        ordered layer by layer as ``W_l`` row-major then ``b_l``.  Float inputs
        are converted exactly; every entry is correct to about ``dps`` digits
        (up to cancellation in the loss itself).

    Raises:
        ValueError: On inconsistent shapes, an unsupported activation or an
            unknown method.
    """
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {sorted(_LOSSES)}, got {loss!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    activation = _exact_activation(activation)
    widths, bias = _check_inputs(params, X, Y)
    func, n_par = _METHODS[method](widths, sympy.srepr(activation), bias, loss)

    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    with mpmath.workdps(dps):
        theta = []
        for w, b in params:
            theta += _to_mpf(w)
            if b is not None:
                theta += _to_mpf(b)
        total = [mpmath.mpf(0)] * (n_par * (n_par + 1) // 2)
        for xn, yn in zip(X, Y):
            entries = func(*theta, *_to_mpf(xn), *_to_mpf(yn))
            total = [t + e for t, e in zip(total, entries)]
        n_samples = len(X)
        hess = mpmath.matrix(n_par, n_par)
        k = 0
        for i in range(n_par):
            for j in range(i, n_par):
                value = total[k] / n_samples
                hess[i, j] = value
                hess[j, i] = value
                k += 1
    return hess


def _working_prec(H: mpmath.matrix, dps: int | None) -> int:
    """Binary precision for post-processing ``H``.

    Args:
        H: Square mpmath matrix.
        dps: Requested decimal digits, or ``None``.

    Returns:
        ``dps`` converted to bits if given; otherwise the larger of the
        current mpmath precision and the widest mantissa stored in ``H``, so
        a Hessian built at high precision is not silently rounded to the
        (default 15-digit) global context.
    """
    if dps is not None:
        return mpmath.libmp.dps_to_prec(dps)
    widest = 0
    for i in range(H.rows):
        for j in range(H.cols):
            value = H[i, j]
            if isinstance(value, mpmath.mpf):
                widest = max(widest, value._mpf_[3])
    return max(mpmath.mp.prec, widest)


def _check_square(H: mpmath.matrix) -> None:
    """Raise ``ValueError`` unless ``H`` is a square mpmath matrix."""
    if not isinstance(H, mpmath.matrix) or H.rows != H.cols:
        raise ValueError("H must be a square mpmath.matrix")


def reference_eigenvalues(H: mpmath.matrix, dps: int | None = None) -> list:
    """Eigenvalues of a symmetric matrix by ``mpmath.eigsy``.

    Args:
        H: Symmetric ``mpmath.matrix`` of shape ``(P, P)``.
        dps: Working precision in decimal digits.  By default the precision
            the entries of ``H`` were stored with (at least the current
            mpmath precision).

    Returns:
        The ``P`` eigenvalues as a list of ``mpmath.mpf``, ascending.
    """
    _check_square(H)
    with mpmath.workprec(_working_prec(H, dps)):
        values = mpmath.eigsy(H, eigvals_only=True)
        return sorted(values[i] for i in range(H.rows))


def reference_traces(H: mpmath.matrix, dps: int | None = None) -> tuple:
    """Traces of ``H`` and ``H^2``.

    Args:
        H: Symmetric ``mpmath.matrix`` of shape ``(P, P)``.
        dps: Working precision in decimal digits, defaulting as in
            :func:`reference_eigenvalues`.

    Returns:
        ``(tr H, tr H^2)`` as ``mpmath.mpf``; ``tr H^2`` is computed as the sum
        of the squared entries (exact for symmetric ``H``).
    """
    _check_square(H)
    with mpmath.workprec(_working_prec(H, dps)):
        n = H.rows
        trace = mpmath.fsum(H[i, i] for i in range(n))
        trace_sq = mpmath.fsum(H[i, j] ** 2 for i in range(n) for j in range(n))
    return trace, trace_sq
