r"""Render a derivation as a LaTeX document, or as its equations alone.

Every formula is printed by SymPy's LaTeX printer, extended by ``Printer`` with
the document's notation, from the objects of the ``Derivation``: tensor entries
read ``W^{(l)}_{pq}`` and ``a^{(l-1)}_q``, the sample of a per-sample quantity is
a superscript ``(n)`` after the layer, summed indices get short letters and every
sum is written out with its range, counting from 1. The jinja2 template holds the
prose and the layout.

Long sums are broken between terms, at a width estimated from the LaTeX source
(``width``), so that no line of an aligned display is wider than the page.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jinja2
import sympy
from sympy import Expr, Function, Indexed, KroneckerDelta, Sum, Symbol
from sympy.core.sorting import default_sort_key
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from symws.activations import z
from symws.engine import Component, Derivation
from symws.tensors import Summed, factors_of, indices_of

TEMPLATES = Path(__file__).parent / "templates"

# Widths in em of 10pt type: the text block is 170 mm (A4, 2 cm margins), about
# 48 em. A display line may use LINE_BUDGET. SCALE fits the estimate to measured
# widths; it is within 5 % of them on the long lines of the documents.
LINE_BUDGET = 44.0
SCALE = 1.1
LETTERS = ("r", "t", "u", "v", "w", "r'", "t'", "u'", "v'", "w'")
PDFLATEX_MISSING = (
    "pdflatex not found: install a TeX distribution (e.g. texlive-latex-base)"
)


class ActivationAt(Function):
    r"""sigma, sigma' or sigma'' (``order`` 0, 1, 2) applied to an argument."""

    nargs = 2

    def _latex(self, printer, exp=None) -> str:
        order, argument = self.args
        primes = "'" * int(order)
        text = r"\sigma%s{\left(%s\right)}" % (primes, printer._print(argument))
        return text if exp is None else r"%s^{%s}" % (text, exp)


@dataclass
class Notation:
    """How a tensor's entries print: head, layer tag, axis count, sample axis."""

    head: str
    tag: str
    axes: int
    per_sample: bool


def notation_of(latex: str, axes: int, per_sample: bool) -> Notation:
    """Split an engine symbol such as ``S^{(1)}`` into its head and layer tag."""
    match = re.fullmatch(r"(?P<head>.+?)\^\{(?P<tag>.*)\}", latex)
    if match:
        return Notation(match["head"], match["tag"], axes, per_sample)
    return Notation(latex, "", axes, per_sample)


class Printer(LatexPrinter):
    """SymPy's LaTeX printer with the document's notation for tensor entries."""

    def __init__(self, notation: dict, settings: dict | None = None) -> None:
        super().__init__(settings or {})
        self.notation = notation

    def indices(self, indices) -> str:
        texts = [self._print(i) for i in indices]
        joiner = "" if all(len(t) == 1 for t in texts) else ","
        return joiner.join(texts)

    def _print_Indexed(self, expr: Indexed) -> str:
        entry = self.notation.get(expr.base.label.name)
        if entry is None:
            return super()._print_Indexed(expr)
        indices = list(expr.indices)
        superscript = entry.tag
        if entry.per_sample and len(indices) == entry.axes + 1:
            sample = f"({self._print(indices.pop(0))})"
            superscript = f"{superscript}\\,{sample}" if superscript else sample
        text = entry.head
        if superscript:
            text += f"^{{{superscript}}}"
        if indices:
            text += f"_{{{self.indices(indices)}}}"
        return text

    def _print_Pow(self, expr) -> str:
        if isinstance(expr.base, Indexed) and expr.exp.is_Integer and expr.exp > 0:
            base, exponent = self._print(expr.base), self._print(expr.exp)
            return r"\left(%s\right)^{%s}" % (base, exponent)
        return super()._print_Pow(expr)

    def _print_KroneckerDelta(self, expr, exp=None) -> str:
        text = r"\delta_{%s}" % self.indices(expr.args)
        return text if exp is None else r"\left(%s\right)^{%s}" % (text, exp)

    def _print_MatrixElement(self, expr: MatrixElement) -> str:
        parent = self.parenthesize(expr.parent, PRECEDENCE["Atom"], strict=True)
        return f"{{{parent}}}_{{{self.indices((expr.i, expr.j))}}}"

    def _print_Derivative(self, expr) -> str:
        """Partial derivatives, the variables in the order they were given."""
        variables = [v for v, count in expr.variable_count for _ in range(count)]
        order = "" if len(variables) == 1 else f"^{{{len(variables)}}}"
        below = r" \, ".join(r"\partial " + self._print(v) for v in variables)
        return r"\frac{\partial%s %s}{%s}" % (order, self._print(expr.expr), below)

    def sum_signs(self, limits) -> str:
        """One summation sign per index, its range below and above it."""
        return " ".join(
            r"\sum_{%s=%s}^{%s}" % (self._print(x), self._print(low), self._print(high))
            for x, low, high in limits
        )

    def _print_Sum(self, expr: Sum) -> str:
        body = self.parenthesize(expr.function, PRECEDENCE["Mul"], strict=True)
        return f"{self.sum_signs(reversed(expr.limits))} {body}"


