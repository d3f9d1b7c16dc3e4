"""``symws bench``: symws against the dense Hessian, Lanczos and PyHessian.

Every tool sees the same float64 weights and data in one process:

- symws: the generated ``ws_bound``, ``trace_h`` and ``trace_h2``;
- the dense Hessian (``hessian``) and ``numpy.linalg.eigvalsh``, up to
  DENSE_LIMIT parameters (time and peak memory);
- Lanczos (``scipy.sparse.linalg.eigsh``, k=1, "LA") on the generated
  Hessian-vector product ``hvp_operator``;
- with torch installed: Lanczos on torch's double-backward Hessian-vector product,
  and, with ``pyhessian`` installed, PyHessian's top eigenvalue (power iteration)
  and its Hutchinson trace, on an equivalent float64 ``nn.Sequential`` under
  ``nn.CrossEntropyLoss()`` (mean).

The exact lambda_max is the dense one where the dense Hessian is formed, else the
Lanczos one on the generated product (torch's Lanczos checks it independently);
the exact tr(H) is ``trace_h`` (checked against the dense trace where there is one).

Timings are medians over ``repeats`` rounds; in each round every tool runs once, in
turn, so ratios are taken pairwise within a round and their median is reported.
Peak memory is measured with tracemalloc in a separate, untimed run.

    symws bench [--repeats R] [--quick] [--json FILE]
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field

import numpy as np

DENSE_LIMIT = 5000
LANCZOS_TOL = 1e-10
SEED = 0
TRAIN_EPOCHS = 30
TRAIN_LEARNING_RATE = 0.005
# relative disagreement between two exact methods that is reported as a problem
AGREEMENT = 1e-6
WARMUP_SAMPLES = 8

SHAPES = [
    ("iris", (4, 16, 3), 150),
    ("digits", (64, 32, 10), 500),
    ("digits", (64, 128, 10), 1000),
    ("digits", (64, 64, 64, 10), 500),
]
ACTIVATIONS = ("tanh", "sigmoid")
STATES = ("init", "trained")

# tool key -> (label in the table, quantity it returns)
TOOLS = {
    "symws_ws_bound": ("symws ws_bound", "lambda_max <="),
    "symws_trace_h": ("symws trace_h", "tr(H)"),
    "symws_trace_h2": ("symws trace_h2", "tr(H^2)"),
    "dense_eigh": ("dense H + eigvalsh", "lambda_max"),
    "lanczos_symws": ("Lanczos, symws hvp", "lambda_max"),
    "lanczos_torch": ("Lanczos, torch hvp", "lambda_max"),
    "pyhessian_eig": ("PyHessian top eig", "lambda_max"),
    "pyhessian_trace": ("PyHessian trace", "tr(H)"),
}

# ratio key -> (numerator tool, denominator tool)
RATIOS = {
    "ws_bound_over_pyhessian_eig": ("symws_ws_bound", "pyhessian_eig"),
    "trace_h_over_pyhessian_trace": ("symws_trace_h", "pyhessian_trace"),
    "dense_over_ws_bound": ("dense_eigh", "symws_ws_bound"),
    "ws_bound_over_lanczos_symws": ("symws_ws_bound", "lanczos_symws"),
    "ws_bound_over_lanczos_torch": ("symws_ws_bound", "lanczos_torch"),
    "lanczos_symws_over_lanczos_torch": ("lanczos_symws", "lanczos_torch"),
}

TARGETS = {
    "ws_bound_over_pyhessian_eig": "<= 3 on every configuration",
    "trace_h_over_pyhessian_trace": "< 1 (trace_h faster than Hutchinson)",
    "dense_over_ws_bound": ">= 50 on 64-32-10",
}


@dataclass(frozen=True)
class Config:
    """One network and data set."""

    dataset: str
    widths: tuple
    n_samples: int
    activation: str
    state: str

    @property
    def name(self) -> str:
        shape = "-".join(str(w) for w in self.widths)
        return (f"{self.dataset} {shape} N={self.n_samples} {self.activation} "
                f"{self.state}")


def configurations(quick: bool) -> list[Config]:
    if quick:
        return [Config(d, w, n, "tanh", "init") for d, w, n in SHAPES[:2]]
    return [Config(d, w, n, a, s) for d, w, n in SHAPES for a in ACTIVATIONS
            for s in STATES]


# -- data, networks, evaluators ----------------------------------------------------


@functools.lru_cache(maxsize=None)
def load_data(dataset: str, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (standardized iris, digits pixels / 16) and integer labels."""
    from sklearn import datasets

    if dataset == "iris":
        X, y = datasets.load_iris(return_X_y=True)
        X = (X - X.mean(axis=0)) / X.std(axis=0)
    elif dataset == "digits":
        X, y = datasets.load_digits(return_X_y=True)
        X = X / 16.0
    else:
        raise ValueError(f"unknown data set {dataset!r}")
    X = np.ascontiguousarray(X[:n_samples], dtype=np.float64)
    y = np.ascontiguousarray(y[:n_samples], dtype=np.int64)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


