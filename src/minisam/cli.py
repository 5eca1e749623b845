"""The ``minisam`` command line (also ``python -m minisam``).

::

    minisam train DATA -o MODEL.npz [-x ROWS] [-y COLS] [--topology hexagonal] [--torus]
                  [--mode batch|online|epochs] [--epochs N | --iterations N] [--sigma S]
                  [--learning-rate A] [--seed N] [--nan-policy raise|mask]
                  [--dtype float32|float64] [--backend auto|cython|numba|numpy] [--jobs N]
                  [--progress]
    minisam predict MODEL DATA [-o OUT]       # row, col, index, distance per sample
    minisam drift MODEL REF NEW [-o REPORT.json] [--alpha A] [--fail-on-drift]
    minisam plot MODEL --kind umatrix|hits|components|quality [--data DATA] -o PNG
    minisam info                              # = minisam.show_config()

DATA: ``.npy``, ``.csv`` (with or without a header), ``.parquet`` (pyarrow) or a Zarr store
(through Dask); OUT: ``.csv``, ``.parquet`` or ``.npy`` (standard output as CSV without
``-o``). A user error (a missing or unreadable file, the wrong number of columns, NaN under
``--nan-policy raise``, an invalid option value) prints one line naming the problem and exits
with status 2; success exits with 0 (``drift --fail-on-drift``: 1 when drift is found).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

__all__ = ["main"]

#: Exit status of a user error (as argparse's).
USAGE_ERROR = 2


class UserError(Exception):
    """A problem with the command's arguments or files: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the problem, and where to find help)."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _probability(text: str) -> float:
    value = _positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minisam", description="Train, score and draw Self-Organizing Maps. "
                     "Without a command: print the installation's configuration (as 'info').")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = commands.add_parser("train", help="train a map on DATA and save it",
                                description="Train a map on DATA and save it as a .npz model "
                                "(MiniSam.save).")
    train.add_argument("data", metavar="DATA", help="samples: .npy, .csv, .parquet or Zarr")
    train.add_argument("-o", "--output", metavar="MODEL.npz", required=True,
                       help="where to save the model")
    train.add_argument("-x", "--rows", type=_positive_int, default=10,
                       help="rows of nodes (default 10)")
    train.add_argument("-y", "--cols", type=_positive_int, default=10,
                       help="columns of nodes (default 10)")
    train.add_argument("--topology", choices=("rectangular", "hexagonal"),
                       default="rectangular", help="lattice of the nodes")
    train.add_argument("--torus", action="store_true",
                       help="join opposite edges (periodic boundaries)")
    train.add_argument("--mode", choices=("batch", "online", "epochs"), default="batch",
                       help="batch: one whole-map update per epoch (train_batch; Zarr data "
                       "stays out of core); online: one random sample per step "
                       "(train_random); epochs: online, every sample in order once per "
                       "epoch (train_epochs). Default batch")
    train.add_argument("--epochs", type=_positive_int,
                       help="epochs for --mode batch/epochs (default 20)")
    train.add_argument("--iterations", type=_positive_int,
                       help="steps for --mode online (default 10 per sample)")
    train.add_argument("--sigma", type=_positive_float,
                       help="initial neighbourhood radius (default max(rows, cols) / 2)")
    train.add_argument("--learning-rate", type=_positive_float, default=0.5,
                       help="initial learning rate (default 0.5)")
    train.add_argument("--neighborhood", choices=("gaussian", "bubble"), default="gaussian",
                       help="neighbourhood function (default gaussian)")
    train.add_argument("--seed", type=int, help="random seed (weights and sample order)")
    train.add_argument("--nan-policy", choices=("raise", "mask"), default="raise",
                       help="raise: refuse missing values (default); mask: train on the "
                       "observed features of each sample")
    train.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                       help="floating-point type of the weights (default float64)")
    train.add_argument("--backend", choices=("auto", "cython", "numba", "numpy"),
                       default="auto", help="compute engine (default auto)")
    train.add_argument("--jobs", type=_positive_int,
                       help="threads the kernels may use (default: every CPU)")
    train.add_argument("--progress", action="store_true", help="progress bar on stderr")
    train.set_defaults(run=_train)

    predict = commands.add_parser("predict", help="each sample's best-matching unit",
                                  description="Write one row per sample of DATA: the grid "
                                  "coordinates (row, col) and flat index of its best-matching "
                                  "unit and the Euclidean distance to it.")
    predict.add_argument("model", metavar="MODEL", help="a model saved by 'minisam train'")
    predict.add_argument("data", metavar="DATA", help="samples: .npy, .csv, .parquet or Zarr")
    predict.add_argument("-o", "--output", metavar="OUT", default="-",
                         help="table: .csv, .parquet or .npy (default: CSV on stdout)")
    predict.set_defaults(run=_predict)

    drift = commands.add_parser("drift", help="compare new data with reference data",
                                description="Compare NEW with REF on MODEL: PSI of the hit "
                                "histograms, Kolmogorov-Smirnov test of the BMU distances and "
                                "quantization-error ratio; prints a JSON report.")
    drift.add_argument("model", metavar="MODEL", help="a model saved by 'minisam train'")
    drift.add_argument("reference", metavar="REF", help="data the model is known to handle")
    drift.add_argument("new", metavar="NEW", help="the data to check")
    drift.add_argument("-o", "--output", metavar="REPORT.json",
                       help="also write the report to this file")
    drift.add_argument("--alpha", type=_probability, default=None,
                       help="significance level of the tests (default 0.01)")
    drift.add_argument("--fail-on-drift", action="store_true",
                       help="exit with status 1 when drift is found")
    drift.set_defaults(run=_drift)

    plot = commands.add_parser("plot", help="draw a map as a PNG (needs minisam[plot])",
                               description="Draw MODEL's U-matrix, hit map, component planes "
                               "or quality map as a PNG image.")
    plot.add_argument("model", metavar="MODEL", help="a model saved by 'minisam train'")
    plot.add_argument("--kind", choices=("umatrix", "hits", "components", "quality"),
                      default="umatrix", help="what to draw (hits and quality need --data)")
    plot.add_argument("--data", metavar="DATA", help="samples for --kind hits/quality")
    plot.add_argument("-o", "--output", metavar="PNG", required=True, help="image to write")
    plot.add_argument("--dpi", type=_positive_int, default=100, help="resolution (default 100)")
    plot.set_defaults(run=_plot)

    info = commands.add_parser("info", help="versions, build, backends, threads, BLAS",
                               description="Print minisam.show_config(): versions, build, "
                               "OpenMP, backends, threads and BLAS (for bug reports).")
    info.set_defaults(run=_info)
    return parser