# -- line breaking ----------------------------------------------------------------

TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[{}^_]|[^\s\\{}^_]")
COMMAND_WIDTH = {
    r"\sum": 1.5, r"\prod": 1.4, r"\partial": 0.6, r"\ell": 0.45, r"\delta": 0.5,
    r"\sigma": 0.6, r"\lambda": 0.6, r"\mu": 0.6, r"\Phi": 0.75, r"\cdot": 0.8,
    r"\leq": 1.3, r"\le": 1.3, r"\geq": 1.3, r"\ge": 1.3, r"\quad": 1.0,
    r"\qquad": 2.0, r"\,": 0.17, r"\;": 0.28, r"\:": 0.22, r"\!": -0.17,
    r"\prime": 0.3, r"\top": 0.8, r"\bar": 0.0, r"\max": 1.8, r"\min": 1.6,
    r"\log": 1.4, r"\exp": 1.5, r"\tanh": 2.1, r"\sinh": 2.0, r"\cosh": 2.1,
    r"\operatorname": 0.0, r"\text": 0.0, r"\infty": 1.0, r"\times": 1.3,
}
CHARACTER_WIDTH = {"+": 1.3, "-": 1.3, "=": 1.4, "<": 1.4, ">": 1.4, "(": 0.4,
                   ")": 0.4, "[": 0.3, "]": 0.3, ",": 0.45, "'": 0.3, "|": 0.3,
                   ".": 0.3}


def width(tex: str) -> float:
    """The approximate printed width, in em, of one line of display math."""
    tokens = TOKEN.findall(tex)
    position = 0

    def atom(scale: float) -> float:
        nonlocal position
        if position >= len(tokens):
            return 0.0
        token = tokens[position]
        position += 1
        if token == "{":
            return group(scale)
        return single(token, scale)

    def text_group() -> float:
        nonlocal position
        if position < len(tokens) and tokens[position] == "{":
            depth, start = 0, position
            while position < len(tokens):
                depth += {"{": 1, "}": -1}.get(tokens[position], 0)
                position += 1
                if depth == 0:
                    break
            return 0.5 * sum(len(t) for t in tokens[start + 1:position - 1])
        return 0.0

    def single(token: str, scale: float) -> float:
        nonlocal position
        if token in (r"\frac", r"\dfrac", r"\tfrac"):
            return max(atom(scale), atom(scale)) + 0.2 * scale
        if token == r"\sqrt":
            return atom(scale) + 0.9 * scale
        if token in (r"\left", r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr",
                     r"\big", r"\Big", r"\biggl", r"\biggr"):
            delimiter = tokens[position] if position < len(tokens) else "."
            position += 1
            return 0.0 if delimiter == "." else 0.5 * scale
        if token in (r"\operatorname", r"\text", r"\mathrm"):
            return text_group() * scale
        if token.startswith("\\"):
            return COMMAND_WIDTH.get(token, 0.6) * scale
        if token in "+-=<>" and scale < 1:
            return 0.8 * scale
        return CHARACTER_WIDTH.get(token, 0.55) * scale

    def group(scale: float) -> float:
        nonlocal position
        total, base, scripts = 0.0, "", []
        while position < len(tokens) and tokens[position] != "}":
            token = tokens[position]
            position += 1
            if token in "^_":
                scripts.append(atom(scale * 0.7))
                continue
            total += flush(base, scripts)
            base, scripts = token, []
            if token == "{":
                total += group(scale)
                base = ""
            else:
                total += single(token, scale)
        total += flush(base, scripts)
        position += 1
        return total

    def flush(base: str, scripts: list) -> float:
        if not scripts:
            return 0.0
        if base in (r"\sum", r"\prod"):
            return max(0.0, max(scripts) - COMMAND_WIDTH[base])
        return max(scripts)

    return SCALE * group(1.0)


