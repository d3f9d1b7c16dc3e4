"""The ``symws`` command line.

    symws regenerate [--check]
    symws derive SPEC.toml [--out DIR]
    symws verify [NAME ...] [--dps D] [--trials T] [--no-sweep]
    symws bound --spec NAME_OR_TOML --weights W.npz --data D.npz [--json] [--exact]
        [--dask ADDRESS|local] [--quiet]
    symws latex NAME [--pdf] [--snippet] [--out DIR]
    symws bench [--repeats R] [--quick] [--json FILE]

A user's mistake (bad file, bad shapes, unknown activation, ...) is reported as one
line on stderr with exit status 2; ``regenerate --check`` exits 1 when generated/
is stale and ``verify`` exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """A mistake in the command line or its input files."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.exit(EXIT_BAD_INPUT, f"symws: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="symws",
        description="Closed-form Wolkowicz-Styan bounds on the loss Hessian spectrum.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    regenerate = commands.add_parser(
        "regenerate", help="derive every spec in derivations/ into generated/"
    )
    regenerate.add_argument(
        "--check", action="store_true",
        help="write nothing; exit 1 naming each stale file",
    )
    regenerate.add_argument(
        "--no-verify", action="store_true", help="skip the per-spec oracle check"
    )

    derive = commands.add_parser("derive", help="derive one spec into a folder")
    derive.add_argument("spec", help="path of a spec TOML file")
    derive.add_argument("--out", default=".", help="output folder (default: .)")

    verify = commands.add_parser(
        "verify", help="check generated evaluators against the mpmath oracle"
    )
    verify.add_argument("names", nargs="*",
                        help="evaluator names or spec .toml paths (default: all)")
    verify.add_argument("--dps", type=int, default=30, help="oracle digits (>= 20)")
    verify.add_argument("--trials", type=int, default=3, help="random networks each")
    verify.add_argument(
        "--no-sweep", action="store_true",
        help="skip the sweep over depths 1-4 with and without biases",
    )

    bench = commands.add_parser(
        "bench", help="time symws against the dense Hessian, Lanczos and PyHessian"
    )
    bench.add_argument("--repeats", type=int, default=5, help="repeats (median)")
    bench.add_argument("--quick", action="store_true",
                       help="the two smallest configurations only")
    bench.add_argument("--json", metavar="FILE", help="also write the results here")

    latex = commands.add_parser("latex", help="the LaTeX derivation of an evaluator")
    latex.add_argument("name", help="evaluator name (a spec in derivations/)")
    latex.add_argument("--pdf", action="store_true", help="compile it to NAME.pdf")
    latex.add_argument(
        "--snippet", action="store_true", help="print the equations alone"
    )
    latex.add_argument("--out", default=".", help="folder for the PDF (default: .)")

    bound = commands.add_parser("bound", help="bounds for saved weights and data")
    bound.add_argument("--spec", required=True, help="evaluator name or spec TOML path")
    bound.add_argument("--weights", required=True, help="weights .npz (W1, b1, ...)")
    bound.add_argument("--data", required=True, help="data .npz (X and y or Y)")
    bound.add_argument("--json", action="store_true", help="print one JSON object")
    bound.add_argument(
        "--dask", metavar="ADDRESS",
        help="compute the pair sums on a Dask cluster (a scheduler address, or "
        "'local' for a two-worker cluster on this machine)",
    )
    bound.add_argument(
        "--quiet", action="store_true", help="no progress bar",
    )
    bound.add_argument(
        "--tile-size", type=int, default=None,
        help="samples per tile of the pair sums (default: sized to ~256 MB)",
    )
    bound.add_argument(
        "--exact", action="store_true",
        help="also the exact extreme eigenvalues (dense, or Lanczos for large P)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "regenerate": run_regenerate,
        "derive": run_derive,
        "verify": run_verify,
        "bound": run_bound,
        "latex": run_latex,
        "bench": run_bench,
    }
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return handlers[args.command](args)
    except (UsageError, ValueError) as error:
        print(f"symws: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NotImplementedError as error:
        print(f"symws: not implemented: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("symws: interrupted", file=sys.stderr)
        return 130


# -- regenerate and derive --------------------------------------------------------


def run_regenerate(args: argparse.Namespace) -> int:
    from symws.generate import (
        project_root, remove_orphans, render_all, stale_files, write_outputs,
    )

    root = project_root()

    def progress(result) -> None:
        if not args.check:
            print(f"derived {result.spec.name:<24} {result.seconds:6.2f} s", flush=True)

    results = render_all(root, progress=progress)
    if args.check:
        stale = stale_files(root, results)
        for line in stale:
            print(f"stale: {line}", file=sys.stderr)
        if stale:
            print("run `symws regenerate` and commit generated/", file=sys.stderr)
            return EXIT_FAILED
        print(f"generated/ is up to date ({len(results)} specs)")
        return 0

    written = write_outputs(results, root / "generated")
    removed = remove_orphans(root, results)
    for path in written:
        print(f"wrote {path.relative_to(root)}")
    for path in removed:
        print(f"removed {path.relative_to(root)}")
    if args.no_verify:
        return 0

    from symws.codegen import load_module
    from symws.verify import verify_module

    failed = False
    for result in results:
        module = load_module(result.files[f"{result.spec.name}.py"],
                             f"_symws_check_{result.spec.name}")
        report = verify_module(module, trials=1)
        check = report[0]
        failed |= not report.passed
        print(
            f"verified {result.spec.name:<24} P={check.n_params:<4} "
            f"rel err trH {check.trace_error:.1e}, trH2 {check.trace_sq_error:.1e}, "
            f"bounds {'hold' if check.bounds_hold else 'FAIL'}: "
            f"{'ok' if check.passed else 'FAILED'}"
        )
    return EXIT_FAILED if failed else 0


def run_derive(args: argparse.Namespace) -> int:
    from symws.generate import render, write_all
    from symws.spec import load_spec

    spec = load_spec(args.spec)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is not a folder")
    result = render(spec, str(args.spec))
    for path in write_all({out / name: text for name, text in result.files.items()}):
        print(f"wrote {path}")
    return 0


# -- verify -----------------------------------------------------------------------


def import_evaluator(name: str):
    """The generated module called ``name``, or a UsageError listing the known ones."""
    import symws.generated as package

    folder = Path(package.__file__).parent
    known = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    if not name.isidentifier() or name not in known:
        raise UsageError(
            f"unknown evaluator {name!r}; generated ones are: {', '.join(known)} "
            "(or give the path of a spec .toml)"
        )
    return importlib.import_module(f"symws.generated.{name}")


def sweep_modules():
    """tanh evaluators of depth 1-4, with and without biases, derived in memory."""
    from symws.codegen import load_module
    from symws.generate import render
    from symws.spec import Spec

    for depth in range(1, 5):
        for bias in (True, False):
            name = f"sweep_tanh_L{depth}_{'bias' if bias else 'nobias'}"
            result = render(Spec(name, depth, "tanh", bias=bias))
            yield load_module(result.files[f"{name}.py"], f"_symws_{name}")


def run_verify(args: argparse.Namespace) -> int:
    from symws.verify import Report, verify_module

    if args.dps < 20:
        raise UsageError(f"--dps must be >= 20, got {args.dps}")
    if args.trials < 1:
        raise UsageError(f"--trials must be >= 1, got {args.trials}")
    if args.names:
        modules = [load_evaluator(name) for name in args.names]
    else:
        import symws.generated as package

        folder = Path(package.__file__).parent
        modules = [import_evaluator(p.stem) for p in sorted(folder.glob("*.py"))
                   if p.stem != "__init__"]
    if not args.names and not args.no_sweep:
        modules += list(sweep_modules())

    report = Report()
    for module in modules:
        print(f"checking {module.NAME} ...", file=sys.stderr, flush=True)
        report.extend(verify_module(module, trials=args.trials, dps=args.dps))
    print(repr(report))
    print(f"{sum(c.passed for c in report)} passed, {sum(not c.passed for c in report)} failed")
    return 0 if report.passed else EXIT_FAILED


# -- bench ------------------------------------------------------------------------


def run_bench(args: argparse.Namespace) -> int:
    from symws.bench import bench_command

    if args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    return bench_command(repeats=args.repeats, quick=args.quick, json_path=args.json)


# -- latex ------------------------------------------------------------------------


def run_latex(args: argparse.Namespace) -> int:
    from symws.latex import latex_command

    return latex_command(args.name, pdf=args.pdf, snippet=args.snippet, out=args.out)


# -- bound ------------------------------------------------------------------------


def load_evaluator(spec: str):
    """A generated module by name, or one derived in memory from a spec file."""
    if Path(spec).is_dir():
        raise UsageError(f"{spec} is a folder; give an evaluator name or a spec .toml")
    if spec.endswith(".toml") or Path(spec).is_file():
        from symws.codegen import load_module
        from symws.generate import render
        from symws.spec import load_spec

        parsed = load_spec(spec)
        result = render(parsed, spec)
        return load_module(result.files[f"{parsed.name}.py"], f"_symws_{parsed.name}")
    return import_evaluator(spec)


class ProgressBar:
    """A tqdm bar fed by (done, total) callbacks; silent off a terminal or when quiet."""

    def __init__(self, label: str, quiet: bool) -> None:
        self.label, self.quiet, self.bar = label, quiet, None

    def __enter__(self):
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=self.label,
                            disable=True if self.quiet else None)
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def dask_bound(module, params, X, Y, address: str):
    """ws_bound with the pair sums on Dask: at ``address``, or a local cluster."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--dask needs dask.distributed: pip install 'symws[dask]'") \
            from None
    from symws import parallel

    if address == "local":
        with LocalCluster(n_workers=2, threads_per_worker=1,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            return parallel.ws_bound(module, params, X, Y, client=client)
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as error:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {error}") \
            from None
    with client:
        return parallel.ws_bound(module, params, X, Y, client=client)


def run_bound(args: argparse.Namespace) -> int:
    from symws.io import load_data, load_weights

    module = load_evaluator(args.spec)
    params = load_weights(args.weights)
    X, Y = load_data(args.data)
    if len(params) != module.DEPTH:
        raise UsageError(
            f"{args.weights} has {len(params)} layers but {module.NAME} has depth "
            f"{module.DEPTH}"
        )
    if args.dask:
        result = dask_bound(module, params, X, Y, args.dask).as_dict()
    else:
        with ProgressBar("tr(H^2) tile pairs", args.quiet or args.json) as progress:
            result = module.ws_bound(params, X, Y, tile_size=args.tile_size,
                                     progress=progress).as_dict()

    if args.exact:
        from symws.spectrum import extreme_eigenvalues

        spectrum = extreme_eigenvalues(module, params, X, Y,
                                       progress=None if not args.json else False)
        result["exact_lambda_max"] = spectrum.lambda_max
        result["exact_lambda_min"] = spectrum.lambda_min
        result["exact_method"] = spectrum.method
        if spectrum.lambda_max > 0:
            result["ratio_upper_to_exact"] = (
                result["lambda_max_upper"] / spectrum.lambda_max
            )

    result = {"evaluator": module.NAME, "n_samples": int(np.shape(X)[0]), **result}
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            text = f"{value:.10g}" if isinstance(value, float) else str(value)
            print(f"{key:<{width}}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
