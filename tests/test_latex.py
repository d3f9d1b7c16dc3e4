"""The LaTeX derivation documents: they compile, fit the page and match generated/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import symws.latex
from symws.cli import main
from symws.engine import derive
from symws.latex import Term, render_latex, rows, width
from symws.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = {path.stem: path for path in sorted((ROOT / "derivations").glob("*.toml"))}
OVERFULL = re.compile(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)")
TOLERANCE_PT = 10.0


@pytest.fixture(scope="module")
def derivations():
    return {name: derive(load_spec(path)) for name, path in SPECS.items()}


@pytest.fixture(autouse=True)
def in_checkout(monkeypatch):
    """The command finds derivations/ from the current folder."""
    monkeypatch.chdir(ROOT)


def pdflatex() -> str:
    """The pdflatex executable; without it the test fails on CI and skips elsewhere."""
    path = shutil.which("pdflatex")
    if path is None:
        message = "pdflatex not found: install a TeX distribution"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.mark.parametrize("name", sorted(SPECS))
def test_document_compiles_and_fits_the_page(name, derivations, tmp_path):
    source = tmp_path / f"{name}.tex"
    source.write_text(render_latex(derivations[name]), encoding="utf-8")
    result = subprocess.run(
        [pdflatex(), "-interaction=nonstopmode", "-halt-on-error", source.name],
        cwd=tmp_path, capture_output=True, text=True, errors="replace", timeout=120,
    )
    log = source.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert result.returncode == 0 and not errors, errors or result.stdout[-2000:]
    assert source.with_suffix(".pdf").exists()
    too_wide = [float(w) for w in OVERFULL.findall(log) if float(w) > TOLERANCE_PT]
    assert not too_wide, f"{name}: overfull lines of {too_wide} pt"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_generated_document_is_current(name, derivations):
    written = (ROOT / "generated" / f"{name}.tex").read_text(encoding="utf-8")
    assert written == render_latex(derivations[name]), "run `symws regenerate`"


def test_snippet_has_the_equations_without_preamble(capsys):
    assert main(["latex", "three_layer_tanh", "--snippet"]) == 0
    out = capsys.readouterr().out
    assert "\\documentclass" not in out and "\\section" not in out
    assert out.count("\\begin{align*}") == out.count("\\end{align*}") >= 5
    for formula in ("\\operatorname{tr}(H)", "\\operatorname{tr}(H^2)",
                    "\\lambda_{\\max}", "W^{(1)}_{pq}", "X X^{T}"):
        assert formula in out


def test_full_document_is_printed_by_default(capsys):
    assert main(["latex", "three_layer_sigmoid"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("%") and "\\documentclass" in out
    assert out.rstrip().endswith("\\end{document}")


def test_unknown_name_exits_2_naming_the_known_ones(capsys):
    assert main(["latex", "nope"]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "three_layer_tanh" in err and "deep_softplus" in err


def test_pdf_is_written_to_the_out_folder(tmp_path, capsys):
    pdflatex()
    out = tmp_path / "pdfs"
    assert main(["latex", "three_layer_tanh", "--pdf", "--out", str(out)]) == 0
    assert (out / "three_layer_tanh.pdf").read_bytes().startswith(b"%PDF")


def test_missing_pdflatex_is_reported(monkeypatch, capsys):
    monkeypatch.setattr(symws.latex.shutil, "which", lambda name: None)
    assert main(["latex", "three_layer_tanh", "--pdf"]) == 2
    assert "pdflatex not found" in capsys.readouterr().err


def test_long_sums_are_broken_between_terms():
    terms = [Term(k % 3 == 0, f"K_{{{k}}}(n,m) c_{{1}}(n,m)") for k in range(40)]
    lines = rows("\\Phi_{0}(n,m)", terms).split("\\\\\n")
    assert len(lines) > 3
    budget = symws.latex.LINE_BUDGET
    assert all(width(line.replace("&", "")) <= budget for line in lines)
    assert sum(line.count("K_{") for line in lines) == 40
