"""Activation functions: the registry, user expressions, smoothness and stable forms.

An activation is a SymPy expression in the symbol ``z``. Its first and second
derivatives are never written by hand: the engine obtains them with ``sympy.diff``.
Before differentiation an expression is rewritten into a form that evaluates
without overflow in float64: ``log(1 + exp(u))`` becomes ``softplus(u)`` and the
logistic patterns become ``sigmoid(u)``. Both are SymPy functions defined here
whose derivatives SymPy composes like those of ``tanh``; a test checks them against
``sympy.diff`` of their exponential forms.

The Hessian and its traces need sigma'' to exist, so activations with a kink or a
jump (ReLU, abs, Max, sign, Heaviside, Piecewise, ...) are refused.
"""

from __future__ import annotations

import ast

import mpmath
import sympy
from sympy import Expr, Function, Symbol, Wild, exp, log

z = Symbol("z", real=True)

# Plain SymPy forms, in the shape a textbook writes them: the independent mpmath
# oracle differentiates these, never the stable rewrites below.
REGISTERED = {
    "tanh": "tanh(z)",
    "sigmoid": "1/(1 + exp(-z))",
    "softplus": "log(1 + exp(z))",
    "gelu": "z/2*(1 + erf(z/sqrt(2)))",
    "silu": "z/(1 + exp(-z))",
    "mish": "z*tanh(log(1 + exp(z)))",
    "identity": "z",
}

NON_SMOOTH_NAMES = {
    "relu": "ReLU has a kink at 0",
    "leaky_relu": "leaky ReLU has a kink at 0",
    "prelu": "PReLU has a kink at 0",
    "relu6": "ReLU6 has kinks at 0 and 6",
    "elu": "ELU has a jump in its second derivative at 0",
    "selu": "SELU has a jump in its first derivative at 0",
    "hardtanh": "hardtanh has kinks at -1 and 1",
    "hardsigmoid": "hard sigmoid has kinks",
    "hardswish": "hard swish has kinks",
    "abs": "abs has a kink at 0",
    "step": "a step function jumps at 0",
}

NON_SMOOTH_ATOMS = (
    sympy.Abs,
    sympy.Max,
    sympy.Min,
    sympy.sign,
    sympy.Heaviside,
    sympy.Piecewise,
    sympy.floor,
    sympy.ceiling,
    sympy.frac,
    sympy.DiracDelta,
    sympy.re,
    sympy.im,
    sympy.arg,
    sympy.Mod,
)

WHY = (
    "the Hessian bound needs an activation with a continuous second derivative "
    "(C^2), such as tanh, sigmoid, softplus, gelu or silu"
)


class sigmoid(Function):
    r"""The logistic function :math:`1 / (1 + e^{-x})`, evaluated without overflow."""

    def fdiff(self, argindex: int = 1) -> Expr:
        value = sigmoid(self.args[0])
        return value * (1 - value)

    def _eval_rewrite_as_exp(self, x: Expr, **hints) -> Expr:
        return 1 / (1 + exp(-x))

    def _latex(self, printer, exp=None) -> str:
        text = r"\operatorname{sigmoid}\left(%s\right)" % printer._print(self.args[0])
        return text if exp is None else r"%s^{%s}" % (text, exp)


class softplus(Function):
    r"""The softplus function :math:`\log(1 + e^{x})`, evaluated without overflow."""

    def fdiff(self, argindex: int = 1) -> Expr:
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, x: Expr, **hints) -> Expr:
        return log(1 + exp(x))

    def _latex(self, printer, exp=None) -> str:
        text = r"\operatorname{softplus}\left(%s\right)" % printer._print(self.args[0])
        return text if exp is None else r"%s^{%s}" % (text, exp)


PARSE_NAMESPACE = {
    "z": z,
    "sigmoid": sigmoid,
    "softplus": softplus,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "pi": sympy.pi,
    "E": sympy.E,
    "erf": sympy.erf,
    "erfc": sympy.erfc,
    "tanh": sympy.tanh,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "atan": sympy.atan,
    "asinh": sympy.asinh,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "abs": sympy.Abs,
    "Abs": sympy.Abs,
    "Max": sympy.Max,
    "Min": sympy.Min,
    "max": sympy.Max,
    "min": sympy.Min,
    "sign": sympy.sign,
    "Heaviside": sympy.Heaviside,
    "Piecewise": sympy.Piecewise,
}


SYMPY_GLOBALS = {
    "Integer": sympy.Integer, "Float": sympy.Float, "Rational": sympy.Rational,
    "Symbol": sympy.Symbol, "true": sympy.true, "false": sympy.false,
}
ALLOWED_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load,
    ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd,
    ast.Tuple, ast.Compare, ast.Gt, ast.Lt, ast.GtE, ast.LtE,
)