# ---------------------------------------------------------------------- commands
def _read(path, *, lazy=False):
    from minisam._tables import read_data

    return read_data(path, lazy=lazy)


def _load(path):
    from minisam.som import MiniSam

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such model file")
    return MiniSam.load(path)


def _train(args) -> int:
    from minisam.som import MiniSam

    if args.iterations is not None and args.mode != "online":
        raise UserError("--iterations counts the steps of --mode online; use --epochs for "
                        f"--mode {args.mode}")
    if args.epochs is not None and args.mode == "online":
        raise UserError("--epochs is for --mode batch or epochs; use --iterations for "
                        "--mode online")
    data = _read(args.data, lazy=args.mode == "batch")
    som = MiniSam(args.rows, args.cols, int(data.shape[1]), sigma=args.sigma,
                  learning_rate=args.learning_rate, neighborhood_function=args.neighborhood,
                  random_seed=args.seed, backend=args.backend, dtype=args.dtype,
                  n_jobs=args.jobs, topology=args.topology, toroidal=args.torus,
                  nan_policy=args.nan_policy)
    if args.mode == "batch":
        count, unit, run = args.epochs or 20, "epochs", som.train_batch
    elif args.mode == "epochs":
        count, unit, run = args.epochs or 20, "epochs", som.train_epochs
    else:
        count, unit, run = args.iterations or 10 * int(data.shape[0]), "steps", som.train_random
    start = time.perf_counter()
    try:
        run(data, count, progress=args.progress)
    except ValueError as exc:  # a problem with the data (NaN under raise, ...): name the file
        hint = " (or --nan-policy mask)" if "finite" in str(exc) else ""
        raise UserError(f"{args.data}: {str(exc).splitlines()[0]}{hint}") from exc
    seconds = time.perf_counter() - start
    som.save(args.output)
    torus = " toroidal" if args.torus else ""
    print(f"trained a {args.rows}x{args.cols} {args.topology}{torus} map on {data.shape[0]} "
          f"samples of {data.shape[1]} features ({args.mode}, {count} {unit}) in "
          f"{seconds:.2f} s; wrote {args.output}")
    return 0