@dataclass
class Term:
    """One printed term of a sum: its sign and its text without the sign."""

    negative: bool
    text: str


def joined(terms: list[Term], leading: bool = False) -> str:
    """The terms with their signs; ``leading`` writes + before the first one too."""
    if not terms:
        return "0"
    signs = [("- " if t.negative else "+ ") for t in terms]
    if not leading:
        signs[0] = "- " if terms[0].negative else ""
    return " ".join(sign + t.text for sign, t in zip(signs, terms))


def rows(lhs: str, terms: list[Term], prefix: str = "",
         budget: float = LINE_BUDGET) -> str:
    """``lhs = prefix (terms)`` as align rows, broken between terms when too wide.

    With a prefix (a factor or summation signs in front of the whole sum) the terms
    are put in parentheses, which stretch over all lines.
    """
    grouped = bool(prefix) and len(terms) > 1
    body = joined(terms)
    line = f"{prefix} \\left({body}\\right)" if grouped else f"{prefix} {body}"
    if width(lhs) + width(line) + 2 <= budget or len(terms) <= 1:
        return f"{lhs} &= {line.strip()}"

    lines: list[list[Term]] = [[]]
    used = width(lhs) + width(prefix) + 3
    for term in terms:
        size = width(term.text) + 1.4
        if lines[-1] and used + size > budget:
            lines.append([])
            used = 3.0
        lines[-1].append(term)
        used += size
    opening, closing = ("\\Bigl(", "\\Bigr)") if grouped else ("", "")
    first = f"{prefix} {opening}{joined(lines[0])}".strip()
    out = [f"{lhs} &= {first}"]
    out += [f"  &\\qquad {joined(more, leading=True)}" for more in lines[1:]]
    return " \\\\\n".join(out) + closing


# -- the document -----------------------------------------------------------------


