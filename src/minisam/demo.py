"""The challenge demo: a 100 x 100 colour map trained on 10 random colours for 1000 epochs.

This is Sam's workload (see :mod:`minisam.kohonen`) run by :class:`minisam.MiniSam`. The demo
trains it on the fastest available backend, writes the trained map as a PNG, and (with
Matplotlib, ``pip install "minisam[plot]"``) its U-matrix and hit map; then it times the same
training on every engine and prints a table: Sam's ``kohonen.py`` (timed on a few epochs and
scaled: each of its epochs costs the same), the NumPy reference and each compiled engine, with
the speed-ups and how far each engine's map is from the NumPy reference's. About a minute::

    python -m minisam.demo --out demo-output
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from minisam import kohonen
from minisam._png import save_rgb_png
from minisam.backends import available_backends, default_n_threads
from minisam.som import MiniSam

__all__ = ["run_challenge", "save_pictures", "time_engines"]

#: Epochs of Sam's kohonen.py that are timed (then scaled to the full run).
SAM_EPOCHS = 4


def _colours(seed):
    return np.random.default_rng(seed).random((10, 3))


def run_challenge(output_dir, *, size=100, epochs=1000, seed=0, backend="auto"):
    """Train the challenge map and save it; return ``(image path, training seconds, model)``."""
    os.makedirs(output_dir, exist_ok=True)
    colours = _colours(seed)
    som = MiniSam(size, size, 3, learning_rate=0.1, random_seed=seed, backend=backend)
    start = time.perf_counter()
    som.train_epochs(colours, epochs)
    seconds = time.perf_counter() - start
    path = os.path.join(output_dir, f"minisam_{size}x{size}_{epochs}.png")
    save_rgb_png(path, som.get_weights(), scale=max(1, 400 // size))
    return path, seconds, som


def save_pictures(som, output_dir, *, seed=0) -> list[str]:
    """Write the U-matrix and the hit map (where each of the 10 training colours lands) of
    ``som`` as PNGs; return their paths. Needs Matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from minisam import plot

    size = f"{som.x}x{som.y}"
    written = []
    for name, draw in (("umatrix", plot.umatrix),
                       ("hits", lambda model: plot.hits(model, _colours(seed)))):
        ax = draw(som)
        written.append(os.path.join(output_dir, f"{name}_{size}.png"))
        ax.figure.savefig(written[-1], dpi=100)
    plt.close("all")
    return written


def _median_seconds(run, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_engines(*, size=100, epochs=1000, seed=0, repeats=3, sam_epochs=SAM_EPOCHS):
    """Time the challenge on Sam's trainer and every engine (same colours, same start).

    Returns a list of rows ``(engine, seconds, note, max |w - w_numpy|)``; Sam's seconds are
    scaled from ``sam_epochs`` epochs, the NumPy reference runs once, the compiled engines
    ``repeats`` times (median) after a warm-up call.
    """
    colours = _colours(seed)
    start = MiniSam(size, size, 3, learning_rate=0.1, random_seed=seed).get_weights()
    sam = _median_seconds(lambda: kohonen.train(colours, sam_epochs, size, size,
                                                initial_weights=start), 1)
    rows = [("kohonen.py", sam * epochs / sam_epochs,
             f"{sam_epochs} of {epochs} epochs timed, x{epochs / sam_epochs:g}", None)]
    maps = {}
    for name in ["numpy", *[b for b in available_backends() if b != "numpy"], "auto"]:
        def train(name=name, n=epochs):
            som = MiniSam(size, size, 3, learning_rate=0.1, random_seed=seed, backend=name)
            som.train_epochs(colours, n)
            maps[name] = som
        if name != "numpy":
            train(n=1)  # compile or load the kernels' cache, pick the engines
        seconds = _median_seconds(train, 1 if name == "numpy" else repeats)
        label = name if name != "auto" else f"auto ({maps[name].backend_plan['train_online']})"
        gap = float(np.abs(maps[name].get_weights() - maps["numpy"].get_weights()).max())
        rows.append((label, seconds, "", gap))
    return rows


def format_table(rows) -> str:
    """The timing rows as a text table with the speed-ups over kohonen.py and NumPy."""
    sam = rows[0][1]
    numpy_seconds = next(seconds for name, seconds, _, _ in rows if name == "numpy")
    lines = [f"{'engine':<16}{'time':>10}{'vs kohonen.py':>15}{'vs NumPy':>10}"
             f"{'max |w - w_numpy|':>19}  note"]
    for name, seconds, note, gap in rows:
        time_text = f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1e3:.1f} ms"
        vs_numpy = "" if name == "kohonen.py" else f"{numpy_seconds / seconds:,.0f}x"
        gap_text = "" if gap is None else f"{gap:.1e}"
        lines.append(f"{name:<16}{time_text:>10}{sam / seconds:>14,.0f}x{vs_numpy:>10}"
                     f"{gap_text:>19}  {note}")
    return "\n".join(lines)


def _load() -> str:
    """The machine's load, which the timings depend on (where the platform reports it)."""
    try:
        return f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    except (AttributeError, OSError):  # Windows
        return ""


def _main(argv=None):
    parser = argparse.ArgumentParser(description="Train the 100x100 colour map challenge, "
                                     "draw it and time every engine.")
    parser.add_argument("--out", default="demo-output", help="folder for the images")
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--no-timing", action="store_true",
                        help="skip the table of engines (train and draw only)")
    args = parser.parse_args(argv)
    path, seconds, som = run_challenge(args.out, size=args.size, epochs=args.epochs,
                                       seed=args.seed, backend=args.backend)
    updates = args.epochs * 10
    print(f"trained a {args.size}x{args.size} map on 10 colours for {args.epochs} epochs "
          f"({updates} updates) with the {som.backend_name!r} backend in {seconds:.3f} s")
    print(f"wrote {path}")
    try:
        pictures = save_pictures(som, args.out, seed=args.seed)
    except ImportError:
        print('no Matplotlib: skipped the U-matrix and hit map (pip install "minisam[plot]")')
    else:
        for picture in pictures:
            print(f"wrote {picture}")
    if not args.no_timing:
        print(f"\ntiming the challenge ({args.size}x{args.size}, {args.epochs} epochs, float64) "
              f"on every engine, {default_n_threads()} thread(s){_load()}:", flush=True)
        print(format_table(time_engines(size=args.size, epochs=args.epochs, seed=args.seed)))


if __name__ == "__main__":
    _main()