@functools.lru_cache(maxsize=None)
def evaluator_for(depth: int, activation: str):
    """The generated module for depth 2, else one derived in memory."""
    if depth == 2:
        try:
            module = importlib.import_module(
                f"symws.generated.three_layer_{activation}")
        except ImportError:
            module = None
        if module is not None and (
            module.DEPTH, module.ACTIVATION, module.LOSS, module.BIAS,
            bool(module.WEIGHT_DECAY),
        ) == (2, activation, "softmax_cross_entropy", True, False):
            return module
    import symws

    return symws.evaluator(symws.Spec(f"bench_{activation}_L{depth}", depth,
                                      activation))


def initial_params(widths, seed: int) -> list:
    """W_l ~ N(0, 1/fan_in), b_l = 0."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(scale=1.0 / math.sqrt(fan_in), size=(fan_out, fan_in)),
             np.zeros(fan_out))
            for fan_in, fan_out in zip(widths[:-1], widths[1:])]


def trained_params(widths, X, y, activation: str, seed: int) -> list:
    """A short training: scikit-learn's MLPClassifier, Adam, TRAIN_EPOCHS epochs."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(widths[1:-1]),
        activation={"tanh": "tanh", "sigmoid": "logistic"}[activation],
        solver="adam", alpha=0.0, learning_rate_init=TRAIN_LEARNING_RATE,
        max_iter=TRAIN_EPOCHS, random_state=seed, shuffle=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    if list(clf.classes_) != list(range(widths[-1])):
        raise RuntimeError(f"unexpected classes {clf.classes_}")
    return [(np.ascontiguousarray(W.T, dtype=np.float64),
             np.array(b, dtype=np.float64))
            for W, b in zip(clf.coefs_, clf.intercepts_)]


def torch_model(params, activation: str):
    """An nn.Sequential in float64 with exactly these weights."""
    import torch
    from torch import nn

    layers = []
    for layer, (W, b) in enumerate(params):
        linear = nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.array(W)))
            linear.bias.copy_(torch.from_numpy(np.array(b)))
        layers.append(linear)
        if layer < len(params) - 1:
            layers.append(nn.Tanh() if activation == "tanh" else nn.Sigmoid())
    return nn.Sequential(*layers)


# -- optional peers ----------------------------------------------------------------


def peer_status() -> dict:
    """Whether torch and pyhessian import, their versions, or the error."""
    status = {}
    try:
        import torch

        status["torch"] = {"available": True, "version": torch.__version__,
                           "threads": torch.get_num_threads()}
    except Exception as error:  # noqa: BLE001 - any failure means "not available"
        status["torch"] = {"available": False,
                           "error": f"{type(error).__name__}: {error}"}
    if not status["torch"]["available"]:
        status["pyhessian"] = {"available": False, "error": "torch is not available"}
        return status
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pyhessian  # noqa: F401
        from importlib import metadata

        try:
            version = metadata.version("pyhessian")
        except metadata.PackageNotFoundError:
            version = "unknown"
        status["pyhessian"] = {"available": True, "version": version}
    except Exception as error:  # noqa: BLE001
        status["pyhessian"] = {"available": False,
                               "error": f"{type(error).__name__}: {error}"}
    return status


