"""Peak memory and time of the generated evaluators as N grows (widths 64-64-10).

The pair sums of tr(H^2) run in tiles, so peak memory should not grow with N^2.
Prints one row per N:

    python benchmarks/memory.py --sizes 1000 5000 20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, time
import numpy as np
from symws.generated import three_layer_tanh as ev
n = int(sys.argv[1])
rng = np.random.default_rng(0)
params = [(rng.normal(size=(64, 64)) / 8, 0.1 * rng.normal(size=64)),
          (rng.normal(size=(10, 64)) / 8, 0.1 * rng.normal(size=10))]
X = rng.normal(size=(n, 64))
y = rng.integers(0, 10, size=n)
start = time.perf_counter()
r = ev.ws_bound(params, X, y)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"n": n, "seconds": seconds, "peak_mb": peak,
                  "lambda_max_upper": r.lambda_max_upper}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    args = parser.parse_args()
    print(f"{'N':>7} {'ws_bound s':>11} {'peak MB':>8}")
    for n in args.sizes:
        out = subprocess.run([sys.executable, "-c", CHILD, str(n)], check=True,
                             capture_output=True, text=True).stdout
        row = json.loads(out)
        print(f"{row['n']:>7} {row['seconds']:11.1f} {row['peak_mb']:8.0f}", flush=True)


if __name__ == "__main__":
    main()
