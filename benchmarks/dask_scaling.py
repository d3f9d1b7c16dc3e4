"""tr(H^2) with NumPy in one process against Dask on a local two-worker cluster.

    python benchmarks/dask_scaling.py --sizes 1000 5000 20000

Widths 64-64-10 (tanh), random weights and inputs; prints seconds for each and the
relative difference of the two results.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from dask.distributed import Client, LocalCluster

    from symws import parallel
    from symws.generated import three_layer_tanh as ev

    rng = np.random.default_rng(0)
    params = [(rng.normal(size=(64, 64)) / 8, 0.1 * rng.normal(size=64)),
              (rng.normal(size=(10, 64)) / 8, 0.1 * rng.normal(size=10))]
    print(f"{'N':>7} {'numpy s':>9} {'dask s':>9} {'rel diff':>9}", flush=True)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        for n in args.sizes:
            X = rng.normal(size=(n, 64))
            y = rng.integers(0, 10, size=n)
            start = time.perf_counter()
            expected = ev.trace_h2(params, X, y)
            numpy_seconds = time.perf_counter() - start
            start = time.perf_counter()
            result = parallel.trace_h2(ev, params, X, y, client=client)
            dask_seconds = time.perf_counter() - start
            difference = abs(result - expected) / abs(expected)
            print(f"{n:>7} {numpy_seconds:9.1f} {dask_seconds:9.1f} {difference:9.1e}",
                  flush=True)


if __name__ == "__main__":
    main()