def _predict(args) -> int:
    import numpy as np

    from minisam._tables import check_table_path, write_table

    if args.output != "-":
        check_table_path(args.output)  # before any work
    som = _load(args.model)
    data = _read(args.data, lazy=True)
    step = 1 << 16  # rows per block: a Zarr store is scored block by block
    parts = [som.bmus(np.asarray(data[a:a + step])) for a in range(0, int(data.shape[0]), step)]
    columns = {name: np.concatenate([getattr(p, field) for p in parts]) for name, field in
               (("row", "rows"), ("col", "cols"), ("index", "index"), ("distance", "distance"))}
    write_table(args.output, columns)
    return 0


def _drift(args) -> int:
    som = _load(args.model)
    reference, new = _read(args.reference), _read(args.new)
    som.set_drift_reference(reference)
    options = {} if args.alpha is None else {"alpha": args.alpha}
    report = som.drift(new, **options)
    text = json.dumps(report.to_dict(), indent=2)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    print(text)
    return 1 if args.fail_on_drift and report.is_drift else 0


def _plot(args) -> int:
    try:
        import matplotlib
    except ImportError:
        raise UserError("plotting needs Matplotlib: pip install 'minisam[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minisam import plot

    if args.kind in ("hits", "quality") and args.data is None:
        raise UserError(f"--kind {args.kind} needs --data DATA (the samples to count)")
    if not args.output.lower().endswith(".png"):
        raise UserError(f"{args.output}: the image must be a .png file")
    som = _load(args.model)
    data = None if args.data is None else _read(args.data)
    if args.kind == "umatrix":
        figure = plot.umatrix(som).figure
    elif args.kind == "hits":
        figure = plot.hits(som, data).figure
    elif args.kind == "quality":
        figure = plot.quality(som, data).figure
    else:
        figure = plot.component_planes(som)[0].figure
    figure.tight_layout()
    figure.savefig(args.output, dpi=args.dpi)
    plt.close(figure)
    print(f"wrote {args.output}")
    return 0


def _info(args) -> int:
    from minisam import show_config

    show_config()
    return 0


# ---------------------------------------------------------------------- entry point
def main(argv=None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = sys.argv[1:] if argv is None else [
        os.fspath(arg) if isinstance(arg, os.PathLike) else str(arg) for arg in argv]
    args = _parser().parse_args(argv)
    if args.command is None:
        return _info(args)
    try:
        return args.run(args)
    except (UserError, ValueError, TypeError, OSError, RuntimeError) as exc:
        # Problems with the arguments, files and data: the library's errors name them
        # (ValueError/TypeError from the validation layer, RuntimeError for a drift
        # reference that does not fit, OSError for files).
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
            message = f"{exc.filename}: {exc.strerror}"
        print(f"minisam {args.command}: error: {message}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"minisam {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
