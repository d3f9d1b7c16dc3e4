"""The symbolic derivation against the closed forms of MATH.md (sections 2-5)."""

from __future__ import annotations

import sympy
from sympy import IndexedBase, KroneckerDelta, Symbol

import symws
from symws.spec import Spec

i, j, p, q = (Symbol(name, integer=True) for name in "ijpq")


def T(name):
    return IndexedBase(name)


def plain(expr):
    """Tensor entries by name alone (the engine's bases also carry shapes)."""
    return expr.replace(
        lambda e: isinstance(e, sympy.Indexed),
        lambda e: IndexedBase(e.base.label.name)[e.indices],
    )


def same(a, b) -> bool:
    return sympy.expand(plain(a) - plain(b)) == 0


def test_output_layer_is_softmax_gradient_and_hessian():
    d = symws.derive(Spec("x", 1, "tanh"))
    s = Symbol("s")
    assert same(d.tensors["g1"].definition, s * T("p")[i] - T("y")[i])
    assert same(d.tensors["S1"].definition,
                s * (KroneckerDelta(i, j) * T("p")[i] - T("p")[i] * T("p")[j]))


def test_depth_two_blocks_match_math_md():
    """Diagonal blocks are Kronecker products; the off-diagonal one carries the
    residual term g_k A_{k,l} with A_{2,1} = diag(sigma'(z_1))."""
    d = symws.derive(Spec("x", 2, "tanh", bias=False))
    a0, a1, S1, S2, C, g2, sp1 = (T(n) for n in ("a0", "a1", "S1", "S2", "C2_1", "g2",
                                                 "sp1"))
    assert same(d.blocks[(1, 1)], a0[q] * S1[i, p] * a0[j])
    assert same(d.blocks[(2, 2)], a1[q] * S2[i, p] * a1[j])
    assert same(d.blocks[(1, 2)],
                a0[q] * (C[i, p] * a1[j] + g2[i] * sp1[j] * KroneckerDelta(j, p)))


def test_depth_three_residual_uses_the_named_jacobian():
    d = symws.derive(Spec("x", 3, "sigmoid", bias=True))
    a0, a2, C, g3, A = (T(n) for n in ("a0", "a2", "C3_1", "g3", "A3_1"))
    assert same(d.blocks[(1, 3)], a0[q] * (C[i, p] * a2[j] + g3[i] * A[j, p]))
    assert same(d.group_blocks[("b1", "b3")], C[i, p])


def test_backward_recursion_matches_math_md():
    d = symws.derive(Spec("x", 2, "softplus", bias=True))
    W2, g2, S2, sp1, spp1 = (T(n) for n in ("W2", "g2", "S2", "sp1", "spp1"))
    r, t = Symbol("r", integer=True), Symbol("t", integer=True)

    def with_summed(expr, names):
        return expr.xreplace(dict(zip(sorted(expr.atoms(symws.tensors.Summed),
                                             key=str), names)))

    g1 = d.tensors["g1"].definition
    assert same(with_summed(g1, [r]), sp1[i] * W2[r, i] * g2[r])
    S1 = with_summed(d.tensors["S1"].definition, [r, t])
    expected = (sp1[i] * W2[r, i] * S2[r, t] * W2[t, j] * sp1[j]
                + KroneckerDelta(i, j) * spp1[i] * W2[r, i] * g2[r])
    assert same(S1.xreplace({S2[t, r]: S2[r, t]}), expected) or same(
        S1.xreplace({r: t, t: r}), expected)


def test_activation_derivatives_come_from_sympy():
    d = symws.derive(Spec("x", 2, "z + z**3/10"))
    z = symws.activations.z
    assert same(d.sigma_d1, 1 + 3 * z**2 / 10)
    assert same(d.sigma_d2, 3 * z / 5)


def test_traces_factor_through_the_gram_matrix_of_the_inputs():
    d = symws.derive(Spec("x", 2, "tanh", bias=False))
    n, m = d.sample_indices
    grams = [c for c in d.components.values()
             if len(c.factors) == 2 and {f.base.label.name for f in c.factors} == {"a0"}
             and c.outer == (n, m)]
    assert len(grams) == 1
    users = [t for t in d.trace_sq_terms if grams[0].name in t.components]
    assert users, "no term of tr(H^2) carries x_n . x_m"


def test_bounds_are_the_wolkowicz_styan_expressions():
    d = symws.derive(Spec("x", 1, "tanh"))
    T1, T2, P = d.trace_symbol, d.trace_sq_symbol, d.n_params_symbol
    values = {T1: 3, T2: 5, P: 10}
    m = sympy.Rational(3, 10)
    s = sympy.sqrt(sympy.Rational(5, 10) - m**2)
    assert sympy.simplify(d.bounds["lambda_max_upper"].subs(values) - (m + s * 3)) == 0
    assert sympy.simplify(d.bounds["lambda_min_upper"].subs(values) - (m - s / 3)) == 0
    widths = d.widths
    assert same(d.n_params, widths[1] * widths[0] + widths[1])


def test_report_has_a_row_per_stage():
    d = symws.derive(Spec("x", 2, "tanh"))
    text = repr(d.report)
    for stage in ("activation", "loss", "backward", "blocks", "traces", "bounds"):
        assert stage in text


def test_latex_uses_the_document_notation():
    d = symws.derive(Spec("x", 2, "tanh"))
    text = d.latex(d.blocks[(1, 2)])
    assert "C^{(2,1)}" in text and "g^{(2)}" in text and "C2_1" not in text
    assert r"\operatorname{tr}(H^2)" in d.latex(d.bounds["lambda_max_upper"])