class Renderer:
    """Prints the objects of one derivation in the document's notation."""

    def __init__(self, derivation: Derivation) -> None:
        self.d = derivation
        self.order = {name: k for k, name in enumerate(derivation.tensors)}
        notation = {
            name: notation_of(t.latex or name, len(t.dims), t.per_sample)
            for name, t in derivation.tensors.items()
        }
        names = {
            derivation.trace_symbol: r"\operatorname{tr}(H)",
            derivation.trace_sq_symbol: r"\operatorname{tr}(H^2)",
        }
        self.printer = Printer(notation, {"symbol_names": names})

    def latex(self, expr: Expr) -> str:
        return self.printer.doprint(one_based(expr))

    def add_names(self, names: dict) -> None:
        """Print these symbols as the given LaTeX."""
        self.printer._settings["symbol_names"].update(names)

    @contextmanager
    def names(self, names: dict):
        """Print these symbols as the given LaTeX inside the ``with`` block only."""
        table = self.printer._settings["symbol_names"]
        saved = dict(table)
        table.update(names)
        try:
            yield
        finally:
            table.clear()
            table.update(saved)

    # -- tensor expressions ------------------------------------------------------

    def dim_of(self, index: Symbol, factors: list) -> Expr:
        """The range of an index, read from the axis of a tensor it indexes."""
        for factor in factors:
            if isinstance(factor, Indexed) and index in factor.indices:
                tensor = self.d.tensors[factor.base.label.name]
                axes = list(factor.indices)
                if tensor.per_sample and len(axes) == len(tensor.dims) + 1:
                    axes = axes[1:]
                return tensor.dims[axes.index(index)]
        raise ValueError(f"no range known for index {index}")

    def rank(self, factor: Expr) -> tuple:
        if isinstance(factor, KroneckerDelta):
            return (-1, default_sort_key(factor))
        return (self.order.get(factor.base.label.name, len(self.order)),
                default_sort_key(factor))

    def chain(self, factors: list, lead: tuple, summed: set) -> list:
        """Order factors so that neighbours share a summed index, from ``lead`` on."""
        remaining = sorted(factors, key=self.rank)
        ordered = []
        while remaining:
            pick = None
            if ordered:
                shared = set(indices_of(ordered[-1])) & summed
                pick = next((f for f in remaining if shared & set(indices_of(f))), None)
            if pick is None:
                for index in lead:
                    pick = next((f for f in remaining if index in indices_of(f)), None)
                    if pick is not None:
                        break
            pick = pick if pick is not None else remaining[0]
            remaining.remove(pick)
            ordered.append(pick)
        return ordered

    def product(self, factors: list) -> str:
        """Factors in the given order, equal ones merged into powers."""
        counts: dict = {}
        for factor in factors:
            counts[factor] = counts.get(factor, 0) + 1
        parts = []
        for factor, count in counts.items():
            power = factor if count == 1 else sympy.Pow(factor, count, evaluate=False)
            parts.append(self.printer.parenthesize(power, PRECEDENCE["Mul"]))
        return " ".join(parts)

    def monomial(self, term: Expr, lead: tuple = ()) -> Term:
        """A product of tensor entries: outer factors, then its sums written out."""
        coefficient, factors = factors_of(term)
        summed = {i for f in factors for i in indices_of(f) if isinstance(i, Summed)}
        outside = sorted([f for f in factors if not summed & set(indices_of(f))],
                         key=self.rank)
        inside = self.chain([f for f in factors if summed & set(indices_of(f))], lead,
                            summed)

        order = []
        for factor in inside:
            order.extend(
                i for i in indices_of(factor) if i in summed and i not in order)
        taken = {str(s) for f in factors for s in indices_of(f) if s not in summed}
        letters = [x for x in LETTERS if x not in taken]
        mapping = {old: Symbol(letters[k], integer=True) for k, old in enumerate(order)}
        limits = [(mapping[i], 1, self.dim_of(i, inside)) for i in order]

        negative = coefficient.could_extract_minus_sign()
        magnitude = -coefficient if negative else coefficient
        parts = [] if magnitude == 1 else [self.latex(magnitude)]
        if outside:
            parts.append(self.product(outside))
        if inside:
            body = self.product([f.xreplace(mapping) for f in inside])
            parts.append(f"{self.printer.sum_signs(limits)} {body}")
        return Term(negative, " ".join(parts) if parts else "1")

    def tensor_terms(self, expr: Expr, lead: tuple = ()) -> list[Term]:
        monomials = sympy.Add.make_args(sympy.expand(expr))
        return [self.monomial(m, lead) for m in monomials]

    def terms(self, expr: Expr) -> list[Term]:
        """The terms of any expression, in SymPy's printing order."""
        out = []
        for term in expr.as_ordered_terms() if expr.is_Add else [expr]:
            negative = term.could_extract_minus_sign()
            out.append(Term(negative, self.latex(-term if negative else term)))
        return out

    def entry(self, name: str, indices: tuple | None = None) -> str:
        tensor = self.d.tensors[name]
        indices = tensor.indices if indices is None else indices
        return self.latex(tensor.base[indices] if indices else tensor.base.label)

    def definition(self, name: str) -> str:
        tensor = self.d.tensors[name]
        lhs = self.entry(name)
        return rows(lhs, self.tensor_terms(tensor.definition, tensor.indices))

    # -- sections ----------------------------------------------------------------

    def network(self) -> list[str]:
        """z^{(l)} from the engine's definitions and a^{(l)} = sigma(z^{(l)})."""
        out = []
        for name, tensor in self.d.tensors.items():
            if name.startswith("z") and tensor.kind == "contraction":
                out.append(self.definition(name))
            elif tensor.kind == "activation" and tensor.definition[0] == self.d.sigma:
                out.append(self.activation_row(name))
        return out

    def activation_row(self, name: str) -> str:
        tensor = self.d.tensors[name]
        expression, source = tensor.definition
        orders = {self.d.sigma: 0, self.d.sigma_d1: 1, self.d.sigma_d2: 2}
        argument = self.d.tensors[source].base[tensor.indices]
        value = ActivationAt(orders[expression], argument)
        return f"{self.entry(name)} &= {self.latex(value)}"

    def slopes(self) -> list[str]:
        """sigma'^{(l)} and sigma''^{(l)}, one row per hidden layer."""
        out = []
        for layer in range(1, self.d.spec.depth):
            names = [n for n, t in self.d.tensors.items() if t.kind == "activation"
                     and t.definition[1] == f"z{layer}"
                     and t.definition[0] != self.d.sigma]
            cells = [self.activation_row(n) for n in names]
            if cells:
                out.append(",\\qquad ".join(
                    [cells[0]] + [c.replace("&=", "=") for c in cells[1:]]))
        return out

    def activation(self) -> list[str]:
        out = []
        for order, expr in enumerate((self.d.sigma, self.d.sigma_d1, self.d.sigma_d2)):
            out.append(rows(self.latex(ActivationAt(order, z)), self.terms(expr)))
        return out

    def helpers(self) -> list[str]:
        """Definitions of the stable functions (sigmoid, softplus) SymPy used."""
        seen = {}
        for expr in (self.d.sigma, self.d.sigma_d1, self.d.sigma_d2):
            for applied in expr.atoms(Function):
                if type(applied).__module__ == "symws.activations":
                    seen[type(applied).__name__] = type(applied)
        out = []
        for name in sorted(seen):
            function = seen[name](z)
            plain = function.rewrite(sympy.exp)
            if plain != function:
                out.append(f"{self.latex(function)} &= {self.latex(plain)}")
        return out

    def loss(self) -> str:
        return rows(r"\ell", self.terms(self.d.loss.loss))

    def output(self) -> list[str]:
        """p and s, then g^{(L)} and S^{(L)} as SymPy differentiated the loss."""
        L = self.d.spec.depth
        out = []
        i, j, k = (Symbol(x, integer=True) for x in "ijk")
        for name, tensor in self.d.tensors.items():
            if tensor.kind == "softmax":
                logits = self.d.tensors[tensor.definition].base
                K = tensor.dims[0]
                value = sympy.exp(logits[i]) / Sum(sympy.exp(logits[j]), (j, 1, K))
                out.append(f"{self.entry(name, (i,))} &= {self.latex(value)}")
            elif tensor.kind == "target_mass":
                targets = self.d.tensors[tensor.definition]
                value = Sum(targets.base[k], (k, 1, targets.dims[0]))
                out.append(f"{self.entry(name)} &= {self.latex(value)}")
        out += [self.definition(f"g{L}"), self.definition(f"S{L}")]
        return out

    def backward(self) -> list[str]:
        out = []
        for layer in range(self.d.spec.depth - 1, 0, -1):
            out += [self.definition(f"g{layer}"), self.definition(f"S{layer}")]
        return out

    def jacobians(self) -> list[str]:
        return [self.definition(name) for name in self.d.tensors
                if re.fullmatch(r"[JAC]\d+_\d+", name)]

    def blocks(self) -> list[str]:
        ell = Symbol("ell")
        groups = {g.name: g for g in self.d.groups}
        out = []
        for (row_name, col_name), block in self.d.group_blocks.items():
            row, col = groups[row_name], groups[col_name]
            lhs = sympy.Derivative(
                ell,
                row.tensor.base[row.row_indices],
                col.tensor.base[col.col_indices],
                evaluate=False,
            )
            out.append(rows(self.latex(lhs), self.tensor_terms(block)))
        return out

    def parameters(self) -> str:
        return rows("P", self.terms(self.d.n_params))


