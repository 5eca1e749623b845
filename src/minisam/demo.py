"""The challenge demo: a 100 x 100 colour map trained on 10 random colours for 1000 epochs.

This is Sam's workload (see :mod:`minisam.kohonen`) run by :class:`minisam.MiniSam` on the
fastest available backend. It writes the trained map as a PNG and prints the training time::

    python -m minisam.demo --out demo-output
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from minisam._png import save_rgb_png
from minisam.som import MiniSam

__all__ = ["run_challenge"]


def run_challenge(output_dir, *, size=100, epochs=1000, seed=0, backend="auto"):
    """Train the challenge map and save it; return ``(image path, training seconds, model)``."""
    os.makedirs(output_dir, exist_ok=True)
    colours = np.random.default_rng(seed).random((10, 3))
    som = MiniSam(size, size, 3, learning_rate=0.1, random_seed=seed, backend=backend)
    start = time.perf_counter()
    som.train_epochs(colours, epochs)
    seconds = time.perf_counter() - start
    path = os.path.join(output_dir, f"minisam_{size}x{size}_{epochs}.png")
    save_rgb_png(path, som.get_weights(), scale=max(1, 400 // size))
    return path, seconds, som


def _main(argv=None):
    parser = argparse.ArgumentParser(description="Train the 100x100 colour map challenge.")
    parser.add_argument("--out", default="demo-output", help="folder for the image")
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args(argv)
    path, seconds, som = run_challenge(args.out, size=args.size, epochs=args.epochs,
                                       seed=args.seed, backend=args.backend)
    updates = args.epochs * 10
    print(f"trained a {args.size}x{args.size} map on 10 colours for {args.epochs} epochs "
          f"({updates} updates) with the {som.backend_name!r} backend in {seconds:.3f} s")
    print(f"wrote {path}")


if __name__ == "__main__":
    _main()
