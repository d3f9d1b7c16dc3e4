"""Print a derivation as a NumPy module (through a jinja2 template).

Every contraction of the derivation is a product of indexed tensors with summed
indices; it is printed as one ``numpy.einsum`` call whose subscripts are read off
the index structure, with the sample index as the leading axis. Entrywise
activation code comes from SymPy's NumPy printer after common-subexpression
elimination. The generated module imports numpy and the standard library only.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import jinja2
import sympy
from sympy import Indexed, KroneckerDelta, Symbol
from sympy.printing.numpy import NumPyPrinter

from symws.activations import z
from symws.engine import Derivation, add_sample_index
from symws.losses import LOSSES
from symws.tensors import factors_of

LETTERS = "abcdefghijklopqrstuvwxyz"
TEMPLATES = Path(__file__).parent / "templates"


class ActivationPrinter(NumPyPrinter):
    """SymPy's NumPy printer, plus stable forms of sigmoid, softplus and erf."""

    def _print_sigmoid(self, expr) -> str:
        return "numpy.exp(-numpy.logaddexp(0.0, -(%s)))" % self._print(expr.args[0])

    def _print_softplus(self, expr) -> str:
        return "numpy.logaddexp(0.0, %s)" % self._print(expr.args[0])

    def _print_erf(self, expr) -> str:
        return "_erf(%s)" % self._print(expr.args[0])

    def _print_erfc(self, expr) -> str:
        return "(1.0 - _erf(%s))" % self._print(expr.args[0])


class ClassSum(sympy.Function):
    """A sum over the output classes, printed as a row sum."""


class LossPrinter(ActivationPrinter):
    def _print_ClassSum(self, expr) -> str:
        return "numpy.sum(%s, axis=1)" % self._print(expr.args[0])


