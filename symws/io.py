"""Loading weights and data for the command line: .npz archives, never pickles.

weights.npz holds W1, b1, W2, b2, ... (W_l of shape (d_l, d_{l-1})); biases are
all present or all absent. data.npz holds X (N, d_0) and either y (N,) integer
labels or Y (N, K) target rows. Shapes and values are checked by the evaluator.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np


def open_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, loaded without pickles.

    Raises:
        ValueError: missing file, not an .npz archive, or an object (pickled) array.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{what} file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{what} file {path} is a folder, not an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, "files"):
                raise ValueError(f"{what} file {path} holds one array, not an .npz archive")
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "pickle" in str(error).lower() or "object" in str(error).lower():
            raise ValueError(
                f"{what} file {path} holds object arrays, which would need pickle; "
                "save plain numeric arrays"
            ) from None
        if str(error).startswith(what):
            raise
        raise ValueError(f"{what} file {path} is not a valid .npz archive: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{what} file {path} is not a valid .npz archive ({error})") from None


def load_weights(path: str | Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """[(W1, b1), ...] from weights.npz; b_l is None when the archive has no biases.

    Raises:
        ValueError: no W1, a gap in the layer numbers, unknown keys, or biases for
            some layers only.
    """
    arrays = open_npz(path, "weights")
    unknown = sorted(k for k in arrays if not re.fullmatch(r"[Wb][1-9][0-9]*", k))
    if unknown:
        raise ValueError(
            f"weights file {path}: unexpected array(s) {', '.join(unknown)} "
            "(expected W1, b1, W2, b2, ...)"
        )
    layers = sorted(int(k[1:]) for k in arrays if k.startswith("W"))
    if not layers:
        raise ValueError(f"weights file {path} has no W1")
    if layers != list(range(1, len(layers) + 1)):
        raise ValueError(f"weights file {path}: layers must be W1..W{len(layers)} with no gap")
    biases = sorted(int(k[1:]) for k in arrays if k.startswith("b"))
    if biases and biases != layers:
        raise ValueError(
            f"weights file {path}: biases must be given for every layer or for none "
            f"(found b{', b'.join(map(str, biases))})"
        )
    return [(arrays[f"W{l}"], arrays.get(f"b{l}")) for l in layers]


def load_data(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(X, y or Y) from data.npz.

    Raises:
        ValueError: no X, neither or both of y and Y, or unknown keys.
    """
    arrays = open_npz(path, "data")
    unknown = sorted(set(arrays) - {"X", "y", "Y"})
    if unknown:
        raise ValueError(f"data file {path}: unexpected array(s) {', '.join(unknown)}")
    if "X" not in arrays:
        raise ValueError(f"data file {path} has no X")
    if ("y" in arrays) == ("Y" in arrays):
        raise ValueError(f"data file {path} must hold exactly one of y (labels) or Y (targets)")
    return arrays["X"], arrays["y"] if "y" in arrays else arrays["Y"]
