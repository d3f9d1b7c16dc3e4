"""Render a derivation as a standalone LaTeX document (through a jinja2 template).

Every formula is printed by SymPy's LaTeX printer from the same objects the NumPy
evaluators are printed from; the template holds prose and layout only. Tensor
names are mapped to readable symbols (``S1`` -> S^{(1)}), summed indices are
written as explicit sums with their ranges, and long sums are broken one term per
line.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import sympy
from sympy import Expr, Indexed, IndexedBase, Symbol

from symws.engine import Derivation
from symws.tensors import Summed, factors_of

TEMPLATES = Path(__file__).parent / "templates"
LINE_BUDGET = 70


class Renderer:
    """LaTeX strings for one derivation."""

    def __init__(self, derivation: Derivation) -> None:
        self.d = derivation
        self.names = {}
        for name, tensor in derivation.tensors.items():
            self.names[name] = IndexedBase(Symbol(tensor.latex))

    def readable(self, expr: Expr) -> Expr:
        """Swap code names for LaTeX symbols."""
        return expr.replace(
            lambda e: isinstance(e, Indexed) and e.base.label.name in self.names,
            lambda e: self.names[e.base.label.name][e.indices],
        )

    def ranges(self, expr: Expr) -> list:
        limits = []
        for index in sorted(expr.atoms(Summed), key=lambda s: s.name):
            limits.append((index, 0, self.dim_of(index, expr) - 1))
        return limits

    def dim_of(self, index: Symbol, expr: Expr) -> Expr:
        for factor in sorted(expr.atoms(Indexed), key=str):
            if index in factor.indices and factor.base.label.name in self.d.tensors:
                tensor = self.d.tensors[factor.base.label.name]
                axis = list(factor.indices).index(index)
                if len(factor.indices) > len(tensor.dims):
                    axis -= 1
                return tensor.dims[axis]
        raise ValueError(f"no range known for index {index}")

    def summed(self, expr: Expr) -> list[str]:
        """Each monomial with its summation signs, as LaTeX terms (signs kept)."""
        terms = []
        for term in sympy.Add.make_args(sympy.expand(expr)):
            coefficient, factors = factors_of(term)
            product = sympy.Mul(*factors)
            limits = self.ranges(product)
            body = self.readable(product)
            if limits:
                body = sympy.Sum(body, *limits)
            text = sympy.latex(coefficient * body if coefficient != 1 else body)
            terms.append(text)
        return terms

    def equation(self, lhs: str, expr: Expr) -> str:
        """An equation; sums of many terms are broken one term per line."""
        return self.lines(lhs, self.summed(expr))

    @staticmethod
    def lines(lhs: str, terms: list[str]) -> str:
        if not terms:
            terms = ["0"]
        body = [terms[0]]
        for term in terms[1:]:
            body.append(term if term.startswith("-") else "+ " + term)
        if sum(len(t) for t in body) + len(lhs) < LINE_BUDGET:
            return f"{lhs} &= {' '.join(body)}"
        return f"{lhs} &= {body[0]} \\\\\n  &\\quad " + " \\\\\n  &\\quad ".join(body[1:]) \
            if len(body) > 1 else f"{lhs} &= {body[0]}"

    def entry(self, name: str) -> str:
        tensor = self.d.tensors[name]
        indices = ",".join(sympy.latex(i) for i in tensor.indices)
        return f"{tensor.latex}_{{{indices}}}" if indices else tensor.latex


def render_latex(derivation: Derivation) -> str:
    """The LaTeX source of the derivation document for one spec."""
    r = Renderer(derivation)
    d = derivation

    activation = [
        ("\\sigma(z)", sympy.latex(d.sigma)),
        ("\\sigma'(z)", sympy.latex(d.sigma_d1)),
        ("\\sigma''(z)", sympy.latex(d.sigma_d2)),
    ]
    loss = sympy.latex(r.readable(d.loss.loss))
    definitions = []
    for name, tensor in d.tensors.items():
        if tensor.kind == "contraction":
            definitions.append(r.equation(r.entry(name), tensor.definition))
    blocks = []
    for (row, col), block in d.group_blocks.items():
        row_group = next(g for g in d.groups if g.name == row)
        col_group = next(g for g in d.groups if g.name == col)
        lhs = (
            "\\frac{\\partial^2 \\ell}{\\partial "
            + f"{row_group.tensor.latex}_{{{','.join(map(str, row_group.row_indices))}}}"
            + " \\, \\partial "
            + f"{col_group.tensor.latex}_{{{','.join(map(str, col_group.col_indices))}}}}}"
        )
        blocks.append(r.equation(lhs, block))

    components = []
    for name, component in d.components.items():
        expr = component.expression
        limits = r.ranges(expr)
        body = r.readable(expr)
        text = sympy.latex(sympy.Sum(body, *limits) if limits else body)
        outer = ",".join(sympy.latex(o) for o in component.outer)
        components.append(f"K_{{{name[1:]}}}({outer}) &= {text}")

    def term_lines(terms) -> list[str]:
        out = []
        for term in terms:
            parts = [f"K_{{{c[1:]}}}({','.join(sympy.latex(o) for o in d.components[c].outer)})"
                     for c in term.components]
            coefficient = sympy.latex(term.coefficient)
            prefix = "" if term.coefficient == 1 else coefficient + " \\, "
            out.append(prefix + " ".join(parts))
        return out

    trace = r.lines("\\operatorname{tr} H", ["\\frac{1}{N} \\sum_{n=0}^{N-1} \\Big("]
                    + term_lines(d.trace_terms) + ["\\Big)"])
    trace_sq = r.lines("\\operatorname{tr} H^2",
                       ["\\frac{1}{N^2} \\sum_{n=0}^{N-1} \\sum_{m=0}^{N-1} \\Big("]
                       + term_lines(d.trace_sq_terms) + ["\\Big)"])
    symbols = {d.trace_symbol: Symbol("\\operatorname{tr} H"),
               d.trace_sq_symbol: Symbol("\\operatorname{tr} H^2")}
    bounds = [(key.replace("_", " "), sympy.latex(expr.xreplace(symbols)))
              for key, expr in d.bounds.items()]

    environment = jinja2.Environment(
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
    return environment.get_template("derivation.tex.j2").render(
        spec=d.spec,
        sympy_version=sympy.__version__,
        activation=activation,
        loss=loss,
        n_params=sympy.latex(d.n_params),
        definitions=definitions,
        blocks=blocks,
        components=components,
        trace=trace,
        trace_sq=trace_sq,
        bounds=bounds,
        depth=d.spec.depth,
    )


def latex_command(name: str, pdf: bool = False, snippet: bool = False, out: str = ".") -> int:
    """``symws latex``: print the document or its equations, or compile a PDF."""
    raise NotImplementedError("symws latex is being written (issue: LaTeX derivations)")
