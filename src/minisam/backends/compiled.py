"""Shared driver of the compiled backends (Cython and Numba).

Both engines implement the same small *kernel contract* (below); this class turns it into the
:class:`~minisam.backends.base.Backend` interface: it prepares contiguous arrays, norms and the
BLAS address, sets BLAS threading to one while kernels run, and applies the batch rule.

Kernel contract
---------------
A kernel module exposes these functions. Arrays are C-contiguous; ``weights``/``data`` share one
float dtype (float32 or float64); integers are int64; schedules and sums are float64. Kernels
never validate, allocate outputs the caller provides, or read global state.

``bmu_search(weights, wnorm, data, index_out, d2_out, second_out, chunk, n_threads, gemm,
gemm_ilp64)``
    Best-matching unit of every row of ``data``. Scores are ``wnorm[k] - 2 * data[i] . weights[k]``
    (``wnorm`` holds ``|w_k|^2`` in the weights dtype), computed ``chunk`` rows at a time with
    the CBLAS GEMM (``cblas_sgemm``/``cblas_dgemm`` matching the dtype) at address ``gemm``
    (0: the kernel's own loops; ``gemm_ilp64``: its integer arguments are 64-bit, else 32-bit),
    called row-major as ``C = -2 * X W^T``; rows split across ``n_threads`` threads. Writes the
    argmin into ``index_out`` (ties: lowest index) and the exact squared distance
    ``sum((x - w_best)**2)``, accumulated in float64, into ``d2_out``. When ``second_out`` has
    ``n_samples`` elements it also receives the second-best node (-1 with a single node); pass
    an empty array otherwise. Extra memory: ``chunk * n_nodes``
    scores per thread.

``group_sums(data, index, sums_out, counts_out, n_threads)``
    Adds every ``data[i]`` to ``sums_out[index[i]]`` (float64, shape ``(n_nodes,
    n_features)``) and counts it in ``counts_out[index[i]]``, on top of what they hold.
    Samples are added in increasing ``i`` for every node, so the result does not depend on
    ``n_threads``, and calls on consecutive row slices give bitwise the sums of one call.

``train_online(weights, data, order, alphas, sigmas, coords, grid_y, kind, lattice, skip_below,
n_threads, tables=None, periods=None)``
    ``len(order)`` online steps, in place (see :func:`minisam.reference.train_online`). The
    best-matching unit of a step is exactly ``np.argmin(np.linalg.norm(v - w, axis=1))``: the
    squared differences of a node are summed in NumPy's pairwise order (each product rounded,
    no FMA), and among the nodes whose rounded ``sqrt`` is least the lowest index wins. Node
    ``k`` is at position ``coords[k]``. ``kind`` is a neighbourhood code from
    :data:`NEIGHBOURHOOD_CODES` (``dx, dy`` are the position offsets of the node from the
    winner, ``d2 = dx^2 + dy^2``; the functions are those of :mod:`minisam.reference`).
    ``periods`` (None, or a float64 pair ``(p0, p1)``) makes each axis with ``p > 0``
    periodic: an offset ``d`` along it is used as its minimum image
    ``a = fmod(|d|, p); min(a, p - a)``. A node whose influence ``|alphas[t] * h|`` is below
    ``skip_below`` is left untouched: its change would be below rounding (see
    :func:`skip_threshold`). Influences can be negative (``mexican_hat``) and must then be
    applied, not skipped.

    ``lattice`` true (codes 0 and 1) promises a *separable lattice* of ``grid_y`` columns:
    node ``k = i * grid_y + j`` has ``coords[k, 0] = r_i`` (a function of the row ``i``) and
    ``coords[k, 1] = o_i + j`` (unit column spacing, a row offset ``o_i``; it takes at most two
    values, e.g. 0 and 0.5 on a hexagonal lattice). The kernel may then evaluate the
    gaussian as a row factor ``exp(-dr^2 / (2 sigma^2))`` times a column factor of
    ``dc = (o_i - o_b) + (j - j_b)`` (X + 2Y exponentials per step, not K), ``(alpha * fr) *
    fc`` in that order.

    ``masked_bmu_search(weights, wnorm, wsq_t, data, index_out, d2_out, second_out, chunk,
    n_threads, gemm, gemm_ilp64)``
    :func:`bmu_search` for ``data`` in which NaN marks a missing feature: the squared
    distance over the observed features. Per chunk it takes the dense scores of the rows
    with NaN set to 0 (the same GEMM, at ``gemm``; plain loops with 0) and subtracts, for
    every missing feature ``d`` of a row, ``wsq_t[d]`` (``(n_features, n_nodes)``, the
    transposed squared weights): two products per block, the second one only over the missing
    entries, never an ``n_samples x n_nodes`` matrix. ``d2_out`` receives the exact distance
    over the observed features, accumulated in float64 (not scaled).

    ``masked_group_sums(data, index, sums_out, counts_out, n_threads)``
    :func:`group_sums` with one count per component: ``counts_out`` is ``(n_nodes,
    n_features)`` and only observed (non-NaN) entries are added and counted.

    ``masked_train_online(weights, data, order, alphas, sigmas, coords, kind, skip_below,
    n_threads, periods=None)``
    Online steps on samples with missing values (see
    :func:`minisam.reference.masked_train_online`): the winner over the observed features
    (sums in float64; ties: lowest index), the influence ``alphas[t] * h`` of neighbourhood
    code ``kind`` at the (minimum-image) offset of ``coords``, applied to the observed
    components only, as ``w += T(g * (v - w))``; nodes with ``|g| < skip_below`` are skipped.

    ``train_online(..., tables=(xtab, ytab, xpos, ypos, ycode))`` with ``kind`` 5
    (``'tabulated'``): the influence of winner ``b`` on node ``k`` at step ``t`` is
    ``xtab[t, |xpos[k] - xpos[b]|] * ytab[t, ycode[ypos[k], ypos[b]]]`` (float64 tables with
    one row per step, int64 positions and codes), multiplied by ``alphas[t]`` in that order;
    ``sigmas`` and ``coords`` are then unused. The MiniSom drop-in supplies MiniSom's gaussian
    this way, its factors computed by NumPy, so that influences are bitwise MiniSom's.

``train_online_metric(weights, data, order, alphas, xnorms, metric, skip_below, n_threads,
tables)``
    ``len(order)`` online steps in place like ``train_online`` with ``kind`` 5 (the
    influence of winner ``b`` on node ``k`` at step ``t`` is ``(xtab[t, |xpos[k] - xpos[b]|] *
    ytab[t, ycode[ypos[k], ypos[b]]]) * alphas[t]``, skipped below ``skip_below`` in
    magnitude), but the winner of a step is the first node at the least distance ``metric``
    (1 cosine, 2 Manhattan, 3 Chebyshev: :data:`minisam._minisom_core.METRIC_CODES`), computed
    as MiniSom 2.3.6 computes it in NumPy: cosine ``1 - (w . x) / (|w| * xnorms[i] + 1e-8)``
    with ``w . x`` and ``|w|^2`` summed over the features in NumPy's pairwise order (each
    product rounded, no FMA) and ``xnorms[i]`` the float64 ``np.linalg.norm`` of sample ``i``
    (a BLAS dot, given by the caller); Manhattan ``sum |x - w|`` (pairwise order); Chebyshev
    ``max |x - w|``. The final cosine expression is evaluated in float64 for float64 weights.
    With ``n_threads > 1`` the nodes are split among threads that agree on every winner; the
    result does not depend on the thread count.

``bmu_metric(weights, data, xnorms, metric, index_out, n_threads)``
    The winner of every row of ``data`` by the distance ``metric`` (as in
    ``train_online_metric``; ``xnorms`` one float64 norm per row, read for the cosine only)
    into ``index_out``; rows split across ``n_threads`` threads.
"""

