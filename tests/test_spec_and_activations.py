"""Specs and activations: parsing, refusal of bad input, SymPy-derived derivatives."""

from __future__ import annotations

import pytest
import sympy

from symws.activations import (
    REGISTERED, derivatives, parse_activation, sigmoid, softplus, stable_form, z,
)
from symws.spec import Spec, load_spec


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_registered_activations_parse_and_differentiate(name):
    sigma, first, second = derivatives(name)
    plain = parse_activation(name)
    for point in map(sympy.Rational, ("-2.3", "-0.4", "0", "0.9", "3.1")):
        for mine, theirs in ((sigma, plain), (first, sympy.diff(plain, z)),
                             (second, sympy.diff(plain, z, 2))):
            value = mine.rewrite(sympy.exp).subs(z, point).evalf(30)
            expected = theirs.subs(z, point).evalf(30)
            assert abs(value - expected) < 1e-25


def test_stable_primitives_have_the_derivatives_of_their_exponential_forms():
    x = sympy.Symbol("x", real=True)
    for function in (sigmoid, softplus):
        plain = function(x).rewrite(sympy.exp)
        difference = sympy.diff(function(x), x).rewrite(sympy.exp) - sympy.diff(plain, x)
        assert sympy.simplify(difference) == 0


def test_user_expression_is_rewritten_into_stable_primitives():
    assert stable_form(parse_activation("z*tanh(log(1 + exp(z)))")) == z * sympy.tanh(
        softplus(z)
    )
    assert stable_form(parse_activation("z/(1 + exp(-z))")) == z * sigmoid(z)


@pytest.mark.parametrize("text, words", [
    ("relu", "kink"),
    ("ReLU", "kink"),
    ("elu", "not smooth"),
    ("Max(z, 0)", "Max"),
    ("abs(z)", "Abs"),
    ("sign(z)*z**2", "sign"),
    ("Heaviside(z)", "Heaviside"),
    ("Piecewise((z, z > 0), (0, True))", "Piecewise"),
    ("sqrt(z)", "not smooth"),
    ("log(z)", "not smooth"),
    ("swish2", "unknown activation"),
    ("z + w", "symbol"),
    ("z**", "not a valid"),
    ("3", "does not depend"),
    ("", "non-empty"),
])
def test_bad_activations_are_refused(text, words):
    with pytest.raises(ValueError, match="(?i)" + words):
        parse_activation(text)


def test_spec_file_round_trip(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\ndepth = 3\nactivation = "gelu"\nbias = false\n')
    spec = load_spec(path)
    assert (spec.name, spec.depth, spec.activation, spec.bias) == ("s", 3, "gelu", False)
    assert spec.loss == "softmax_cross_entropy"


@pytest.mark.parametrize("text, words", [
    ("name = ", "not valid toml"),
    ('depth = 2\nactivation = "tanh"', "missing field 'name'"),
    ('name = "a"\nactivation = "tanh"', "missing field 'depth'"),
    ('name = "a"\ndepth = "2"\nactivation = "tanh"', "depth"),
    ('name = "a"\ndepth = true\nactivation = "tanh"', "depth"),
    ('name = "a"\ndepth = 0\nactivation = "tanh"', "between 1 and"),
    ('name = "a-b"\ndepth = 1\nactivation = "tanh"', "identifier"),
    ('name = "class"\ndepth = 1\nactivation = "tanh"', "keyword"),
    ('name = "a"\ndepth = 1\nactivation = "tanh"\nloss = "hinge"', "unknown loss"),
    ('name = "a"\ndepth = 1\nactivation = "tanh"\nbias = "yes"', "bias"),
    ('name = "a"\ndepth = 1\nactivation = "tanh"\nwidth = 3', "unknown field"),
    ('name = "a"\ndepth = 1\nactivation = "relu"', "smooth"),
])
def test_malformed_specs_are_refused(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="(?i)" + words.replace("(", r"\(")):
        load_spec(path)


def test_spec_objects_validate_too():
    with pytest.raises(ValueError, match="depth"):
        Spec("x", 0, "tanh")