class ModulePrinter:
    """Turns one derivation's expressions into the code snippets of the template."""

    def __init__(self, derivation: Derivation) -> None:
        self.d = derivation
        self.n, self.m = derivation.sample_indices

    # -- index bookkeeping ------------------------------------------------------

    def dim_code(self, index: Symbol, factors: list, hint: dict | None = None) -> str:
        """The generated-code width of an index (``dims[l]``), read from a tensor
        axis it indexes, or through a Kronecker delta from its partner index."""
        for factor in factors:
            if isinstance(factor, Indexed) and index in factor.indices:
                tensor = self.d.tensors[factor.base.label.name]
                axis = list(factor.indices).index(index)
                if tensor.per_sample and len(factor.indices) > len(tensor.dims):
                    axis -= 1
                width = tensor.dims[axis]
                return f"dims[{self.d.widths.index(width)}]"
        if hint and index in hint:
            return f"dims[{self.d.widths.index(hint[index])}]"
        for factor in factors:
            if isinstance(factor, KroneckerDelta) and index in factor.args:
                partner = [a for a in factor.args if a != index]
                if partner:
                    others = [f for f in factors if f is not factor]
                    return self.dim_code(partner[0], others, hint)
        raise ValueError(f"index {index} has no tensor axis")

    def einsum(self, factors: list, output: tuple, operand, hint: dict | None = None
               ) -> str:
        """One einsum call; ``operand(factor)`` gives the array expression."""
        letters = {self.n: "n", self.m: "m"}
        spare = iter(LETTERS)

        def letter(index):
            if index not in letters:
                letters[index] = next(spare)
            return letters[index]

        operands, subscripts = [], []
        for factor in factors:
            if isinstance(factor, Indexed):
                operands.append(operand(factor))
                subscripts.append("".join(letter(i) for i in factor.indices))
            elif isinstance(factor, KroneckerDelta):
                width = self.dim_code(factor.args[0], factors, hint)
                operands.append(f"numpy.eye({width})")
                subscripts.append("".join(letter(i) for i in factor.args))
            else:
                raise NotImplementedError(f"factor {factor} in a contraction")
        present = set("".join(subscripts))
        out = "".join(letters[i] for i in output if i in letters and letters[i] in present)
        if len(operands) == 1 and subscripts[0] == out:
            return operands[0]
        spec = ",".join(subscripts) + "->" + out
        if len(operands) == 1:
            return f'numpy.einsum("{spec}", {operands[0]})'
        return f'numpy.einsum("{spec}", {", ".join(operands)}, optimize=True)'

    def coefficient(self, value) -> str:
        """A term's coefficient as code: numbers, widths dims[l], weight_decay."""
        value = sympy.nsimplify(value)
        if value.is_Rational:
            return repr(float(value))
        names = {w: Symbol(f"dims[{l}]") for l, w in enumerate(self.d.widths)}
        names[self.d.weight_decay_symbol] = Symbol("weight_decay")
        unknown = value.free_symbols - set(names)
        if unknown:
            raise NotImplementedError(f"coefficient {value} has symbols {unknown}")
        return f"({sympy.pycode(value.xreplace(names))})"

    def monomials(self, expr) -> list:
        return [factors_of(t) for t in sympy.Add.make_args(sympy.expand(expr))]

    def linear_combination(self, expr, output: tuple, operand, hint: dict | None = None,
                           samples: str | None = None) -> list[str]:
        """Lines of a sum of einsum terms, each with its coefficient.

        ``hint`` maps output indices to widths, for terms such as delta(i, j) of
        S_L for the squared error, where no tensor factor carries the index.
        ``samples``, when the sum over the sample index is implicit (the output
        has none), is the code of the sample count that multiplies a term equal
        for every sample (the weight decay's).
        """
        lines = []
        for coefficient, factors in self.monomials(expr):
            code = self.einsum(factors, output, operand, hint)
            per_sample = any(isinstance(f, Indexed) and self.n in f.indices
                             for f in factors)
            if output and output[0] == self.n and not per_sample:
                code = f"_each_sample({code}, a0)"
            if samples and not per_sample:
                code = f"{samples} * {code}"
            sign = "-" if coefficient.could_extract_minus_sign() else "+"
            magnitude = -coefficient if sign == "-" else coefficient
            if magnitude != 1:
                code = f"{self.coefficient(magnitude)} * {code}"
            lines.append(f"{sign} {code}")
        if lines and lines[0].startswith("+ "):
            lines[0] = lines[0][2:]
        return lines

    # -- per-sample quantities ----------------------------------------------------

    def needed(self, exprs) -> list[str]:
        """Names of the tensors the expressions use, with everything they depend on."""
        wanted: set[str] = set()
        stack = [e for e in exprs]
        while stack:
            expr = self.with_sample(stack.pop())
            for atom in expr.atoms(Indexed):
                name = atom.base.label.name
                if name in wanted or name not in self.d.tensors:
                    continue
                wanted.add(name)
                tensor = self.d.tensors[name]
                if tensor.kind == "contraction":
                    stack.append(tensor.definition)
                elif tensor.kind == "activation":
                    stack.append(self.d.tensors[tensor.definition[1]].base[0])
                elif tensor.kind in ("softmax", "target_mass"):
                    stack.append(self.d.tensors[tensor.definition].base[0])
        return [name for name in self.d.tensors if name in wanted]

    def quantity_lines(self, names: list[str]) -> list[str]:
        """Code computing each per-sample tensor of ``names`` for a block of samples."""
        lines = []
        done_layers = set()
        for name in names:
            tensor = self.d.tensors[name]
            if tensor.kind in ("input", "parameter", "vector"):
                continue
            if tensor.kind == "activation":
                source = tensor.definition[1]
                if source in done_layers:
                    continue
                done_layers.add(source)
                lines += self.activation_lines(source, names)
            elif tensor.kind == "softmax":
                lines.append(f"{name} = _softmax({tensor.definition})")
            elif tensor.kind == "target_mass":
                lines.append(f"{name} = {tensor.definition}.sum(axis=1)")
            else:
                definition = self.with_sample(tensor.definition)
                output = (self.n,) + tuple(tensor.indices)
                terms = self.linear_combination(
                    definition, output, lambda f: f.base.label.name,
                    dict(zip(tensor.indices, tensor.dims)),
                )
                lines.append(f"{name} = (")
                lines += ["    " + t for t in terms]
                lines.append(")")
        return lines

    def activation_lines(self, source: str, names: list[str]) -> list[str]:
        """The entrywise functions of one pre-activation array (sigma, sigma',
        sigma'' of a hidden layer; sigmoid of the logits for a logistic loss),
        sharing subexpressions (sympy.cse)."""
        wanted = [
            (name, tensor.definition[0])
            for name, tensor in self.d.tensors.items()
            if name in names and tensor.kind == "activation"
            and tensor.definition[1] == source
        ]
        variable = Symbol(source)
        exprs = [e.xreplace({z: variable}) for _, e in wanted]
        temporaries = sympy.numbered_symbols(f"t_{source}_")
        replacements, reduced = sympy.cse(exprs, symbols=temporaries)
        printer = ActivationPrinter({"fully_qualified_modules": True})
        lines = [f"{t} = {printer.doprint(e)}" for t, e in replacements]
        for (name, _), expr in zip(wanted, reduced):
            code = printer.doprint(expr)
            if not expr.has(variable) and not any(expr.has(t) for t, _ in replacements):
                code = f"numpy.full_like({source}, {code})"
            lines.append(f"{name} = {code}")
        return lines

    def with_sample(self, expr):
        return add_sample_index(expr, self.d.tensors, self.n)

    # -- traces and the dense Hessian ---------------------------------------------

    def component_code(self, pair: bool) -> list[tuple[str, str, str]]:
        """(name, outer, code) of each component contraction."""
        terms = self.d.trace_sq_terms if pair else self.d.trace_terms
        names = sorted({c for t in terms for c in t.components}, key=lambda c: int(c[1:]))
        rows = []
        for name in names:
            component = self.d.components[name]

            def operand(factor):
                tensor = factor.base.label.name
                if self.m in factor.indices:
                    return f'cols["{tensor}"]'
                return f'rows["{tensor}"]'

            outer = "".join("n" if o == self.n else "m" for o in component.outer)
            if outer == "nm":
                code = self.gram_code(component.factors, operand)
            else:
                code = self.einsum(component.factors, component.outer, operand)
            rows.append((name, outer, code))
        return rows

    def gram_code(self, factors: list, operand) -> str:
        """A component of two samples as one matrix product of two sides.

        The factors of sample n are contracted among themselves down to the
        indices they share with sample m's factors, likewise for m, and the two
        sides meet in one BLAS matrix product: K[n, m] = left[n, :] . right[m, :].
        """
        left = [f for f in factors if self.n in f.indices]
        right = [f for f in factors if self.m in f.indices]
        if len(left) + len(right) != len(factors):
            raise NotImplementedError(f"component {factors} mixes samples in a factor")
        left_indices = {i for f in left for i in f.indices}
        shared = []
        for factor in right:
            for index in factor.indices:
                if index in left_indices and index not in shared:
                    shared.append(index)
        left_code = self.einsum(left, (self.n, *shared), operand)
        right_code = self.einsum(right, (self.m, *shared), operand)
        if self.symmetric_pair(left, right):
            return f"_gram_symmetric({left_code}, {right_code})"
        return f"_gram(\n        {left_code},\n        {right_code},\n    )"

    def symmetric_pair(self, left: list, right: list) -> bool:
        """<S^n, S^m> of one symmetric tensor (an S_l): half the products suffice."""
        if len(left) != 1 or len(right) != 1:
            return False
        a, b = left[0], right[0]
        name = a.base.label.name
        return (name == b.base.label.name and name.startswith("S")
                and len(a.indices) == 3 and a.indices[1:] == b.indices[1:])

    def term_code(self, pair: bool) -> list[str]:
        terms = self.d.trace_sq_terms if pair else self.d.trace_terms
        shape = {}
        for name, outer, _ in self.component_code(pair):
            shape[name] = {"nm": "", "n": "[:, None]" if pair else "", "m": "[None, :]",
                           "": ""}[outer]
        lines = []
        for term in terms:
            factors = [f"{c}{shape[c]}" for c in term.components]
            coefficient = self.coefficient(term.coefficient)
            lines.append(" * ".join([coefficient] + factors) if coefficient != "1.0"
                         else " * ".join(factors))
        return lines

    def hessian_blocks(self) -> list[dict]:
        blocks = []
        for (row_name, col_name), block in self.d.group_blocks.items():
            row = next(g for g in self.d.groups if g.name == row_name)
            col = next(g for g in self.d.groups if g.name == col_name)
            output = tuple(row.row_indices) + tuple(col.col_indices)
            hint = dict(zip(row.row_indices, row.tensor.dims))
            hint.update(zip(col.col_indices, col.tensor.dims))
            terms = self.linear_combination(
                self.with_sample(block), output,
                lambda f: f'q["{f.base.label.name}"]', hint=hint,
                samples='q["a0"].shape[0]',
            )
            blocks.append({"row": row_name, "col": col_name, "terms": terms})
        return blocks

    def operand(self, factor) -> str:
        """The array of a factor in the per-group sums: a part of the vector v, a
        parameter, or a per-sample array of the tile (``q``)."""
        name = factor.base.label.name
        if name.startswith("v_"):
            return f'parts["{name[2:]}"]'
        if not self.d.tensors[name].per_sample:
            return name
        return f'q["{name}"]'

    def group_sums(self, exprs: dict, column: bool) -> list[dict]:
        """Per parameter group, the terms of a sum over the samples of a tile (the
        Hessian-vector product in row indices, the gradient in column indices)."""
        groups = []
        for group in self.d.groups:
            indices = group.col_indices if column else group.row_indices
            terms = self.linear_combination(
                self.with_sample(exprs[group.name]), tuple(indices), self.operand,
                samples='q["a0"].shape[0]',
            )
            groups.append({"name": group.name, "terms": terms})
        return groups

    def loss_code(self) -> str:
        """The per-sample loss summed over a tile, printed from the loss expression.

        Sums over the classes become row sums; log sum_j exp(f_j) becomes the
        shifted log-sum-exp; functions print in their overflow-free forms.
        """
        logits = self.d.tensors[f"z{self.d.spec.depth}"].base
        targets = self.d.tensors["y"].base
        expr = self.d.loss.loss.replace(
            lambda e: e.func is sympy.log and isinstance(e.args[0], sympy.Sum)
            and e.args[0].function.func is sympy.exp,
            lambda e: Symbol("LOGSUMEXP"),
        )
        expr = expr.replace(lambda e: isinstance(e, sympy.Sum),
                            lambda e: ClassSum(e.function))
        expr = expr.replace(
            lambda e: isinstance(e, Indexed) and e.base in (logits, targets),
            lambda e: Symbol("LOGITS" if e.base == logits else "TARGETS"),
        )
        code = LossPrinter({"fully_qualified_modules": True}).doprint(expr)
        name = f"z{self.d.spec.depth}"
        return (code.replace("LOGSUMEXP", f'_logsumexp(q["{name}"])[:, None]')
                .replace("LOGITS", f'q["{name}"]').replace("TARGETS", 'q["y"]'))

    def bound_code(self) -> list[tuple[str, str]]:
        d = self.d
        names = {d.trace_symbol: "trace", d.trace_sq_symbol: "trace_sq",
                 d.n_params_symbol: "n_params"}
        lines = []
        for key, expr in d.bounds.items():
            expr = expr.xreplace({s: Symbol(v) for s, v in names.items()})
            lines.append((key, sympy.pycode(expr, fully_qualified_modules=True)))
        return lines