from __future__ import annotations

import numpy as np

from minisam import _processes, _smoothing
from minisam._blas import find_blas, single_threaded_blas
from minisam.backends.base import Backend
from minisam.topology import separable_columns

__all__ = ["NEIGHBOURHOOD_CODES", "CompiledBackend", "kernel_periods", "skip_threshold"]

#: Neighbourhood function codes understood by every kernel.
NEIGHBOURHOOD_CODES = {
    "gaussian": 0,  # exp(-d2 / (2 sigma^2))
    "bubble": 1,  # 1 if d2 <= sigma^2 else 0
    "mexican_hat": 2,  # exp(-d2 / c) * (1 - 2 d2 / c), c = 2 sigma^2 (can be negative)
    "minisom_bubble": 3,  # 1 if |dx| < sigma and |dy| < sigma else 0 (MiniSom's bubble)
    "triangle": 4,  # max(0, sigma - |dx|) * max(0, sigma - |dy|)
    "tabulated": 5,  # factors from caller-supplied tables (see below)
}

#: Rows of ``data`` per GEMM call: large enough for BLAS efficiency, small enough that the
#: ``chunk x n_nodes`` score block stays in the last-level cache.
DEFAULT_CHUNK = 256


def skip_threshold(dtype) -> float:
    """Influence below which an online update cannot change a weight of typical magnitude.

    A change ``g * (v - w)`` with ``g < eps / 8`` is under half an ulp of any weight whose
    magnitude is at least a quarter of ``|v - w|``; it is skipped. Elsewhere (weights near zero)
    the skipped change is below ``eps / 8 * |v - w|`` in absolute terms, far inside the
    tolerance the tests hold kernels to.
    """
    return float(np.finfo(dtype).eps) / 8.0


