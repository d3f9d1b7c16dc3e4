"""The pair sums of tr(H^2) on a Dask cluster.

tr(H^2) = (1/N^2) sum over tile pairs (I <= J) of w_IJ * sum_{n in I, m in J} F(n, m),
with w = 1 on the diagonal and 2 off it. Every tile pair is an independent task:
a worker rebuilds the evaluator from its source text (generated modules import
numpy alone), computes the per-sample arrays of its two tiles and returns one
number. The result equals the NumPy one to rounding.

    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")          # or a LocalCluster
    r = symws.parallel.ws_bound(ev, params, X, Y, client=client)
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from types import ModuleType

import numpy as np

DASK_TILE_SIZE = 1024


def module_source(module: ModuleType) -> str:
    """The source text of a generated or in-memory evaluator."""
    source = getattr(module, "__symws_source__", None)
    return source if source is not None else inspect.getsource(module)


@functools.lru_cache(maxsize=16)
def _rebuilt(source: str, digest: str) -> ModuleType:
    from symws.codegen import load_module

    return load_module(source, f"_symws_worker_{digest}")


def _pair_task(source, digest, params, rows_X, rows_Y, cols_X, cols_Y, weight_decay):
    module = _rebuilt(source, digest)
    return module.tile_pair_sum(params, rows_X, rows_Y, cols_X, cols_Y, weight_decay)


def trace_h2(module: ModuleType, params, X, Y, client=None,
             tile_size: int = DASK_TILE_SIZE, weight_decay=None) -> float:
    """tr(H^2) with one Dask task per pair of tiles.

    Args:
        module: a generated evaluator.
        client: a ``dask.distributed.Client``; None uses Dask's default scheduler.
        tile_size: samples per tile (memory per task grows with its square).

    Raises:
        ValueError: bad inputs (as the evaluator), or Dask not installed.
    """
    try:
        import dask
    except ImportError:
        raise ValueError("the Dask backend needs dask: pip install 'symws[dask]'") \
            from None
    params, X, Y = module.check_inputs(params, X, Y)
    decay = module._decay(weight_decay)
    source = module_source(module)
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    tiles = module._tiles(X.shape[0], tile_size)

    if client is not None:
        params_data, X_data, Y_data = client.scatter([params, X, Y], broadcast=True)
    else:
        params_data, X_data, Y_data = params, X, Y

    def piece(tile, data):
        return dask.delayed(lambda array, t=tile: array[t])(data)

    tasks = []
    for first, row_tile in enumerate(tiles):
        for second in range(first, len(tiles)):
            col_tile = tiles[second]
            value = dask.delayed(_pair_task)(
                source, digest, params_data, piece(row_tile, X_data),
                piece(row_tile, Y_data), piece(col_tile, X_data),
                piece(col_tile, Y_data), decay,
            )
            tasks.append((1.0 if first == second else 2.0, value))

    weights = [w for w, _ in tasks]
    if client is not None:
        values = client.gather(client.compute([v for _, v in tasks]))
    else:
        values = dask.compute(*[v for _, v in tasks])
    return float(np.dot(weights, values) / X.shape[0] ** 2)


def ws_bound(module: ModuleType, params, X, Y, client=None,
             tile_size: int = DASK_TILE_SIZE, weight_decay=None):
    """The evaluator's ws_bound with tr(H^2) computed on Dask (tr(H) is cheap)."""
    trace = module.trace_h(params, X, Y, weight_decay=weight_decay)
    trace_sq = trace_h2(module, params, X, Y, client=client, tile_size=tile_size,
                        weight_decay=weight_decay)
    params, _, _ = module.check_inputs(params, X, Y)
    return module.bounds_from_traces(trace, trace_sq, module.n_params(params))