def one_based(expr: Expr) -> Expr:
    """Shift every sum that starts at 0 to start at 1: indices count from 1."""
    if not isinstance(expr, sympy.Basic) or not expr.has(Sum):
        return expr

    def shift(node: Sum) -> Sum:
        limits = [(x, low + 1, high + 1) if low == 0 else (x, low, high)
                  for x, low, high in node.limits]
        return Sum(node.function, *limits)

    return expr.replace(lambda e: isinstance(e, Sum), shift)


class Traces:
    """tr(H) and tr(H^2) in the components, with the layer-input products c_l."""

    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer
        self.d = renderer.d
        n, m = self.d.sample_indices
        self.n, self.m = n, m
        self.symbols: dict[str, Symbol] = {}
        self.input_products: dict[str, int] = {}
        self.short: dict[Symbol, str] = {}
        names = {}
        for name, component in self.d.components.items():
            number = int(re.sub(r"\D", "", name) or 0)
            symbol = Symbol(f"K{number:04d}")
            self.symbols[name] = symbol
            names[symbol] = f"K_{{{number}}}({self.arguments(component)})"
            self.short[symbol] = f"K_{{{number}}}"
            layer = self.layer_input(component)
            if layer is not None:
                self.input_products[name] = layer
        self.products: dict[str, Symbol] = {}
        for name, layer in self.input_products.items():
            arguments = self.arguments(self.d.components[name], both=True)
            symbol = Symbol(f"C{layer:03d}_{arguments}")
            self.products[name] = symbol
            names[symbol] = f"c_{{{layer}}}({arguments})"
            self.short[symbol] = f"c_{{{layer}}}"
        renderer.add_names(names)

    def arguments(self, component: Component, both: bool = False) -> str:
        outer = [str(o) for o in component.outer]
        if both and len(outer) == 1:
            outer = outer * 2
        return ",".join(outer)

    @staticmethod
    def layer_input(component: Component) -> int | None:
        """l when the component is a^{(l-1)} . a^{(l-1)} of one sample or of two."""
        factors = component.factors
        if len(factors) != 2 or not all(isinstance(f, Indexed) for f in factors):
            return None
        names = {f.base.label.name for f in factors}
        match = re.fullmatch(r"a(\d+)", names.pop()) if len(names) == 1 else None
        return int(match[1]) + 1 if match else None

    def is_gram(self, name: str) -> bool:
        return self.input_products.get(name) == 1

    def component_rows(self, pair: bool) -> list[str]:
        """The components of one sample (or of two), each as its written-out sum."""
        out = []
        for name, component in self.d.components.items():
            if (len(component.outer) == 2) != pair:
                continue
            lhs = self.r.latex(self.symbols[name])
            text = rows(lhs, self.r.tensor_terms(component.expression, component.outer))
            if self.is_gram(name):
                X = sympy.MatrixSymbol("X", self.d.n_samples, self.d.widths[0])
                first, second = (list(component.outer) * 2)[:2]
                gram = MatrixElement(X * X.T, first, second)
                text += f" = {self.r.latex(gram)} \\quad \\text{{(Gram matrix entry)}}"
            out.append(text)
        return out

    def substitution(self) -> dict:
        """K = c_l - 1 with biases (c_l includes the constant 1 of a~), else K = c_l."""
        shift = 1 if self.d.spec.bias else 0
        return {self.symbols[name]: symbol - shift
                for name, symbol in self.products.items()}

    def product_rows(self) -> list[str]:
        """c_l(n, n) and c_l(n, m) of every layer, one row per layer."""
        shift = 1 if self.d.spec.bias else 0
        layers: dict[int, list[tuple[str, str]]] = {}
        for name, symbol in self.products.items():
            value = self.r.latex(self.symbols[name] + shift)
            layers.setdefault(self.input_products[name], []).append(
                (self.r.latex(symbol), value))
        return [",\\qquad ".join(f"{lhs} {'&' if k == 0 else ''}= {value}"
                                  for k, (lhs, value) in enumerate(cells))
                for _, cells in sorted(layers.items())]

    def polynomial(self, terms: list) -> Expr:
        total = sympy.S.Zero
        for term in terms:
            factors = [self.symbols[c] for c in term.components]
            total += term.coefficient * sympy.Mul(*factors)
        return sympy.expand(total.xreplace(self.substitution()))

    def ordered(self, expr: Expr) -> list[Term]:
        """Terms by falling degree in c_1, c_2, ..., then by component number."""
        variables = [s for _, s in sorted(
            ((str(s), s) for s in self.products.values()))]

        def key(term: Expr) -> tuple:
            powers = term.as_powers_dict()
            degrees = tuple(-int(powers.get(v, 0)) for v in variables)
            return degrees, default_sort_key(term)

        out = []
        for term in sorted(sympy.Add.make_args(expr), key=key):
            negative = term.could_extract_minus_sign()
            out.append(Term(negative, self.r.latex(-term if negative else term)))
        return out

    def sample_sum(self, pair: bool) -> str:
        N = self.d.n_samples
        samples = [(self.n, 1, N)] + ([(self.m, 1, N)] if pair else [])
        factor = self.r.latex(1 / N**2 if pair else 1 / N)
        return f"{factor} {self.r.printer.sum_signs(samples)}"

    def trace(self) -> str:
        terms = self.ordered(self.polynomial(self.d.trace_terms))
        return rows(self.r.latex(self.d.trace_symbol), terms,
                    prefix=self.sample_sum(False))

    def gram_product(self) -> Symbol | None:
        pair = [s for name, s in self.products.items() if self.input_products[name] == 1
                and len(self.d.components[name].outer) == 2]
        return pair[0] if pair else None

    def trace_sq(self) -> tuple[str, list[str]]:
        """tr(H^2) as a polynomial in c_1(n, m), its coefficients named Phi_k."""
        expr = self.polynomial(self.d.trace_sq_terms)
        c1 = self.gram_product()
        lhs = self.r.latex(self.d.trace_sq_symbol)
        prefix = self.sample_sum(True)
        if c1 is None:
            return rows(lhs, self.ordered(expr), prefix=prefix), []
        coefficients = sympy.Poly(expr, c1).as_dict()
        outer, named = sympy.S.Zero, []
        with self.r.names(self.short):
            for (degree,), coefficient in sorted(coefficients.items(), reverse=True):
                if len(sympy.Add.make_args(coefficient)) == 1:
                    outer += c1**degree * coefficient
                    continue
                phi = Symbol(f"Phi{degree}")
                self.r.add_names({phi: f"\\Phi_{{{degree}}}"})
                outer += c1**degree * phi
                named.append(rows(self.r.latex(phi), self.ordered(coefficient)))
            return rows(lhs, self.ordered(outer), prefix=prefix), named