@contextlib.contextmanager
def pyhessian_session(seed: int):
    """float64 default dtype (PyHessian draws its power-iteration vectors with
    ``torch.randn(p.size())``), a fixed seed, and a count of its Hessian-vector
    products."""
    import torch

    module = sys.modules["pyhessian.hessian"]
    original = module.hessian_vector_product
    count = [0]

    def counted(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(seed)
    module.hessian_vector_product = counted
    try:
        with warnings.catch_warnings():
            # backward(create_graph=True) warns about a reference cycle
            warnings.simplefilter("ignore")
            yield count
    finally:
        module.hessian_vector_product = original
        torch.set_default_dtype(dtype)


# -- the tools ---------------------------------------------------------------------


def make_tools(config: Config, ev, params, X, y, peers: dict) -> dict:
    """Tool key -> a function returning its result dict (or a reason it is absent)."""
    size = ev.n_params(params)
    start = np.random.default_rng(SEED).normal(size=size)
    tools: dict = {}

    def ws_bound():
        r = ev.ws_bound(params, X, y)
        return {"value": r.lambda_max_upper, "lambda_max_lower": r.lambda_max_lower,
                "lambda_min_lower": r.lambda_min_lower,
                "lambda_min_upper": r.lambda_min_upper, "trace": r.trace,
                "trace_sq": r.trace_sq}

    tools["symws_ws_bound"] = ws_bound
    tools["symws_trace_h"] = lambda: {"value": ev.trace_h(params, X, y)}
    tools["symws_trace_h2"] = lambda: {"value": ev.trace_h2(params, X, y)}

    if size <= DENSE_LIMIT:
        def dense():
            H = ev.hessian(params, X, y)
            eigenvalues = np.linalg.eigvalsh(H)
            flat = H.ravel()
            return {"value": float(eigenvalues[-1]),
                    "lambda_min": float(eigenvalues[0]),
                    "trace": float(np.trace(H)), "trace_sq": float(np.dot(flat, flat))}

        tools["dense_eigh"] = dense
    else:
        tools["dense_eigh"] = f"skipped: P = {size} > {DENSE_LIMIT}"

    def lanczos(matvec):
        from scipy.sparse.linalg import LinearOperator, eigsh

        count = [0]

        def product(vector):
            count[0] += 1
            return matvec(np.ascontiguousarray(vector, dtype=np.float64).ravel())

        operator = LinearOperator((size, size), matvec=product, dtype=np.float64)
        top = eigsh(operator, k=1, which="LA", tol=LANCZOS_TOL, v0=start,
                    return_eigenvectors=False)[0]
        return {"value": float(top), "products": count[0]}

    tools["lanczos_symws"] = lambda: lanczos(ev.hvp_operator(params, X, y))

    if not peers["torch"]["available"]:
        reason = "not available (torch: " + peers["torch"]["error"] + ")"
        for key in ("lanczos_torch", "pyhessian_eig", "pyhessian_trace"):
            tools[key] = reason
        return tools

    import torch
    from torch import nn

    model = torch_model(params, config.activation)
    criterion = nn.CrossEntropyLoss()
    inputs = torch.from_numpy(np.array(X))
    targets = torch.from_numpy(np.array(y))

    def torch_lanczos():
        model.zero_grad(set_to_none=True)
        weights = list(model.parameters())
        loss = criterion(model(inputs), targets)
        grads = torch.autograd.grad(loss, weights, create_graph=True)
        sizes = [w.numel() for w in weights]

        def matvec(vector):
            pieces = torch.split(torch.from_numpy(vector), sizes)
            pieces = [piece.view(w.shape) for piece, w in zip(pieces, weights)]
            hv = torch.autograd.grad(grads, weights, grad_outputs=pieces,
                                     retain_graph=True)
            return torch.cat([h.reshape(-1) for h in hv]).numpy()

        return lanczos(matvec)

    tools["lanczos_torch"] = torch_lanczos

    if not peers["pyhessian"]["available"]:
        reason = "not available (" + peers["pyhessian"]["error"] + ")"
        tools["pyhessian_eig"] = tools["pyhessian_trace"] = reason
        return tools

    from pyhessian import hessian as PyHessian

    def pyhessian_eig():
        with pyhessian_session(SEED) as count:
            model.zero_grad(set_to_none=True)
            computer = PyHessian(model, criterion, data=(inputs, targets), cuda=False)
            eigenvalues, _ = computer.eigenvalues(top_n=1)
            model.zero_grad(set_to_none=True)
        return {"value": float(eigenvalues[0]), "products": count[0]}

    def pyhessian_trace():
        with pyhessian_session(SEED) as count:
            model.zero_grad(set_to_none=True)
            computer = PyHessian(model, criterion, data=(inputs, targets), cuda=False)
            samples = computer.trace()
            model.zero_grad(set_to_none=True)
        return {"value": float(np.mean(samples)), "products": count[0],
                "samples": len(samples)}

    tools["pyhessian_eig"] = pyhessian_eig
    tools["pyhessian_trace"] = pyhessian_trace
    return tools


def peak_memory_mb(function) -> float:
    """Peak memory traced by tracemalloc during one call, in MB (numpy's arrays are
    traced; LAPACK's and torch's own workspaces are not)."""
    gc.collect()
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def relative_error(value, exact):
    if value is None or exact is None or not math.isfinite(exact) or exact == 0:
        return None
    return abs(value - exact) / abs(exact)


def run_config(config: Config, repeats: int, peers: dict, log) -> dict:
    X, y = load_data(config.dataset, config.n_samples)
    ev = evaluator_for(len(config.widths) - 1, config.activation)
    if config.state == "init":
        params = initial_params(config.widths, SEED)
    else:
        params = trained_params(config.widths, X, y, config.activation, SEED)
    size = ev.n_params(params)
    tools = make_tools(config, ev, params, X, y, peers)

    # warm-up (untimed) on a few samples: imports, einsum paths, torch's autograd
    few = make_tools(config, ev, params, X[:WARMUP_SAMPLES], y[:WARMUP_SAMPLES], peers)
    for key, tool in few.items():
        if callable(tool) and key != "dense_eigh":
            with contextlib.suppress(Exception):
                tool()

    results: dict = {}
    for key, tool in tools.items():
        if isinstance(tool, str):
            results[key] = {"status": tool}
        else:
            results[key] = {"status": "ok", "times_ms": []}

    for round_ in range(repeats):
        for key, tool in tools.items():
            entry = results[key]
            if entry["status"] != "ok":
                continue
            gc.collect()
            try:
                began = time.perf_counter()
                out = tool()
                elapsed = time.perf_counter() - began
            except Exception as error:  # noqa: BLE001 - a peer failing is a result
                entry.clear()
                entry["status"] = f"failed: {type(error).__name__}: {error}"
                log(f"  {key} failed: {type(error).__name__}: {error}")
                continue
            entry["times_ms"].append(1e3 * elapsed)
            if "value" in entry and out["value"] != entry["value"]:
                entry.setdefault("value_spread", []).append(out["value"])
            entry.update(out)
        log(f"  round {round_ + 1}/{repeats} done")

    for key in ("symws_ws_bound", "dense_eigh"):
        if results[key]["status"] == "ok":
            results[key]["peak_memory_mb"] = peak_memory_mb(tools[key])
    if results["dense_eigh"]["status"] == "ok":
        results["dense_eigh"]["matrix_mb"] = size * size * 8 / 2**20

    for entry in results.values():
        if entry["status"] == "ok":
            entry["median_ms"] = statistics.median(entry["times_ms"])

    # exact values and errors
    dense = results["dense_eigh"]
    lanczos_symws = results["lanczos_symws"]
    problems = []
    if dense["status"] == "ok":
        exact_max, exact_method = dense["value"], "dense_eigh"
    elif lanczos_symws["status"] == "ok":
        exact_max, exact_method = lanczos_symws["value"], "lanczos_symws"
    else:
        exact_max, exact_method = None, None
    exact_trace = (results["symws_trace_h"].get("value")
                   if results["symws_trace_h"]["status"] == "ok" else None)
    exact = {"lambda_max": exact_max, "lambda_max_method": exact_method,
             "trace": exact_trace, "trace_method": "symws_trace_h"}
    if dense["status"] == "ok":
        exact.update(lambda_min=dense["lambda_min"], dense_trace=dense["trace"],
                     dense_trace_sq=dense["trace_sq"])

    for key, entry in results.items():
        if entry["status"] != "ok":
            continue
        if key == "symws_ws_bound":
            if exact_max:
                entry["bound_over_exact"] = entry["value"] / exact_max
                if not (entry["lambda_max_lower"] <= exact_max * (1 + 1e-9) + 1e-12
                        and exact_max <= entry["value"] * (1 + 1e-9) + 1e-12):
                    problems.append(
                        f"ws_bound does not bracket lambda_max = {exact_max}")
        elif key == "symws_trace_h" and dense["status"] == "ok":
            entry["rel_error"] = relative_error(entry["value"], dense["trace"])
            entry["reference"] = "dense trace"
        elif key == "symws_trace_h2" and dense["status"] == "ok":
            entry["rel_error"] = relative_error(entry["value"], dense["trace_sq"])
            entry["reference"] = "dense ||H||_F^2"
        elif key in ("lanczos_symws", "lanczos_torch", "pyhessian_eig"):
            if key != exact_method:
                entry["rel_error"] = relative_error(entry["value"], exact_max)
                entry["reference"] = exact_method
        elif key == "pyhessian_trace":
            entry["rel_error"] = relative_error(entry["value"], exact_trace)
            entry["reference"] = "symws_trace_h"
        if key in ("symws_trace_h", "symws_trace_h2", "lanczos_symws",
                   "lanczos_torch") and (entry.get("rel_error") or 0) > AGREEMENT:
            problems.append(f"{key} differs from {entry['reference']} by "
                            f"{entry['rel_error']:.2e} (relative)")
    ws = results["symws_ws_bound"]
    if ws["status"] == "ok" and exact_trace is not None:
        if (relative_error(ws["trace"], exact_trace) or 0) > AGREEMENT:
            problems.append("ws_bound's trace differs from trace_h")

    ratios = {}
    for name, (top, bottom) in RATIOS.items():
        a, b = results[top], results[bottom]
        if a["status"] == "ok" and b["status"] == "ok":
            pairs = [t / s for t, s in zip(a["times_ms"], b["times_ms"])]
            ratios[name] = {"median": statistics.median(pairs), "per_round": pairs}
    for problem in problems:
        log(f"  PROBLEM: {problem}")

    return {
        "name": config.name, "dataset": config.dataset, "widths": list(config.widths),
        "n_samples": config.n_samples, "activation": config.activation,
        "state": config.state, "n_params": size, "evaluator": ev.NAME,
        "evaluator_source": _source_digest(ev),
        "loss": ev.loss(params, X, y),
        "accuracy": float(np.mean(np.argmax(_logits(params, X, config.activation),
                                            axis=1) == y)),
        "exact": exact, "tools": results, "ratios": ratios, "problems": problems,
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg")
        else None,
    }


def _source_digest(module) -> dict:
    """Which generated code was timed: its spec digest and, for a module read from
    a file, the file's SHA-256 (generated/ may be regenerated between runs)."""
    import hashlib

    digest = {"spec_digest": getattr(module, "SPEC_DIGEST", None), "file": None,
              "sha256": None}
    path = getattr(module, "__file__", None)
    if path and os.path.exists(path):
        with open(path, "rb") as handle:
            digest["sha256"] = hashlib.sha256(handle.read()).hexdigest()[:16]
        digest["file"] = os.path.basename(path)
    return digest


def _logits(params, X, activation):
    h = np.asarray(X)
    for layer, (W, b) in enumerate(params):
        h = h @ W.T + b
        if layer < len(params) - 1:
            h = np.tanh(h) if activation == "tanh" else 1.0 / (1.0 + np.exp(-h))
    return h


# -- reporting ---------------------------------------------------------------------


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "nproc": os.cpu_count(), "numpy": np.__version__}
    if hasattr(os, "sched_getaffinity"):
        info["nproc_available"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/cpuinfo") as handle:
            models = [line.split(":", 1)[1].strip() for line in handle
                      if line.startswith("model name")]
        info["cpu_model"] = models[0] if models else "unknown"
    except OSError:
        info["cpu_model"] = platform.processor() or "unknown"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
        info["numpy_blas_config"] = blas.get("openblas configuration", "")
    except Exception:  # noqa: BLE001 - older numpy
        info["numpy_blas"] = "unknown"
    try:
        from threadpoolctl import threadpool_info

        info["blas_threads"] = [
            {"api": p.get("internal_api"), "threads": p.get("num_threads")}
            for p in threadpool_info()
        ]
    except Exception:  # noqa: BLE001
        pass
    try:
        import scipy

        info["scipy"] = scipy.__version__
    except ImportError:
        pass
    if hasattr(os, "getloadavg"):
        info["load_average_start"] = list(os.getloadavg())
    return info


def _number(value, digits=4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


HEADER = (f"{'configuration':<40} {'P':>6}  {'tool':<20} {'quantity':<14} "
          f"{'median ms':>10} {'value':>11}  {'vs exact':<22} notes")


def table_rows(result: dict) -> list[str]:
    rows = []
    for key, entry in result["tools"].items():
        label, quantity = TOOLS[key]
        prefix = (f"{result['name']:<40} {result['n_params']:>6}  {label:<20} "
                  f"{quantity:<14} ")
        if entry["status"] != "ok":
            rows.append(prefix + f"{'-':>10} {'-':>11}  {'-':<22} {entry['status']}")
            continue
        if key == "symws_ws_bound":
            versus = (f"bound/exact {entry['bound_over_exact']:.3f}"
                      if "bound_over_exact" in entry else "-")
        elif "rel_error" in entry:
            versus = f"rel err {_number(entry['rel_error'], 2)}"
        elif key == result["exact"]["lambda_max_method"]:
            versus = "exact (reference)"
        elif key == "symws_trace_h":
            versus = "exact (reference)"
        else:
            versus = "-"
        notes = []
        if "products" in entry:
            notes.append(f"{entry['products']} Hv")
        if "samples" in entry:
            notes.append(f"{entry['samples']} samples")
        if "peak_memory_mb" in entry:
            notes.append(f"peak {entry['peak_memory_mb']:.1f} MB")
        if "matrix_mb" in entry:
            notes.append(f"H {entry['matrix_mb']:.1f} MB")
        if key == "dense_eigh":
            notes.append(f"lambda_min {_number(entry['lambda_min'])}")
        if "value_spread" in entry:
            notes.append("value varied between rounds")
        rows.append(prefix + f"{entry['median_ms']:>10.1f} "
                    f"{_number(entry['value']):>11}  {versus:<22} {', '.join(notes)}")
    return rows


def targets_summary(results: list[dict]) -> tuple[list[str], dict]:
    lines = ["", "Speed ratios (median over rounds of the per-round ratio):",
             f"{'configuration':<40} {'ws/PyH eig':>11} {'trace_h/PyH tr':>15} "
             f"{'dense/ws':>9} {'ws/Lanczos':>11} {'ws/torch Lz':>12}"]
    checks = {name: [] for name in TARGETS}
    for result in results:
        r = result["ratios"]

        def cell(name, width):
            if name not in r:
                return f"{'-':>{width}}"
            return f"{r[name]['median']:>{width}.3g}"

        lines.append(f"{result['name']:<40} {cell('ws_bound_over_pyhessian_eig', 11)} "
                     f"{cell('trace_h_over_pyhessian_trace', 15)} "
                     f"{cell('dense_over_ws_bound', 9)} "
                     f"{cell('ws_bound_over_lanczos_symws', 11)} "
                     f"{cell('ws_bound_over_lanczos_torch', 12)}")
        if "ws_bound_over_pyhessian_eig" in r:
            value = r["ws_bound_over_pyhessian_eig"]["median"]
            checks["ws_bound_over_pyhessian_eig"].append(
                {"configuration": result["name"], "ratio": value, "met": value <= 3.0})
        if "trace_h_over_pyhessian_trace" in r:
            value = r["trace_h_over_pyhessian_trace"]["median"]
            checks["trace_h_over_pyhessian_trace"].append(
                {"configuration": result["name"], "ratio": value, "met": value < 1.0})
        if "dense_over_ws_bound" in r and tuple(result["widths"]) == (64, 32, 10):
            value = r["dense_over_ws_bound"]["median"]
            checks["dense_over_ws_bound"].append(
                {"configuration": result["name"], "ratio": value, "met": value >= 50.0})
    lines.append("")
    lines.append("Targets:")
    for name, target in TARGETS.items():
        entries = checks[name]
        if not entries:
            lines.append(f"  {name} {target}: not measured")
            continue
        met = sum(e["met"] for e in entries)
        worst = (max if name != "dense_over_ws_bound" else min)(
            entries, key=lambda e: e["ratio"])
        lines.append(f"  {name} {target}: met on {met}/{len(entries)} "
                     f"(worst {worst['ratio']:.3g} on {worst['configuration']})")
    return lines, checks


def _clean(value):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def bench_command(repeats: int = 5, quick: bool = False, json_path: str | None = None
                  ) -> int:
    """Run the benchmark, print the table, optionally write every number as JSON."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    info = machine()
    peers = peer_status()
    for name, status in peers.items():
        if not status["available"]:
            log(f"{name}: not available ({status['error']})")
    configs = configurations(quick)
    began = time.perf_counter()
    print(HEADER, flush=True)
    print("-" * len(HEADER), flush=True)
    results = []
    for index, config in enumerate(configs, start=1):
        log(f"[{index}/{len(configs)}] {config.name}")
        result = run_config(config, repeats, peers, log)
        results.append(result)
        for row in table_rows(result):
            print(row, flush=True)
    lines, checks = targets_summary(results)
    problems = [f"{r['name']}: {p}" for r in results for p in r["problems"]]
    if problems:
        lines += ["", "Problems:"] + [f"  {p}" for p in problems]
    if hasattr(os, "getloadavg"):
        info["load_average_end"] = list(os.getloadavg())
    info["total_seconds"] = time.perf_counter() - began
    pyhessian = peers["pyhessian"]
    pyhessian = ("available " + pyhessian.get("version", "") if pyhessian["available"]
                 else "not available")
    lines += ["", f"repeats {repeats}; float64; total {info['total_seconds']:.0f} s; "
              f"pyhessian: {pyhessian}"]
    print("\n".join(lines), flush=True)

    if json_path:
        document = {
            "repeats": repeats, "quick": quick, "seed": SEED,
            "settings": {"dense_limit": DENSE_LIMIT, "lanczos_tol": LANCZOS_TOL,
                         "train_epochs": TRAIN_EPOCHS,
                         "train_learning_rate": TRAIN_LEARNING_RATE,
                         "init": "W ~ N(0, 1/fan_in), b = 0",
                         "trained": "sklearn MLPClassifier, adam, alpha=0",
                         "pyhessian_defaults": "eigenvalues(top_n=1, maxIter=100, "
                         "tol=1e-3); trace(maxIter=100, tol=1e-3); timed with "
                         "construction of the hessian object"},
            "machine": info, "peers": peers, "targets": TARGETS, "checks": checks,
            "configurations": results, "problems": problems,
        }
        with open(json_path, "w") as handle:
            json.dump(_clean(document), handle, indent=1)
        log(f"wrote {json_path}")
    return 0
