"""Write (or check) generated/ from derivations/: one .py and one .tex per spec.

Files are written through a temporary file in the same folder and renamed into
place, and only after every spec has been derived and rendered, so a failed
derivation leaves generated/ as it was.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import symws
from symws.codegen import render_module
from symws.engine import Derivation, derive
from symws.latex import render_latex
from symws.spec import Spec, load_spec


@dataclass
class Rendered:
    """The outputs of one spec: file name -> text, with the derivation behind them."""

    spec: Spec
    derivation: Derivation
    files: dict[str, str]
    seconds: float


def project_root() -> Path:
    """The folder holding derivations/ and generated/.

    The current directory when it has a derivations/ folder, else the checkout the
    package was installed from (editable installs).
    """
    here = Path.cwd()
    if (here / "derivations").is_dir():
        return here
    return Path(symws.__file__).resolve().parent.parent


def spec_paths(root: Path) -> list[Path]:
    folder = root / "derivations"
    if not folder.is_dir():
        raise ValueError(f"no derivations/ folder under {root}")
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise ValueError(f"no *.toml specs in {folder}")
    return paths


def render(spec: Spec, spec_path: str = "") -> Rendered:
    """Derive one spec and render its module and LaTeX document."""
    start = time.perf_counter()
    derivation = derive(spec)
    files = {
        f"{spec.name}.py": render_module(derivation, spec_path),
        f"{spec.name}.tex": render_latex(derivation),
    }
    return Rendered(spec, derivation, files, time.perf_counter() - start)


def render_all(root: Path, progress=None) -> list[Rendered]:
    """Every spec under root/derivations, rendered in memory.

    Raises:
        ValueError: a spec is malformed, or two specs share a name.
    """
    results, seen = [], {}
    for path in spec_paths(root):
        spec = load_spec(path)
        if spec.name in seen:
            raise ValueError(f"{path}: name {spec.name!r} already used by {seen[spec.name]}")
        if path.stem != spec.name:
            raise ValueError(f"{path}: file name must be the spec name ({spec.name}.toml)")
        seen[spec.name] = path
        result = render(spec, f"derivations/{path.name}")
        results.append(result)
        if progress:
            progress(result)
    return results


def stale_files(root: Path, results: list[Rendered]) -> list[str]:
    """Files of generated/ that differ from, lack, or are not produced by the specs."""
    folder = root / "generated"
    expected = {name: text for r in results for name, text in r.files.items()}
    stale = []
    for name, text in sorted(expected.items()):
        path = folder / name
        if not path.exists():
            stale.append(f"generated/{name} (missing)")
        elif path.read_text(encoding="utf-8") != text:
            stale.append(f"generated/{name} (differs from its spec)")
    for path in sorted(folder.glob("*.py")) + sorted(folder.glob("*.tex")):
        if path.name != "__init__.py" and path.name not in expected:
            stale.append(f"generated/{path.name} (no spec produces it)")
    return stale


def write_all(files: dict[Path, str]) -> list[Path]:
    """Write every file or none: each goes to a temporary file beside its target
    first, and the renames happen only when all were written.

    Raises:
        ValueError: a target is a folder or its folder cannot be written.
    """
    for path in files:
        if path.is_dir():
            raise ValueError(f"cannot write {path}: it is a folder")
    umask = os.umask(0)
    os.umask(umask)
    temporaries = {}
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            temporaries[path] = temporary
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.chmod(temporary, 0o666 & ~umask)
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    except OSError as error:
        raise ValueError(f"cannot write {error.filename}: {error.strerror}") from None
    finally:
        for temporary in temporaries.values():
            if os.path.exists(temporary):
                os.unlink(temporary)
    return list(files)


def write_outputs(results: list[Rendered], folder: Path) -> list[Path]:
    """Write the files that changed, all or none."""
    changed = {}
    for result in results:
        for name, text in result.files.items():
            path = folder / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                changed[path] = text
    return write_all(changed)


def remove_orphans(root: Path, results: list[Rendered]) -> list[Path]:
    """Delete generated files that no spec produces any more."""
    expected = {name for r in results for name in r.files}
    removed = []
    folder = root / "generated"
    for path in sorted(folder.glob("*.py")) + sorted(folder.glob("*.tex")):
        if path.name != "__init__.py" and path.name not in expected:
            path.unlink()
            removed.append(path)
    return removed