BOUND_SUBJECTS = {
    "lambda_max": r"\lambda_{\max}",
    "lambda_min": r"\lambda_{\min}",
    "spectral_range": r"\lambda_{\max} - \lambda_{\min}",
    "frobenius": r"\lambda_{\max}",
}


def bound_rows(r: Renderer) -> dict:
    """The moments, the interval of each extreme eigenvalue and the range bounds."""
    bounds = dict(r.d.bounds)
    mean, spread = Symbol("mean_eigenvalue"), Symbol("eigenvalue_spread")
    r.add_names({mean: r"\bar{\lambda}", spread: r"s_{\lambda}"})
    replace = {}
    moments = []
    for key, symbol in (("mean", mean), ("spread", spread)):
        if key in bounds:
            value = bounds.pop(key)
            moments.append(f"{r.latex(symbol)} &= {r.latex(value)}")
            replace[value] = symbol

    def shown(expr: Expr) -> str:
        terms = r.terms(expr.xreplace(replace))
        return joined(sorted(terms, key=lambda t: t.text != r.latex(mean)))

    intervals, others = [], []
    for subject in ("lambda_max", "lambda_min"):
        lower = bounds.pop(f"{subject}_lower", None)
        upper = bounds.pop(f"{subject}_upper", None)
        if lower is not None and upper is not None:
            intervals.append(f"{shown(lower)} &\\leq {BOUND_SUBJECTS[subject]} "
                             f"\\leq {shown(upper)}")
    for key, expr in bounds.items():
        subject = key.rsplit("_", 1)[0]
        relation = r"\leq" if key.endswith("_upper") else r"\geq"
        lhs = BOUND_SUBJECTS.get(subject, r"\text{%s}" % subject.replace("_", " "))
        others.append(f"{lhs} &{relation} {shown(expr)}")
    return {"moments": moments, "intervals": intervals, "others": others}


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        block_start_string="((*",
        block_end_string="*))",
        variable_start_string="(((",
        variable_end_string=")))",
        comment_start_string="((#",
        comment_end_string="#))",
    )


