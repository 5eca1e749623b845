"""Sam's original Kohonen trainer: the baseline every minisam speed-up is measured against.

This is the triple-loop algorithm exactly as first written (iterations -> samples -> map
rows -> map columns). It is deliberately slow and is kept untouched by the rest of the
package: do not "optimise" it, the benchmarks need it as it is. The only addition is the
keyword-only ``initial_weights`` seam, so tests and benchmarks can start it from known weights.

Run ``python -m minisam.kohonen --out DIR`` for Sam's demo (the 100 x 100 map takes minutes).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from minisam._png import save_rgb_png

__all__ = ["demo", "train"]


def train(input_data, n_max_iterations, width, height, *, initial_weights=None):
    """Train a ``width`` x ``height`` colour SOM on ``input_data`` with Sam's triple loop.

    Parameters
    ----------
    input_data : array_like, shape (n_samples, 3)
        Vectors presented, in order, once per iteration.
    n_max_iterations : int
        Number of passes over ``input_data``.
    width, height : int
        Map size.
    initial_weights : array_like, shape (width, height, 3), optional
        Starting weights (copied). By default they are drawn with ``np.random.random``.

    Returns
    -------
    ndarray, shape (width, height, 3)
        The trained weights.
    """
    σ0 = max(width, height) / 2
    α0 = 0.1
    if initial_weights is None:
        weights = np.random.random((width, height, 3))  # noqa: NPY002 - Sam's original RNG
    else:
        weights = np.array(initial_weights, dtype=np.float64)
    λ = n_max_iterations / np.log(σ0)
    for t in range(n_max_iterations):
        σt = σ0 * np.exp(-t / λ)
        αt = α0 * np.exp(-t / λ)
        for vt in input_data:
            bmu = np.argmin(np.sum((weights - vt) ** 2, axis=2))
            bmu_x, bmu_y = np.unravel_index(bmu, (width, height))
            for x in range(width):
                for y in range(height):
                    di = np.sqrt(((x - bmu_x) ** 2) + ((y - bmu_y) ** 2))
                    θt = np.exp(-(di ** 2) / (2 * (σt ** 2)))
                    weights[x, y] += αt * θt * (vt - weights[x, y])
    return weights


def demo(output_dir, *, sizes=((10, 10, 100), (100, 100, 1000)), seed=None):
    """Sam's demo: 10 random colours on each ``(width, height, iterations)`` map, saved as PNG.

    Returns a list of ``(path, seconds)`` for the images written into ``output_dir``.
    """
    os.makedirs(output_dir, exist_ok=True)
    if seed is not None:
        np.random.seed(seed)  # noqa: NPY002 - Sam's demo uses the legacy global RNG
    input_data = np.random.random((10, 3))  # noqa: NPY002
    written = []
    for width, height, iterations in sizes:
        start = time.perf_counter()
        image = train(input_data, iterations, width, height)
        seconds = time.perf_counter() - start
        path = os.path.join(output_dir, f"kohonen_{width}x{height}_{iterations}.png")
        save_rgb_png(path, image)
        written.append((path, seconds))
    return written


def _main(argv=None):
    parser = argparse.ArgumentParser(description="Sam's original Kohonen demo (slow by design).")
    parser.add_argument("--out", required=True, help="folder to write the images into")
    parser.add_argument("--small-only", action="store_true",
                        help="run only the 10 x 10 map (the 100 x 100 one takes minutes)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = ((10, 10, 100),) if args.small_only else ((10, 10, 100), (100, 100, 1000))
    for path, seconds in demo(args.out, sizes=sizes, seed=args.seed):
        print(f"{path}: {seconds:.2f} s")


if __name__ == "__main__":
    _main()
