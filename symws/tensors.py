"""A thin index-notation layer on SymPy: summed indices, Kronecker deltas, monomials.

Per-sample tensors are ``sympy.IndexedBase`` objects. An index of class ``Summed``
is summed over its range wherever it appears (Einstein's convention, made explicit
by the class rather than by position), so a product such as ``W[r, j] * g[r]``
stands for sum_r W[r, j] g[r]. Differentiating with ``sympy.diff`` with respect to
an ``Indexed`` entry produces ``KroneckerDelta`` factors; ``contract`` removes every
delta that touches a summed index, which is the whole of the index calculus the
engine needs.

Every function here is deterministic: sets of SymPy objects are sorted with
``default_sort_key`` before they are walked, so generated code does not depend on
Python's hash seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import sympy
from sympy import Add, Expr, Indexed, IndexedBase, KroneckerDelta, Mul, Pow, Symbol
from sympy.core.sorting import default_sort_key


class Summed(Symbol):
    """An index that is summed over its range wherever it occurs."""


class IndexFactory:
    """Hands out fresh summed indices with readable, deterministic names."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)

    def summed(self, letter: str = "r") -> Summed:
        return Summed(f"{letter}{next(self.counter)}", integer=True)

    def free(self, name: str) -> Symbol:
        return Symbol(name, integer=True)


def sorted_atoms(expr: Expr, *types) -> list:
    return sorted(expr.atoms(*types), key=default_sort_key)


def summed_indices(expr: Expr) -> list[Summed]:
    return sorted_atoms(expr, Summed)


def zero_out(expr: Expr, bases: Iterable[IndexedBase]) -> Expr:
    """Set every entry of the given (perturbation) tensors to zero."""
    bases = set(bases)
    return expr.replace(
        lambda e: isinstance(e, Indexed) and e.base in bases, lambda e: sympy.S.Zero
    )


def contract(expr: Expr, ranges: dict | None = None, summed_over=()) -> Expr:
    """Expand and remove each Kronecker delta that touches a summed index.

    sum_j delta(i, j) T[j] = T[i]: the summed index is renamed to the other one and
    the delta dropped. Deltas between two free indices stay. A summed index that
    no factor carries any more (sum_j delta(j, j) = d) becomes its range, taken
    from ``ranges`` (index -> width); without an entry there this is an error.
    ``summed_over`` names indices the whole expression is summed over even where
    a term lost them already (SymPy evaluates delta(e, e) to 1 on substitution).
    """
    terms = []
    for term in Add.make_args(sympy.expand(expr)):
        before = set(term.atoms(Summed)) | set(summed_over)
        merged = set()
        while True:
            deltas = [
                d
                for d in sorted_atoms(term, KroneckerDelta)
                if any(isinstance(a, Summed) for a in d.args)
            ]
            if not deltas:
                break
            delta = deltas[0]
            first, second = delta.args
            gone, kept = (first, second) if isinstance(first, Summed) else (second, first)
            merged.add(gone)
            term = term.xreplace({delta: sympy.S.One}).xreplace({gone: kept})
        for index in sorted(before - merged - term.atoms(Summed), key=default_sort_key):
            if ranges is None or index not in ranges:
                raise ValueError(f"summed index {index} carries no factor and no range")
            term *= ranges[index]
        terms.append(term)
    return Add(*terms)


def canonical_monomial(term: Expr, symmetric: set[str]) -> Expr:
    """Rename the summed indices of a monomial into a standard order.

    Tries every assignment of the monomial's summed-index names (at most 6 of
    them) and, for tensors known to be symmetric (``symmetric`` holds their base
    names), both orders of their two indices; keeps the smallest printed form.
    Equal contractions written with different index names thus become equal
    monomials, which SymPy then adds up.
    """
    names = summed_indices(term)
    if not names or len(names) > 6:
        return term

    def sort_symmetric(expr: Expr) -> Expr:
        return expr.replace(
            lambda e: isinstance(e, Indexed) and e.base.label.name in symmetric
            and len(e.indices) == 2,
            lambda e: e.base[tuple(sorted(e.indices, key=default_sort_key))],
        )

    best, best_key = term, None
    for order in itertools.permutations(names):
        candidate = sort_symmetric(term.xreplace(dict(zip(names, order))))
        key = str(candidate)
        if best_key is None or key < best_key:
            best, best_key = candidate, key
    return best


def rename_apart(expr: Expr, indices: IndexFactory) -> Expr:
    """Give every summed index of ``expr`` a fresh name (before multiplying copies)."""
    mapping = {old: indices.summed(old.name.rstrip("0123456789")) for old in
               summed_indices(expr)}
    return expr.xreplace(mapping)


def factors_of(term: Expr) -> tuple[Expr, list[Expr]]:
    """Split a monomial into its numeric-and-scalar coefficient and tensor factors.

    Powers of tensor entries are unrolled (``a[q]**2`` becomes two factors), so each
    factor is an ``Indexed`` or a ``KroneckerDelta``.
    """
    coefficient = sympy.S.One
    factors: list[Expr] = []
    for factor in Mul.make_args(term):
        base, power = (factor.base, factor.exp) if isinstance(factor, Pow) else (factor, 1)
        if isinstance(base, (Indexed, KroneckerDelta)):
            if not (isinstance(power, int) or power.is_Integer) or power < 1:
                raise NotImplementedError(f"tensor entry to the power {power}: {term}")
            factors.extend([base] * int(power))
        else:
            coefficient *= factor
    return coefficient, factors


def indices_of(factor: Expr) -> tuple:
    if isinstance(factor, Indexed):
        return factor.indices
    return factor.args


def components(factors: list[Expr], outer: set[Symbol]) -> list[list[Expr]]:
    """Group the factors of a monomial into connected components.

    Two factors are connected when they share an index that is not in ``outer``
    (the sample indices). A product of components is how a pair sum of tr(H^2)
    factors into inner products and Gram matrices.
    """
    remaining = list(range(len(factors)))
    groups = []
    while remaining:
        group = [remaining.pop(0)]
        frontier = list(group)
        while frontier:
            current = frontier.pop()
            shared = set(indices_of(factors[current])) - outer
            for other in list(remaining):
                if shared & set(indices_of(factors[other])):
                    remaining.remove(other)
                    group.append(other)
                    frontier.append(other)
        groups.append([factors[i] for i in sorted(group)])
    return groups


def canonical(factors: list[Expr], outer: list[Symbol]) -> tuple[str, list[Expr]]:
    """A key equal for equal contractions, and the factors with indices renamed.

    Factors are sorted by base name and the position of the outer indices, and the
    inner indices renamed in order of appearance, so c(n, m) = a[n, q] a[m, q]
    found in two monomials under different index names gets one key.
    """

    def shape(factor: Expr) -> tuple:
        name = str(factor.base) if isinstance(factor, Indexed) else "delta"
        marks = tuple(
            outer.index(i) if i in outer else -1 for i in indices_of(factor)
        )
        return (name, marks)

    ordered = sorted(factors, key=lambda f: (shape(f), default_sort_key(f)))
    mapping: dict = {}
    for factor in ordered:
        for index in indices_of(factor):
            if index not in outer and index not in mapping:
                mapping[index] = Summed(f"k{len(mapping)}", integer=True)
    renamed = [f.xreplace(mapping) for f in ordered]
    return str(renamed), renamed