def context(derivation: Derivation) -> dict:
    """Everything the template prints, each formula already typeset by SymPy."""
    r = Renderer(derivation)
    traces = Traces(r)
    trace_sq, phis = traces.trace_sq()
    spec = derivation.spec
    return {
        "spec": spec,
        "depth": spec.depth,
        "sympy_version": sympy.__version__,
        "widths": [r.latex(w) for w in derivation.widths],
        "shapes": [(g.tensor.latex, " \\times ".join(map(r.latex, g.tensor.dims)))
                   for g in derivation.groups],
        "symbols": {name: t.latex for name, t in derivation.tensors.items()},
        "network": r.network(),
        "loss": r.loss(),
        "n_params": r.parameters(),
        "activation": r.activation(),
        "helpers": r.helpers(),
        "slopes": r.slopes(),
        "output": r.output(),
        "backward": r.backward(),
        "jacobians": r.jacobians(),
        "blocks": r.blocks(),
        "single_components": traces.component_rows(pair=False),
        "pair_components": traces.component_rows(pair=True),
        "input_products": traces.product_rows(),
        "trace": traces.trace(),
        "trace_sq": trace_sq,
        "phis": phis,
        "bounds": bound_rows(r),
    }


def render_latex(derivation: Derivation, snippet: bool = False) -> str:
    """The LaTeX source of the derivation document for one spec.

    Args:
        derivation: what the engine derived.
        snippet: only the equations (amsmath environments, no preamble).
    """
    values = context(derivation)
    return environment().get_template("derivation.tex.j2").render(
        snippet=snippet, **values)