def render_module(derivation: Derivation, spec_path: str = "") -> str:
    """The source of the generated NumPy module for one derivation."""
    printer = ModulePrinter(derivation)
    trace_needed = printer.needed(
        [c.expression for c in derivation.components.values()
         if any(c.name in t.components for t in derivation.trace_terms)]
    )
    pair_needed = printer.needed(
        [c.expression for c in derivation.components.values()
         if any(c.name in t.components for t in derivation.trace_sq_terms)]
        + list(derivation.group_blocks.values())
        + list(derivation.hvp.values())
    )
    gradient_needed = printer.needed(
        list(derivation.gradients.values())
        + [derivation.tensors[f"z{derivation.spec.depth}"].base[0],
           derivation.tensors["y"].base[0]]
    )
    missing = set(trace_needed) - set(pair_needed)
    if missing:
        raise NotImplementedError(
            f"tr(H) needs {sorted(missing)}, which the pair sums do not compute"
        )
    quantity_sets = []
    for name, purpose, needed in (
        ("trace", "tr(H)", trace_needed),
        ("pair", "tr(H^2), the dense Hessian and the product H v", pair_needed),
        ("gradient", "the loss and its gradient", gradient_needed),
    ):
        quantity_sets.append({
            "name": name,
            "purpose": purpose,
            "lines": printer.quantity_lines(needed),
            "names": [n for n in needed if derivation.tensors[n].per_sample],
        })
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    template = environment.get_template("module.py.j2")
    return template.render(
        d=derivation,
        spec=derivation.spec,
        spec_path=spec_path or f"derivations/{derivation.spec.name}.toml",
        sympy_version=sympy.__version__,
        quantity_sets=quantity_sets,
        gradient_groups=printer.group_sums(derivation.gradients, column=True),
        loss_code=printer.loss_code(),
        penalized=[g.name for g in derivation.groups if derivation.spec.weight_decay
                   and (derivation.spec.weight_decay_scope == "all"
                        or g.name.startswith("W"))],
        trace_components=printer.component_code(pair=False),
        trace_terms=printer.term_code(pair=False),
        pair_components=printer.component_code(pair=True),
        pair_terms=printer.term_code(pair=True),
        hessian_blocks=printer.hessian_blocks(),
        hvp_groups=printer.group_sums(derivation.hvp, column=False),
        bounds=printer.bound_code(),
        depth=derivation.spec.depth,
        targets=LOSSES[derivation.spec.loss].targets,
        min_classes=LOSSES[derivation.spec.loss].min_classes,
    )


def load_module(source: str, name: str) -> types.ModuleType:
    """Execute generated source as a module (for specs derived in memory)."""
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__symws_source__ = source
    sys.modules[name] = module
    try:
        exec(compile(source, f"<symws generated {name}>", "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module