class CompiledBackend(Backend):
    """Backend interface implemented on top of a kernel module (see the module docstring)."""

    #: The kernel module (set by subclasses).
    kernels = None
    chunk = DEFAULT_CHUNK

    def __init__(self, n_threads: int = 1) -> None:
        super().__init__(n_threads)
        self._blas = find_blas()

    def _threads(self) -> int:
        """Threads for the next kernel call: ``n_threads``, or one in a process forked after
        kernels ran (see :mod:`minisam._processes`)."""
        return _processes.kernel_threads(self.n_threads)

    def _gemm(self, dtype) -> tuple[int, bool]:
        if self._blas is None:
            return 0, False
        return self._blas.gemm_address(dtype), self._blas.ilp64

    def _search(self, weights, data, with_second):
        n = data.shape[0]
        index = np.empty(n, dtype=np.int64)
        d2 = np.empty(n, dtype=weights.dtype)
        second = np.empty(n if with_second else 0, dtype=np.int64)
        wnorm = np.einsum("kd,kd->k", weights, weights)
        with single_threaded_blas(self._blas):
            self.kernels.bmu_search(weights, wnorm, data, index, d2, second, self.chunk,
                                    self._search_threads(n, *weights.shape),
                                    *self._gemm(weights.dtype))
        return index, d2, second

    def bmu_many(self, weights, data):
        index, d2, _ = self._search(weights, data, False)
        return index, d2

    def top2_many(self, weights, data):
        index, _, second = self._search(weights, data, True)
        return index, second

    def train_online(self, weights, data, order, alphas, sigmas, coords, neighbourhood,
                     periods=None):
        grid_y = separable_columns(coords)
        self.kernels.train_online(weights, data, np.ascontiguousarray(order, dtype=np.int64),
                                  np.ascontiguousarray(alphas, dtype=np.float64),
                                  np.ascontiguousarray(sigmas, dtype=np.float64),
                                  np.ascontiguousarray(coords, dtype=np.float64),
                                  max(grid_y, 1), NEIGHBOURHOOD_CODES[neighbourhood],
                                  grid_y > 0, skip_threshold(weights.dtype),
                                  self._online_threads(weights), periods=kernel_periods(periods))

    def _online_threads(self, weights) -> int:
        """Threads for online training; one unless the map is large enough to pay for them."""
        _processes.kernel_threads(1)
        return 1

    def batch_sums(self, weights, data, sums, counts):
        index, _ = self.bmu_many(weights, data)
        self.kernels.group_sums(data, index, sums, counts,
                                self._search_threads(data.shape[0], *weights.shape))

    def _search_threads(self, n_samples: int, n_nodes: int, n_features: int) -> int:
        """Threads for a winner search or batch epoch over ``n_samples`` rows (see
        :func:`search_threads`)."""
        return search_threads(self._threads(), n_samples, n_nodes, n_features)

    def _masked_search(self, weights, data, with_second):
        n = data.shape[0]
        index = np.empty(n, dtype=np.int64)
        d2 = np.empty(n, dtype=weights.dtype)
        second = np.empty(n if with_second else 0, dtype=np.int64)
        squares = weights * weights
        wnorm = squares.sum(axis=1)
        # The second product needs a GEMM even where the dense search uses its own loops.
        gemm = CompiledBackend._gemm(self, weights.dtype)
        with single_threaded_blas(self._blas):
            self.kernels.masked_bmu_search(weights, wnorm, np.ascontiguousarray(squares.T),
                                           data, index, d2, second, self.chunk,
                                           self._threads(), *gemm)
        return index, d2, second

    def masked_bmu_many(self, weights, data):
        index, d2, _ = self._masked_search(weights, data, False)
        return index, d2

    def masked_top2_many(self, weights, data):
        index, _, second = self._masked_search(weights, data, True)
        return index, second

    def masked_train_online(self, weights, data, order, alphas, sigmas, coords, neighbourhood,
                            periods=None):
        _processes.kernel_threads(1)
        self.kernels.masked_train_online(
            weights, data, np.ascontiguousarray(order, dtype=np.int64),
            np.ascontiguousarray(alphas, dtype=np.float64),
            np.ascontiguousarray(sigmas, dtype=np.float64),
            np.ascontiguousarray(coords, dtype=np.float64), NEIGHBOURHOOD_CODES[neighbourhood],
            skip_threshold(weights.dtype), 1, periods=kernel_periods(periods))

    def masked_batch_sums(self, weights, data, sums, counts):
        index, _ = self.masked_bmu_many(weights, data)
        self.kernels.masked_group_sums(data, index, sums, counts, self._threads())

    def batch_update(self, weights, sums, counts, alpha, sigma, coords, neighbourhood,
                     periods=None):
        # The smoothing products are small; multithreaded OpenBLAS would leave its workers
        # spinning for ~0.1 s afterwards, stealing a core from the next kernel.
        with single_threaded_blas(self._blas):
            _smoothing.apply_batch_rule(weights, sums, counts, alpha, sigma, coords,
                                        neighbourhood, periods)