# -- the command ------------------------------------------------------------------


def compile_pdf(source: str, name: str, out: Path) -> Path:
    """Run pdflatex on ``source`` in a temporary folder and copy the PDF to ``out``.

    Raises:
        ValueError: pdflatex is missing or reports an error.
    """
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise ValueError(PDFLATEX_MISSING)
    with tempfile.TemporaryDirectory(prefix="symws-latex-") as folder:
        tex = Path(folder) / f"{name}.tex"
        tex.write_text(source, encoding="utf-8")
        result = subprocess.run(
            [pdflatex, "-interaction=nonstopmode", "-halt-on-error", tex.name],
            cwd=folder, capture_output=True, text=True, errors="replace",
        )
        pdf = tex.with_suffix(".pdf")
        if result.returncode != 0 or not pdf.exists():
            errors = [x for x in result.stdout.splitlines() if x.startswith("!")]
            raise ValueError(f"pdflatex failed on {name}.tex: "
                             f"{errors[0] if errors else 'see its log'}")
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{name}.pdf"
        shutil.copyfile(pdf, target)
    return target


def latex_command(name: str, pdf: bool = False, snippet: bool = False,
                  out: str = ".") -> int:
    """``symws latex NAME``: print the document or its equations, or write a PDF.

    Args:
        name: a spec name in derivations/.
        pdf: compile with pdflatex and write ``out/NAME.pdf``.
        snippet: print the equations alone, for pasting into a paper.
        out: the folder for the PDF.

    Raises:
        ValueError: unknown name, ``out`` is a file, or pdflatex is missing or fails.
    """
    from symws.engine import derive
    from symws.generate import project_root, spec_paths
    from symws.spec import load_spec

    paths = {p.stem: p for p in spec_paths(project_root())}
    if name not in paths:
        raise ValueError(f"unknown spec {name!r}; known: {', '.join(sorted(paths))}")
    folder = Path(out)
    if pdf and folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is not a folder")
    derivation = derive(load_spec(paths[name]))
    if pdf:
        target = compile_pdf(render_latex(derivation), name, folder)
        print(f"wrote {target}")
    else:
        sys.stdout.write(render_latex(derivation, snippet=snippet))
    return 0
