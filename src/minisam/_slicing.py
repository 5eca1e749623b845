"""Slicing of long calls into kernel calls of bounded work.

A compiled kernel runs to its end before Python regains control: a ``KeyboardInterrupt``, a
progress bar or a user's callback can only act between kernel calls. The API classes
therefore cut every long call into *slices* of bounded work, chosen from the problem's size
(never from a clock, so the slicing and the results are reproducible):

* online training: runs of consecutive steps, :func:`online_steps` per kernel call. The
  kernels accept any run ``order[a:b]`` with its schedule slices, and a call's first winner
  is searched on the weights exactly as the fused pass of the previous call would have found
  it, so slicing never changes a bit of the result;
* batch training: one epoch per slice, and within an epoch the winner search and per-node
  sums over row slices of the data (sums accumulate in row order, so again bitwise equal);
* winner searches of the quality measures: row slices of :func:`search_rows` rows (rows are
  independent).

The budgets give 15-50 ms per slice on the compiled engines of the reference machine (2-core
Zen 4; figures below), inside the 0.1 s aim, at a cost near 1 % (one extra winner search and
the kernel's set-up per online slice, a few array views). The NumPy reference engine is 5-20
times slower per unit of work (0.2-0.9 s per online slice) but runs its own Python loop per
step, which handles signals between steps anyway.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["ONLINE_SLICE_WORK", "SEARCH_SLICE_WORK", "online_steps", "search_rows", "spans"]

#: Node-feature updates per online slice, per engine. Measured on the reference machine
#: (float64, MiniSam's schedule, ms per slice with these budgets): 40x40 map, 64 features:
#: Cython 25, Numba 23; 100x100, 3 features: Cython 34, Numba 43; 10x10, 3 features: Cython
#: 29, Numba 15. A Cython call has a fixed cost of about 25 steps (its working copy of the
#: weights, the threads' wake-up), so its slices are 4 times longer: that cost stays near 1 %.
ONLINE_SLICE_WORK = {"cython": 1 << 28, "numba": 1 << 26, "numpy": 1 << 26}
#: Fixed cost of one online step in the same units (loop overhead, the winner's
#: neighbourhood factors: ~0.5 us on Cython, ~1 us on Numba for a 10x10 map): keeps slices
#: of small maps from holding millions of steps.
STEP_OVERHEAD = 1 << 12
#: Sample-node-feature products per winner-search slice: 6,700 rows of 2500 nodes x 64
#: features, measured 12 ms (Cython) and 22-48 ms (Numba) per slice in float32.
SEARCH_SLICE_WORK = 1 << 30
#: Fixed cost of one searched row in the same units.
ROW_OVERHEAD = 1 << 8
#: Fewest rows per search slice (the kernels' own chunk is 256 rows per thread).
MIN_SEARCH_ROWS = 1 << 10


def online_steps(n_nodes: int, n_features: int, engine: str) -> int:
    """Online steps per kernel call of ``engine`` (``'cython'``, ``'numba'``, ``'numpy'``)
    for a map of ``n_nodes`` nodes of ``n_features``."""
    return max(1, ONLINE_SLICE_WORK[engine] // (n_nodes * n_features + STEP_OVERHEAD))


def search_rows(n_nodes: int, n_features: int) -> int:
    """Rows of data per winner-search (or batch-sums) kernel call."""
    return max(MIN_SEARCH_ROWS, SEARCH_SLICE_WORK // (n_nodes * n_features + ROW_OVERHEAD))


def spans(start: int, stop: int, size: int, every: int | None = None) -> Iterator[tuple[int, int]]:
    """Consecutive ``(a, b)`` ranges covering ``start .. stop`` of at most ``size`` items,
    also cut at every multiple of ``every`` (where a callback or progress mark falls).

    Examples
    --------
    >>> list(spans(0, 10, 4))
    [(0, 4), (4, 8), (8, 10)]
    >>> list(spans(0, 10, 4, every=3))
    [(0, 3), (3, 6), (6, 9), (9, 10)]
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    a = start
    while a < stop:
        b = min(stop, a + size)
        if every is not None:
            b = min(b, (a // every + 1) * every)
        yield a, b
        a = b
