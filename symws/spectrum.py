"""The exact extreme eigenvalues of the Hessian, to compare the bounds with.

Small networks: the dense Hessian and ``numpy.linalg.eigvalsh``. Larger ones:
Lanczos (``scipy.sparse.linalg.eigsh``) on the generated Hessian-vector product,
which never forms H; a progress bar counts the products on a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DENSE_LIMIT = 3000


@dataclass(frozen=True)
class Spectrum:
    """lambda_min and lambda_max of H and how they were obtained."""

    lambda_min: float
    lambda_max: float
    method: str
    products: int = 0


def extreme_eigenvalues(module, params, X, Y, method: str = "auto",
                        tolerance: float = 1e-10, progress: bool | None = None,
                        seed: int = 0) -> Spectrum:
    """Largest and smallest eigenvalue of the Hessian of the mean loss.

    Args:
        module: a generated evaluator.
        params, X, Y: as for the evaluator.
        method: "dense", "lanczos", or "auto" (dense up to DENSE_LIMIT parameters).
        tolerance: relative accuracy asked of Lanczos.
        progress: show a progress bar; None shows it on a terminal only.
        seed: seed of Lanczos' starting vector.

    Raises:
        ValueError: unknown method, or "dense" for P beyond the module's limit.
    """
    params, X, Y = module.check_inputs(params, X, Y)
    size = module.n_params(params)
    if method not in ("auto", "dense", "lanczos"):
        raise ValueError(f"method must be auto, dense or lanczos, got {method!r}")
    if method == "auto":
        method = "dense" if size <= DENSE_LIMIT else "lanczos"

    if method == "dense" or size < 3:
        eigenvalues = np.linalg.eigvalsh(module.hessian(params, X, Y))
        return Spectrum(float(eigenvalues[0]), float(eigenvalues[-1]), "dense")

    from scipy.sparse.linalg import LinearOperator, eigsh
    from tqdm.auto import tqdm

    bar = tqdm(desc="Lanczos H v products", unit="Hv",
               disable=None if progress is None else not progress)
    count = [0]
    apply = module.hvp_operator(params, X, Y)

    def product(vector: np.ndarray) -> np.ndarray:
        count[0] += 1
        bar.update(1)
        return apply(np.asarray(vector, dtype=float).ravel())

    operator = LinearOperator((size, size), matvec=product, dtype=float)
    start = np.random.default_rng(seed).normal(size=size)
    try:
        high = eigsh(operator, k=1, which="LA", tol=tolerance, v0=start,
                     return_eigenvectors=False)[0]
        low = eigsh(operator, k=1, which="SA", tol=tolerance, v0=start,
                    return_eigenvectors=False)[0]
    finally:
        bar.close()
    return Spectrum(float(low), float(high), "lanczos", count[0])