def kernel_periods(periods) -> np.ndarray | None:
    """``periods`` as the kernels take them: None for a planar map, else a float64 pair."""
    if periods is None or not any(p > 0 for p in periods):
        return None
    return np.ascontiguousarray(periods, dtype=np.float64)


#: Smallest ``n_samples * n_nodes * n_features`` for which winner searches and batch epochs
#: use more than one thread. Measured on the 2-core Zen 4 VM (float64, Cython via the auto
#: backend, medians of 7 interleaved runs; asv: ``benchmarks/bench_dropin.py`` SmallSearch), ms
#: for one batch epoch of ``MiniSam.train_batch`` and one ``bmu_many``, 1 -> 2 threads, before
#: this threshold, on a machine shared with other jobs (load average 4):
#:   N=200   K=100  D=8  (1.6e5):  epoch 0.25 -> 0.26 ; bmu 0.06 -> 0.06
#:   N=1000  K=100  D=16 (1.6e6):  epoch 0.71 -> 23.5 ; bmu 0.26 -> 31.5
#:   N=2000  K=400  D=16 (1.3e7):  epoch 1.67 -> 23.9 ; bmu 13.3 -> 15.4
#:   N=500   K=2500 D=64 (8.0e7):  epoch 15.5 -> 27.5 ; bmu 8.2 -> 26.0
#:   N=20000 K=400  D=16 (1.3e8):  epoch 20.7 -> 37.3 ; bmu 15.8 -> 31.6
#:   N=5000  K=900  D=32 (1.4e8):  epoch 26.3 -> 37.7 ; bmu 17.8 -> 35.4
#:   N=2000  K=2500 D=64 (3.2e8):  epoch 56.7 -> 63.9 ; bmu 41.4 -> 50.7
#:   N=10000 K=2500 D=64 (1.6e9):  epoch 201 -> 207  ; bmu 169 -> 170
#: (issue 16 measured 1.5x slower with 2 threads at 3.2e8 on a quiet machine, and the
#: 100,000-sample epochs of the README, 2.6e10 and up, gain from 2 threads). A second
#: thread never paid below 1e9 here; from 2^30 (1.07e9) on, all threads are used.
SEARCH_PARALLEL_MIN_WORK = 1 << 30


def search_threads(n_threads: int, n_samples: int, n_nodes: int, n_features: int) -> int:
    """``n_threads``, or one when the work ``n_samples * n_nodes * n_features`` is below
    :data:`SEARCH_PARALLEL_MIN_WORK`. Results never depend on it."""
    if n_threads > 1 and n_samples * n_nodes * n_features < SEARCH_PARALLEL_MIN_WORK:
        return 1
    return n_threads
