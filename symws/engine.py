r"""The derivation engine: per-sample Hessian blocks, traces and bounds, by SymPy.

For a spec (depth L, activation sigma, loss, bias) the engine derives, for any L:

1. sigma' and sigma'' by ``sympy.diff`` of the activation expression;
2. the output gradient g_L and Hessian S_L by ``sympy.diff`` of the loss;
3. the backward sweep g_l, S_l (l < L), the Jacobians J_{k<-l} = dz_k/dz_l,
   A_{k,l} = da_{k-1}/dz_l and the mixed terms C_{k,l} = dg_k/dz_l = S_k J_{k<-l};
4. the per-sample Hessian block of every pair of parameter groups (W_l, b_l);
5. tr(H) and tr(H^2) as sums over samples of products of inner products;
6. the Wolkowicz-Styan bounds as expressions of (tr H, tr H^2, P).

Steps 3 and 4 use one device throughout: a quantity is perturbed to first or
second order (a *jet*: value + first derivative . delta + 1/2 delta . second
derivative . delta), the perturbation is carried through the layer map written in
index notation, and ``sympy.diff`` with respect to the perturbation's entries,
taken at zero, gives the derivative. Gradients and Hessians of a composition are
exact under this second-order model, so the chain rule is done by SymPy, not by
hand. ``symws.tensors.contract`` then removes the Kronecker deltas SymPy produces.

References:
    H. Wolkowicz and G. P. H. Styan, "Bounds for eigenvalues using traces",
    Linear Algebra and its Applications 29 (1980) 471-506.
    The 2026 closed-form Wolkowicz-Styan bound for smooth three-layer networks
    under softmax cross-entropy, which this engine generalizes to any depth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sympy
from sympy import Expr, IndexedBase, Indexed, KroneckerDelta, Symbol, sqrt

from symws.activations import derivatives, z
from symws.losses import derive_loss
from symws.spec import Spec, load_spec
from symws.tensors import (
    IndexFactory,
    Summed,
    canonical,
    canonical_monomial,
    components,
    contract,
    factors_of,
    rename_apart,
    zero_out,
)


@dataclass
class Tensor:
    """A named array of the generated code.

    Attributes:
        name: the variable name in generated code (``S1``, ``C2_1``, ...).
        base: the SymPy ``IndexedBase`` of one sample's entry (no sample index).
        dims: the width symbols of its axes, sample axis excluded.
        per_sample: whether the array has a leading sample axis.
        kind: "input", "parameter", "contraction" (a sum of index products, printed
            as einsum), "activation" (sigma, sigma', sigma'' applied entrywise),
            "softmax" or "target_mass".
        definition: for "contraction", the entry as an expression in ``indices``;
            for "activation", the SymPy expression in z and the source tensor name.
        indices: the free indices of ``definition``, in axis order.
        latex: the symbol in LaTeX.
    """

    name: str
    base: IndexedBase
    dims: tuple
    per_sample: bool
    kind: str
    definition: object = None
    indices: tuple = ()
    latex: str = ""


@dataclass
class Group:
    """A parameter group: the weight matrix or the bias vector of one layer."""

    name: str
    layer: int
    tensor: Tensor
    row_indices: tuple
    col_indices: tuple


@dataclass
class Term:
    """One term of a pair sum: coefficient x product of component contractions."""

    coefficient: Expr
    components: tuple[str, ...]


@dataclass
class Component:
    """A connected contraction of per-sample tensors: an inner product or Gram entry.

    Attributes:
        name: ``K1``, ``K2``, ... in order of first use.
        factors: the Indexed factors (sample indices n and/or m included).
        outer: the sample indices it keeps, a sub-tuple of (n, m).
    """

    name: str
    factors: list
    outer: tuple

    @property
    def expression(self) -> Expr:
        return sympy.Mul(*self.factors)


@dataclass
class Report:
    """Stage timings (seconds) and expression sizes; its repr is a small table."""

    stages: list = field(default_factory=list)

    def add(self, stage: str, seconds: float, size: int) -> None:
        self.stages.append((stage, seconds, size))

    def __repr__(self) -> str:
        lines = [f"{'stage':<12} {'seconds':>8} {'ops':>8}"]
        for stage, seconds, size in self.stages:
            lines.append(f"{stage:<12} {seconds:8.3f} {size:8d}")
        return "\n".join(lines)


@dataclass
class Derivation:
    """Everything the engine derived for one spec.

    Attributes:
        spec: the spec.
        sigma, sigma_d1, sigma_d2: the activation and its derivatives in ``z``.
        loss: the loss expression and its output gradient and Hessian.
        widths: the width symbols d_0, ..., d_L.
        tensors: every named per-sample quantity, in evaluation order.
        groups: the parameter groups in Hessian order (W_1, b_1, W_2, ...).
        group_blocks: (row group, column group) -> per-sample block entry, for every
            pair with the row group first in Hessian order.
        blocks: (l, k) -> the weight-weight block entry of layers l <= k. In MATH.md's
            augmented notation, where a bias exists, read ``a`` as a~ = [a; 1].
        trace_terms: per-sample terms of tr(H) (outer index n).
        trace_sq_terms: pair terms of tr(H^2) (outer indices n, m).
        components: the component contractions the terms refer to, by name.
        trace, trace_sq: tr(H) and tr(H^2) as SymPy expressions with explicit sums.
        bounds: the four Wolkowicz-Styan bounds and helpers, as expressions of the
            symbols ``trace_symbol``, ``trace_sq_symbol`` and ``n_params_symbol``.
        n_params: P as an expression of the widths.
        report: stage timings and sizes.
        gradients: group name -> per-sample entry of dl/dG in G's column indices
            (i, j), with the weight decay's term.
        hvp: group name -> per-sample entry of the Hessian-vector product H^n v,
            with v's parts the tensors ``v_W1``, ``v_b1``, ...
    """

    spec: Spec
    sigma: Expr
    sigma_d1: Expr
    sigma_d2: Expr
    loss: object
    widths: tuple
    tensors: dict
    groups: list
    group_blocks: dict
    blocks: dict
    trace_terms: list
    trace_sq_terms: list
    components: dict
    trace: Expr
    trace_sq: Expr
    bounds: dict
    n_params: Expr
    n_samples: Symbol
    sample_indices: tuple
    trace_symbol: Symbol
    trace_sq_symbol: Symbol
    n_params_symbol: Symbol
    report: Report
    hvp: dict
    gradients: dict
    weight_decay_symbol: Symbol


    def latex(self, expr: Expr) -> str:
        """LaTeX of an expression of this derivation in the document's notation
        (S^{(1)}_{ip}, a^{(0)}_q, ...) rather than the code names."""
        from symws.latex import Renderer

        return Renderer(self).latex(expr)


class Engine:
    """Carries the state of one derivation: tensors, index names, timings."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.L = spec.depth
        self.indices = IndexFactory()
        self.tensors: dict[str, Tensor] = {}
        self.report = Report()
        self.widths = tuple(
            Symbol(f"d{l}", integer=True, positive=True) for l in range(self.L + 1)
        )
        self.weight_decay = Symbol("lambda_wd", nonnegative=True)
        self.ranges: dict = {}

    # -- bookkeeping ------------------------------------------------------------

    def tensor(self, name: str, dims: tuple, kind: str, latex: str,
               per_sample: bool = True, **kwargs) -> Tensor:
        base = IndexedBase(name, shape=dims) if dims else IndexedBase(name)
        entry = Tensor(name, base, dims, per_sample, kind, latex=latex, **kwargs)
        self.tensors[name] = entry
        return entry

    def define(self, name: str, indices: tuple, expression: Expr, dims: tuple,
               latex: str) -> Tensor:
        """Name a per-sample contraction the engine derived."""
        symmetric = {t for t in self.tensors if t.startswith("S")}
        expression = sympy.Add(*[
            canonical_monomial(term, symmetric)
            for term in sympy.Add.make_args(contract(expression))
        ])
        return self.tensor(name, dims, "contraction", latex,
                           definition=expression, indices=indices)

    def base(self, name: str) -> IndexedBase:
        return self.tensors[name].base

    def timed(self, stage: str, start: float, *exprs: Expr) -> None:
        size = sum(sympy.count_ops(e) for e in exprs)
        self.report.add(stage, time.perf_counter() - start, size)

    # -- stages -----------------------------------------------------------------

    def run(self) -> Derivation:
        start = time.perf_counter()
        self.declare_inputs()
        self.timed("symbols", start)

        start = time.perf_counter()
        sigma, first, second = derivatives(self.spec.activation)
        self.sigma, self.sigma_d1, self.sigma_d2 = sigma, first, second
        self.timed("activation", start, sigma, first, second)

        start = time.perf_counter()
        self.forward()
        self.output_layer()
        self.timed("loss", start, self.loss.gradient, self.loss.hessian)

        start = time.perf_counter()
        self.backward()
        self.jacobians()
        self.timed("backward", start, *[t.definition for t in self.tensors.values()
                                        if t.kind == "contraction"])

        start = time.perf_counter()
        self.parameter_groups()
        self.derive_blocks()
        self.derive_gradients()
        self.derive_hessian_vector_product()
        self.timed("blocks", start, *self.group_blocks.values())

        start = time.perf_counter()
        self.derive_traces()
        self.timed("traces", start, self.trace, self.trace_sq)

        start = time.perf_counter()
        self.derive_bounds()
        self.timed("bounds", start, *self.bounds.values())
        return self.result()

    def declare_inputs(self) -> None:
        """Symbols: widths, weights, biases, the input, the targets."""
        d = self.widths
        self.tensor("a0", (d[0],), "input", "x")
        self.tensor("y", (d[-1],), "input", "y")
        for l in range(1, self.L + 1):
            self.tensor(f"W{l}", (d[l], d[l - 1]), "parameter", f"W^{{({l})}}",
                        per_sample=False)
            if self.spec.bias:
                self.tensor(f"b{l}", (d[l],), "parameter", f"b^{{({l})}}",
                            per_sample=False)

    def forward(self) -> None:
        """The layer maps z_l = W_l a_{l-1} + b_l and a_l = sigma(z_l)."""
        d = self.widths
        for l in range(1, self.L + 1):
            i, j = self.indices.free("i"), self.indices.summed("j")
            affine = self.base(f"W{l}")[i, j] * self.base(f"a{l - 1}")[j]
            if self.spec.bias:
                affine += self.base(f"b{l}")[i]
            self.define(f"z{l}", (i,), affine, (d[l],), f"z^{{({l})}}")
            if l < self.L:
                for name, expr, latex in (
                    (f"a{l}", self.sigma, f"a^{{({l})}}"),
                    (f"sp{l}", self.sigma_d1, f"\\sigma'^{{({l})}}"),
                    (f"spp{l}", self.sigma_d2, f"\\sigma''^{{({l})}}"),
                ):
                    self.tensor(name, (d[l],), "activation", latex,
                                definition=(expr, f"z{l}"), indices=(i,))

    def output_layer(self) -> None:
        """g_L and S_L: SymPy differentiates the loss with respect to the logits."""
        K = self.widths[-1]
        self.tensor("p", (K,), "softmax", "p", definition=f"z{self.L}")
        self.tensor("s", (), "target_mass", "s", definition="y")
        loss = derive_loss(
            self.spec.loss,
            self.base(f"z{self.L}"),
            self.base("y"),
            self.base("p"),
            Symbol("s"),
            K,
        )
        self.loss = loss
        for name, form in loss.entrywise.items():
            self.tensor(name, (K,), "activation", f"o^{{({name[1:]})}}",
                        definition=(form, f"z{self.L}"),
                        indices=(Symbol("i", integer=True),))
        i, j = Symbol("i", integer=True), Symbol("j", integer=True)
        self.define(f"g{self.L}", (i,), loss.gradient, (K,), f"g^{{({self.L})}}")
        self.define(f"S{self.L}", (i, j), loss.hessian, (K, K), f"S^{{({self.L})}}")

    def backward(self) -> None:
        r"""g_l and S_l from g_{l+1}, S_{l+1} through the second-order jet of layer l+1.

        With u the perturbation of z_l:
        a_l -> a_l + sigma'(z_l) u + sigma''(z_l) u^2 / 2,
        z_{l+1} -> z_{l+1} + W_{l+1} (that),
        l -> l + g_{l+1} . dz + dz . S_{l+1} dz / 2,
        and g_l = dl/du, S_l = d^2 l/du du at u = 0.
        """
        d = self.widths
        u = IndexedBase("u")
        for l in range(self.L - 1, 0, -1):
            W, g, S = self.base(f"W{l + 1}"), self.base(f"g{l + 1}"), self.base(f"S{l + 1}")
            sp, spp = self.base(f"sp{l}"), self.base(f"spp{l}")

            def dz_next(r: Summed) -> Expr:
                j = self.indices.summed("j")
                return W[r, j] * (sp[j] * u[j] + spp[j] * u[j] ** 2 / 2)

            r1, r2 = self.indices.summed("r"), self.indices.summed("r")
            model = g[r1] * dz_next(r1) + S[r1, r2] * dz_next(r1) * dz_next(r2) / 2

            i, j = self.indices.free("i"), self.indices.free("j")
            gradient = zero_out(sympy.diff(model, u[i]), [u])
            hessian = zero_out(sympy.diff(model, u[i], u[j]), [u])
            self.define(f"g{l}", (i,), gradient, (d[l],), f"g^{{({l})}}")
            self.define(f"S{l}", (i, j), hessian, (d[l], d[l]), f"S^{{({l})}}")

    def jacobians(self) -> None:
        """J_{k<-l}, A_{k,l} and C_{k,l} for l < k, each one ``sympy.diff`` of a jet.

        With u the perturbation of z_l, to first order:
        z_{k-1} -> z_{k-1} + J_{k-1<-l} u (just u when k - 1 = l),
        a_{k-1} -> a_{k-1} + sigma'(z_{k-1}) (that), z_k -> z_k + W_k (that),
        g_k -> g_k + S_k J_{k<-l} u.
        """
        d = self.widths
        u = IndexedBase("u")
        for l in range(1, self.L):
            for k in range(l + 1, self.L + 1):

                def dz_prev(x):
                    if k - 1 == l:
                        return u[x]
                    r = self.indices.summed("r")
                    return self.base(f"J{k - 1}_{l}")[x, r] * u[r]

                def da_prev(x):
                    return self.base(f"sp{k - 1}")[x] * dz_prev(x)

                i, p = self.indices.free("i"), self.indices.free("p")
                j = self.indices.summed("j")
                dz_k = self.base(f"W{k}")[i, j] * da_prev(j)
                jacobian = zero_out(sympy.diff(dz_k, u[p]), [u])
                self.define(f"J{k}_{l}", (i, p), jacobian, (d[k], d[l]),
                            f"J^{{({k},{l})}}")

                if k - 1 > l:
                    A = zero_out(sympy.diff(da_prev(i), u[p]), [u])
                    self.define(f"A{k}_{l}", (i, p), A, (d[k - 1], d[l]),
                                f"A^{{({k},{l})}}")

                r1, r2 = self.indices.summed("r"), self.indices.summed("r")
                dg_k = self.base(f"S{k}")[i, r1] * self.base(f"J{k}_{l}")[r1, r2] * u[r2]
                C = zero_out(sympy.diff(dg_k, u[p]), [u])
                self.define(f"C{k}_{l}", (i, p), C, (d[k], d[l]), f"C^{{({k},{l})}}")

    def linearization(self, k: int, l: int, du):
        """First-order changes of g_k and a_{k-1} when z_l moves by ``du``, l <= k.

        Written with the named derivatives: dg_k = C_{k,l} du (S_l du when k = l),
        da_{k-1} = A_{k,l} du (sigma'(z_l) du entrywise when k = l + 1, 0 when k = l).
        ``du`` maps an entry index of z_l to that entry's change.
        """

        def dg(x):
            r = self.indices.summed("r")
            name = f"S{l}" if k == l else f"C{k}_{l}"
            return self.base(name)[x, r] * du(r)

        def da(x):
            if k == l:
                return sympy.S.Zero
            if k == l + 1:
                return self.base(f"sp{l}")[x] * du(x)
            r = self.indices.summed("r")
            return self.base(f"A{k}_{l}")[x, r] * du(r)

        return dg, da

    def parameter_groups(self) -> None:
        """The weight and bias of every layer, in the Hessian's parameter order."""
        self.groups = []
        for l in range(1, self.L + 1):
            W = self.tensors[f"W{l}"]
            self.groups.append(Group(f"W{l}", l, W, (Symbol("p", integer=True),
                                                     Symbol("q", integer=True)),
                                     (Symbol("i", integer=True),
                                      Symbol("j", integer=True))))
            if self.spec.bias:
                b = self.tensors[f"b{l}"]
                self.groups.append(Group(f"b{l}", l, b, (Symbol("p", integer=True),),
                                         (Symbol("i", integer=True),)))

    def perturbation(self, group: Group, delta: IndexedBase):
        """The change of z_l when ``group``'s entries change by ``delta``."""
        a_in = self.base(f"a{group.layer - 1}")

        def entry(x):
            if group.name.startswith("W"):
                q = self.indices.summed("q")
                return delta[x, q] * a_in[q]
            return delta[x]
        return entry

    def gradient_entry(self, group: Group) -> Expr:
        """dl/d(group entry) by ``sympy.diff`` of the first-order change of l."""
        V = IndexedBase("V")
        r = self.indices.summed("r")
        change = self.base(f"g{group.layer}")[r] * self.perturbation(group, V)(r)
        entry = V[group.col_indices]
        return contract(zero_out(sympy.diff(change, entry), [V]))

    def derive_blocks(self) -> None:
        """Every block: differentiate one group's gradient along the other's change.

        For groups G (layer l) before G' (layer k >= l): take dl/dG'[entry] =
        expression in g_k and a_{k-1}, move g_k and a_{k-1} to first order in the
        change of z_l that G's perturbation U causes, and differentiate by U.
        """
        U = IndexedBase("U")
        self.group_blocks = {}
        for row_position, row in enumerate(self.groups):
            for col in self.groups[row_position:]:
                l, k = row.layer, col.layer
                dg, da = self.linearization(k, l, self.perturbation(row, U))
                g_k, a_prev = self.base(f"g{k}"), self.base(f"a{k - 1}")

                def moved(e: Indexed) -> Expr:
                    change = dg if e.base == g_k else da
                    return e + change(e.indices[0])

                perturbed = self.gradient_entry(col).replace(
                    lambda e: isinstance(e, Indexed) and e.base in (g_k, a_prev), moved
                )
                block = contract(zero_out(sympy.diff(perturbed, U[row.row_indices]), [U]))
                if row is col and self.penalized(row):
                    block += self.penalty_hessian(row)
                self.group_blocks[(row.name, col.name)] = block

        self.blocks = {
            (l, k): self.group_blocks[(f"W{l}", f"W{k}")]
            for l in range(1, self.L + 1)
            for k in range(l, self.L + 1)
        }

    def derive_gradients(self) -> None:
        """dl/dG per sample for every group, plus the weight decay's lambda G."""
        self.gradients = {}
        for group in self.groups:
            entry = self.gradient_entry(group)
            if self.penalized(group):
                summed = tuple(self.indices.summed("w") for _ in group.row_indices)
                G = group.tensor.base
                penalty = self.weight_decay / 2 * G[summed] ** 2
                entry += contract(sympy.diff(penalty, G[group.col_indices]))
            self.gradients[group.name] = entry

    def penalized(self, group: Group) -> bool:
        return bool(self.spec.weight_decay) and (
            self.spec.weight_decay_scope == "all" or group.name.startswith("W")
        )

    def penalty_hessian(self, group: Group) -> Expr:
        """Hessian entry of the weight decay (lambda / 2) sum G^2, by ``sympy.diff``."""
        summed = tuple(self.indices.summed("w") for _ in group.row_indices)
        G = group.tensor.base
        penalty = self.weight_decay / 2 * G[summed] ** 2
        return contract(sympy.diff(penalty, G[group.row_indices], G[group.col_indices]))

    def derive_hessian_vector_product(self) -> None:
        """(H v)_G = sum over blocks of the block contracted with v's part of the
        other group; a block (A, B) with A before B also acts, transposed, on v_A.

        ``hvp[G]`` is the per-sample entry of (H^n v) for group G, in G's row
        indices; the vector's parts are the parameter-shaped tensors ``v_G``.
        """
        self.vector_tensors = {}
        for group in self.groups:
            tensor = self.tensor(f"v_{group.name}", group.tensor.dims, "vector",
                                 f"v^{{{group.tensor.latex}}}", per_sample=False)
            self.vector_tensors[group.name] = tensor
        self.hvp = {group.name: sympy.S.Zero for group in self.groups}
        by_name = {group.name: group for group in self.groups}
        for (row_name, col_name), block in self.group_blocks.items():
            row, col = by_name[row_name], by_name[col_name]
            v_col = self.vector_tensors[col_name].base
            summed = {x: self.indices.summed("e") for x in col.col_indices}
            self.hvp[row_name] += block.xreplace(summed) * v_col[
                tuple(summed[x] for x in col.col_indices)]
            if row_name != col_name:
                v_row = self.vector_tensors[row_name].base
                summed = {x: self.indices.summed("e") for x in row.row_indices}
                renamed = dict(summed)
                renamed.update(zip(col.col_indices, col.row_indices))
                self.hvp[col_name] += block.xreplace(renamed) * v_row[
                    tuple(summed[x] for x in row.row_indices)]
        inlined = [name for name, t in self.tensors.items() if t.kind == "contraction"
                   and name[0] in "SCJA" and name != f"S{self.L}"]
        self.hvp = {name: contract(self.inline(expr, inlined))
                    for name, expr in self.hvp.items()}

    def inline(self, expr: Expr, names: list[str]) -> Expr:
        """Replace entries of the named tensors by their definitions, recursively.

        A product of an entry with a vector costs less through the factors of the
        entry's definition (for S_l, the rank-K Gauss-Newton part) than through the
        stored d_l x d_l array; einsum then picks the cheap order.
        """
        bases = {self.tensors[n].base.label.name for n in names}

        def expand(entry: Indexed) -> Expr:
            tensor = self.tensors[entry.base.label.name]
            body = rename_apart(tensor.definition, self.indices)
            return body.xreplace(dict(zip(tensor.indices, entry.indices)))

        while True:
            new = expr.replace(
                lambda e: isinstance(e, Indexed) and e.base.label.name in bases, expand
            )
            if new == expr:
                return expr
            expr = new

    # -- traces -----------------------------------------------------------------

    def with_sample(self, expr: Expr, sample: Symbol) -> Expr:
        return add_sample_index(expr, self.tensors, sample)

    def derive_traces(self) -> None:
        r"""tr(H) and tr(H^2) = ||H||_F^2 as sums of products of inner products.

        tr(H) = (1/N) sum_n sum_groups sum_e h^n(e, e);
        tr(H^2) = (1/N^2) sum_{n,m} sum_{G <= G'} w_{GG'} sum_{e,e'} h^n(e,e') h^m(e,e'),
        with w = 1 on the diagonal and 2 off it. Each product is expanded, its deltas
        contracted, and its factors split into connected components: inner products
        of one sample's tensors (outer index n) or Gram entries of two (n, m).
        """
        n, m = Symbol("n", integer=True), Symbol("m", integer=True)
        self.sample_indices = (n, m)
        self.component_table: dict[str, Component] = {}
        self.component_keys: dict[str, str] = {}

        trace_terms: dict[tuple, Expr] = {}
        for group in self.groups:
            block = self.group_blocks[(group.name, group.name)]
            shared = {c: self.indices.summed("e") for c in group.row_indices}
            self.ranges.update(zip(shared.values(), group.tensor.dims))
            diagonal = block.xreplace(shared).xreplace(
                dict(zip(group.col_indices, [shared[r] for r in group.row_indices]))
            )
            entries = contract(self.with_sample(diagonal, n), self.ranges,
                               summed_over=shared.values())
            self.collect(entries, (n,), 1, trace_terms)

        trace_sq_terms: dict[tuple, Expr] = {}
        for (row_name, col_name), block in self.group_blocks.items():
            weight = 1 if row_name == col_name else 2
            row = next(g for g in self.groups if g.name == row_name)
            col = next(g for g in self.groups if g.name == col_name)
            shared = {x: self.indices.summed("e") for x in row.row_indices + col.col_indices}
            self.ranges.update(zip([shared[x] for x in row.row_indices], row.tensor.dims))
            self.ranges.update(zip([shared[x] for x in col.col_indices], col.tensor.dims))
            h_n = self.with_sample(rename_apart(block, self.indices).xreplace(shared), n)
            h_m = self.with_sample(rename_apart(block, self.indices).xreplace(shared), m)
            self.collect(contract(h_n * h_m, self.ranges), (n, m), weight, trace_sq_terms)

        self.trace_terms = [Term(c, k) for k, c in trace_terms.items() if c != 0]
        self.trace_sq_terms = [Term(c, k) for k, c in trace_sq_terms.items() if c != 0]

        N = Symbol("N", integer=True, positive=True)
        self.n_samples = N
        self.trace = sympy.Sum(self.term_sum(self.trace_terms), (n, 0, N - 1)) / N
        self.trace_sq = sympy.Sum(
            self.term_sum(self.trace_sq_terms), (n, 0, N - 1), (m, 0, N - 1)
        ) / N**2

    def collect(self, expr: Expr, outer: tuple, weight: int, terms: dict) -> None:
        """Split each monomial into components and add it to ``terms``."""
        for monomial in sympy.Add.make_args(sympy.expand(expr)):
            coefficient, factors = factors_of(monomial)
            names = []
            for group in components(factors, set(outer)):
                names.append(self.component(group, outer))
            key = tuple(sorted(names))
            terms[key] = terms.get(key, sympy.S.Zero) + weight * coefficient

    def component(self, factors: list, outer: tuple) -> str:
        key, renamed = canonical(factors, list(outer))
        if key not in self.component_keys:
            name = f"K{len(self.component_keys) + 1}"
            present = tuple(o for o in outer if any(
                o in (f.indices if isinstance(f, Indexed) else f.args) for f in renamed))
            self.component_keys[key] = name
            self.component_table[name] = Component(name, renamed, present)
        return self.component_keys[key]

    def term_sum(self, terms: list[Term]) -> Expr:
        """The terms as one expression, each component an explicit finite sum."""
        total = sympy.S.Zero
        for term in terms:
            product = term.coefficient
            for name in term.components:
                product *= self.explicit(self.component_table[name])
            total += product
        return total

    def explicit(self, component: Component) -> Expr:
        """A component as ``sympy.Sum`` over its inner indices, with their ranges."""
        expression = component.expression
        limits = []
        for index in sorted(expression.atoms(Summed), key=lambda s: s.name):
            dim = self.dim_of(index, component.factors)
            limits.append((index, 0, dim - 1))
        return sympy.Sum(expression, *limits) if limits else expression

    def dim_of(self, index: Symbol, factors: list) -> Expr:
        """The range of an index, read from the axis of a tensor it indexes."""
        for factor in factors:
            if isinstance(factor, Indexed) and index in factor.indices:
                name = factor.base.label.name
                tensor = self.tensors[name]
                offset = 1 if tensor.per_sample and len(factor.indices) > len(tensor.dims) else 0
                return tensor.dims[list(factor.indices).index(index) - offset]
        raise ValueError(f"index {index} has no tensor axis")

    # -- bounds -----------------------------------------------------------------

    def derive_bounds(self) -> None:
        r"""Wolkowicz-Styan (1980): with m = tr(H)/P, s^2 = tr(H^2)/P - m^2,
        m + s/sqrt(P-1) <= lambda_max <= m + s sqrt(P-1) and
        m - s sqrt(P-1) <= lambda_min <= m - s/sqrt(P-1); Mirsky (1956):
        lambda_max - lambda_min <= s sqrt(2P)."""
        T1 = Symbol("trace_h", real=True)
        T2 = Symbol("trace_h2", nonnegative=True)
        P = Symbol("P", integer=True, positive=True)
        mean = T1 / P
        spread = sqrt(sympy.Max(T2 / P - mean**2, 0))
        self.trace_symbol, self.trace_sq_symbol, self.n_params_symbol = T1, T2, P
        self.bounds = {
            "mean": mean,
            "spread": spread,
            "lambda_max_upper": mean + spread * sqrt(P - 1),
            "lambda_max_lower": mean + spread / sqrt(P - 1),
            "lambda_min_lower": mean - spread * sqrt(P - 1),
            "lambda_min_upper": mean - spread / sqrt(P - 1),
            "spectral_range_upper": spread * sqrt(2 * P),
            "frobenius_upper": sqrt(T2),
        }
        self.n_params = sympy.Add(*[sympy.Mul(*g.tensor.dims) for g in self.groups])

    def result(self) -> Derivation:
        return Derivation(
            spec=self.spec,
            sigma=self.sigma,
            sigma_d1=self.sigma_d1,
            sigma_d2=self.sigma_d2,
            loss=self.loss,
            widths=self.widths,
            tensors=self.tensors,
            groups=self.groups,
            group_blocks=self.group_blocks,
            blocks=self.blocks,
            trace_terms=self.trace_terms,
            trace_sq_terms=self.trace_sq_terms,
            components=self.component_table,
            trace=self.trace,
            trace_sq=self.trace_sq,
            bounds=self.bounds,
            n_params=self.n_params,
            n_samples=self.n_samples,
            sample_indices=self.sample_indices,
            trace_symbol=self.trace_symbol,
            trace_sq_symbol=self.trace_sq_symbol,
            n_params_symbol=self.n_params_symbol,
            report=self.report,
            hvp=self.hvp,
            gradients=self.gradients,
            weight_decay_symbol=self.weight_decay,
        )


def add_sample_index(expr: Expr, tensors: dict, sample: Symbol) -> Expr:
    """Put the sample index in front of every per-sample tensor entry of ``expr``.

    The per-sample scalar s (the target mass) becomes the entry s[sample].
    """
    expr = expr.replace(
        lambda e: isinstance(e, Indexed)
        and e.base.label.name in tensors
        and tensors[e.base.label.name].per_sample,
        lambda e: IndexedBase(e.base.label)[(sample,) + tuple(e.indices)],
    )
    return expr.xreplace({Symbol("s"): IndexedBase("s")[sample]})


def derive(spec: Spec | str) -> Derivation:
    """Derive blocks, traces and bounds for a spec object or a spec file path."""
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    return Engine(spec).run()
