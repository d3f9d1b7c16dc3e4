"""Loading weights and data for the command line: .npz archives without pickles,
or PyTorch state dicts loaded with weights_only.

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
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{what} file {path} is not an .npz archive (save it with "
                         "numpy.savez)")
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


def load_state_dict(path: Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """[(W, b), ...] from a PyTorch state dict of an nn.Sequential (.pt/.pth).

    Loaded with ``weights_only=True``: tensors and plain containers, no code.
    Keys look like "0.weight", "0.bias", "2.weight", ...; layers are taken in the
    order of their module index.
    """
    try:
        import torch
    except ImportError:
        raise ValueError(f"{path}: reading .pt files needs PyTorch (pip install torch)") \
            from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"weights file {path} is not a loadable PyTorch state dict "
                         f"({type(error).__name__})") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()
    ):
        raise ValueError(f"weights file {path} is not a state dict of tensors")
    layers: dict[int, dict[str, np.ndarray]] = {}
    for key, tensor in state.items():
        match = re.fullmatch(r"(?:.*\.)?(\d+)\.(weight|bias)", key)
        if not match:
            raise ValueError(f"weights file {path}: unexpected entry {key!r} "
                             "(expected <index>.weight and <index>.bias)")
        layers.setdefault(int(match[1]), {})[match[2]] = (
            tensor.detach().to(torch.float64).numpy())
    params = []
    for index in sorted(layers):
        if "weight" not in layers[index]:
            raise ValueError(f"weights file {path}: layer {index} has a bias but no weight")
        params.append((layers[index]["weight"], layers[index].get("bias")))
    if not params:
        raise ValueError(f"weights file {path} holds no layers")
    if len({b is None for _, b in params}) > 1:
        raise ValueError(f"weights file {path}: biases must be given for every layer or none")
    return params


def load_weights(path: str | Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """[(W1, b1), ...] from weights.npz (or a PyTorch state dict .pt/.pth); b_l is
    None when the file has no biases.

    Raises:
        ValueError: no W1, a gap in the layer numbers, unknown keys, or biases for
            some layers only.
    """
    if Path(path).suffix in (".pt", ".pth"):
        if not Path(path).is_file():
            raise ValueError(f"weights file not found: {path}")
        return load_state_dict(Path(path))
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