def check_syntax(source: str, label: str) -> None:
    """Allow arithmetic, numbers, z and the known functions; nothing else.

    The text is parsed by Python's ``ast`` first, so attribute access, imports,
    subscripts, lambdas and unknown names are refused before SymPy evaluates it.
    """
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise ValueError(f"activation {label!r} is not a valid expression: "
                         f"{error.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED_NODES):
            raise ValueError(
                f"activation {label!r} is not an expression in z: "
                f"{type(node).__name__} is not allowed"
            )
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in PARSE_NAMESPACE
        ):
            raise ValueError(f"activation {label!r} calls an unknown function")
        if isinstance(node, ast.Name) and node.id not in PARSE_NAMESPACE and not (
            node.id in ("True", "False")
        ):
            if label.isidentifier() and label == source:
                known = ", ".join(REGISTERED)
                raise ValueError(
                    f"unknown activation {label!r}: not a registered name ({known}) "
                    "and not an expression in z"
                )
            raise ValueError(
                f"activation {label!r} uses symbol(s) {node.id}; "
                "write it as an expression in z alone"
            )
        if isinstance(node, ast.Constant) and not isinstance(
            node.value, (int, float, bool)
        ):
            raise ValueError(f"activation {label!r} contains a non-numeric constant")


def parse_activation(text: str) -> Expr:
    """Turn a registered name or an expression in ``z`` into a checked SymPy expression.

    Returns the plain form (for example ``1/(1 + exp(-z))`` for "sigmoid"), which is
    what the independent oracle differentiates.

    Raises:
        ValueError: unknown name, unparsable text, a symbol other than z, or an
            activation that is not twice continuously differentiable.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("activation must be a non-empty string")
    key = text.strip()
    if key.lower() in NON_SMOOTH_NAMES:
        raise ValueError(
            f"activation {key!r} is not smooth: {NON_SMOOTH_NAMES[key.lower()]}; {WHY}"
        )
    source = REGISTERED.get(key.lower(), key)
    check_syntax(source, key)

    try:
        expr = sympy.parse_expr(source, local_dict=dict(PARSE_NAMESPACE),
                                global_dict={"__builtins__": {}, **SYMPY_GLOBALS})
    except Exception as error:
        if key.isidentifier() and key not in PARSE_NAMESPACE:
            known = ", ".join(REGISTERED)
            raise ValueError(
                f"unknown activation {key!r}: not a registered name ({known}) "
                "and not an expression in z"
            ) from None
        raise ValueError(f"activation {key!r} is not a valid expression: {error}") from None
    if not isinstance(expr, Expr):
        raise ValueError(f"activation {key!r} is not a scalar expression in z")

    others = sorted(str(s) for s in expr.free_symbols if s != z)
    if others:
        if key.isidentifier():
            known = ", ".join(REGISTERED)
            raise ValueError(
                f"unknown activation {key!r}: not a registered name ({known}) "
                "and not an expression in z"
            )
        raise ValueError(
            f"activation {key!r} uses symbol(s) {', '.join(others)}; "
            "write it as an expression in z alone"
        )
    if z not in expr.free_symbols:
        raise ValueError(f"activation {key!r} does not depend on z")

    kinks = sorted({type(a).__name__ for a in expr.atoms(*NON_SMOOTH_ATOMS)})
    if kinks:
        raise ValueError(
            f"activation {key!r} is not smooth: it contains {', '.join(kinks)}; {WHY}"
        )
    check_real_and_finite(expr, key)
    return expr


def check_real_and_finite(expr: Expr, label: str) -> None:
    """Refuse expressions whose value or derivatives are not real on the real line.

    Probes sigma, sigma' and sigma'' with mpmath at points in [-6, 6]; this catches
    sqrt(z), log(z) and the like, which are not defined for every pre-activation.
    """
    derivatives = [expr, sympy.diff(expr, z), sympy.diff(expr, z, 2)]
    functions = [sympy.lambdify(z, d, modules="mpmath") for d in derivatives]
    with mpmath.workdps(30):
        for point in ("-6", "-2.5", "-1", "-0.3", "0", "0.7", "1.5", "3", "6"):
            for order, function in enumerate(functions):
                try:
                    value = mpmath.mpmathify(function(mpmath.mpf(point)))
                except (ZeroDivisionError, ValueError, TypeError):
                    value = mpmath.nan
                if not (isinstance(value, mpmath.mpf) and mpmath.isfinite(value)):
                    what = ["its value", "its first derivative", "its second derivative"]
                    raise ValueError(
                        f"activation {label!r} is not smooth on the real line: "
                        f"{what[order]} is not a finite real number at z = {point}; "
                        f"{WHY}"
                    )


def stable_form(expr: Expr) -> Expr:
    """Rewrite exponential patterns into ``softplus`` and ``sigmoid``.

    The result equals ``expr`` as a function but evaluates in float64 for any
    pre-activation, including +-1e3, where ``exp`` alone overflows.
    """
    u = Wild("u")
    expr = expr.replace(log(1 + exp(u)), softplus(u))
    expr = expr.replace(exp(u) / (1 + exp(u)), sigmoid(u))
    expr = expr.replace(1 / (1 + exp(-u)), sigmoid(u))
    expr = expr.replace(1 / (1 + exp(u)), sigmoid(-u))
    return expr


def derivatives(text: str) -> tuple[Expr, Expr, Expr]:
    """sigma, sigma' and sigma'' of an activation, in stable form, by SymPy.

    The derivatives are left as ``sympy.diff`` returns them: ``simplify`` tends to
    trade ``1 - tanh(z)**2`` for ``cosh(z)**-2``-style forms that overflow.

    Returns:
        Three SymPy expressions in ``z``.
    """
    sigma = stable_form(parse_activation(text))
    first = sympy.diff(sigma, z)
    second = sympy.diff(first, z)
    return sigma, first, second
