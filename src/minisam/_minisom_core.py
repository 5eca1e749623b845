"""Building blocks of the MiniSom drop-in (:mod:`minisam.minisom`).

Everything here is plain NumPy and has no model state:

* the decay schedules MiniSom offers, written so that they evaluate elementwise on arrays of
  step numbers and give, value for value, what a scalar call gives;
* the activation distances, for one sample against the ``(x, y, input_len)`` weights (MiniSom's
  ``activate``) and for many samples at once (best-matching units in chunks, never an
  ``n_samples x n_nodes`` matrix);
* the sample order of online training, drawn from a ``numpy.random.RandomState`` exactly as
  MiniSom 2.3.6 draws it (same calls, so the generator ends in the same state);
* a progress line for ``verbose=True``.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

import numpy as np

from minisam import _slicing, reference

__all__ = [
    "BUILTIN_DISTANCES",
    "EmptyDataError",
    "check_data_shape",
    "GaussianTables",
    "Progress",
    "asymptotic_decay",
    "bmu_by_distance",
    "cosine_distance",
    "chebyshev_distance",
    "euclidean_bmu",
    "euclidean_distance",
    "group_sums",
    "has_duplicate_rows",
    "online_kernel",
    "inverse_decay_to_one",
    "inverse_decay_to_zero",
    "iteration_indexes",
    "linear_decay_to_one",
    "linear_decay_to_zero",
    "manhattan_distance",
    "IndexTables",
    "METRIC_CODES",
    "metric_bmu",
    "metric_kernel",
    "sample_norms",
    "train_online_metric_reference",
    "refine_euclidean_winners",
]

#: Largest number of elements of a temporary ``(rows, n_nodes, n_features)`` block.
BLOCK_ELEMENTS = 1 << 21


class EmptyDataError(ValueError, IndexError):
    """Raised for data without samples.

    MiniSom fails on empty data with an ``IndexError`` (it reads ``data[0]``); this error is
    also a ``ValueError``, like every other data check of the drop-in.
    """


def check_data_shape(shape: tuple, input_len: int) -> None:
    """Refuse a data ``shape`` that is not ``(n_samples >= 1, input_len)``, with the drop-in's
    errors (MiniSom's message for a wrong feature count)."""
    if len(shape) == 0:
        raise TypeError("data must be a 2-D array of samples, got a scalar")
    if shape[0] == 0:
        raise EmptyDataError("data must contain at least one sample")
    if len(shape) == 1:
        raise TypeError(f"data must be a 2-D array of samples (n_samples, {input_len}), got a "
                        f"1-D array of shape {shape}")
    if shape[1] != input_len:
        raise ValueError(f'Received {shape[1]} features, expected {input_len}: data has '
                         f'shape {shape}.')
    if len(shape) != 2:
        raise ValueError(f"data must be a 2-D array of samples, got shape {shape}")


# ----------------------------------------------------------------------------- decay schedules
# Each takes the initial value, the step (or epoch) number ``t`` and the number of steps; ``t``
# may be an int or a float64 array. The operations and their order are fixed: evaluating on an
# array gives exactly the values of scalar calls.
def inverse_decay_to_zero(learning_rate, t, max_iter):
    """``learning_rate * C / (C + t)`` with ``C = max_iter / 100``: tends to zero."""
    c = max_iter / 100.0
    return learning_rate * c / (c + t)


def linear_decay_to_zero(learning_rate, t, max_iter):
    """``learning_rate * (1 - t / max_iter)``: reaches zero at ``t = max_iter``."""
    return learning_rate * (1 - t / max_iter)


def inverse_decay_to_one(sigma, t, max_iter):
    """``sigma / (1 + t * C)`` with ``C = (sigma - 1) / max_iter``: tends to one."""
    c = (sigma - 1) / max_iter
    return sigma / (1 + (t * c))


def linear_decay_to_one(sigma, t, max_iter):
    """``sigma + t * (1 - sigma) / max_iter``: reaches one at ``t = max_iter``."""
    return sigma + (t * (1 - sigma) / max_iter)


def asymptotic_decay(value, t, max_iter):
    """``value / (1 + 2 t / max_iter)``: a third of ``value`` at ``t = max_iter``."""
    return value / (1 + t / (max_iter / 2))


# ----------------------------------------------------------------------------- distances
# One sample ``x`` (anything that broadcasts against the last axis) against weights ``w`` of shape
# (..., input_len); the result has the shape of ``w`` without its last axis.
def euclidean_distance(x, w):
    """``|x - w|_2`` for every node."""
    return np.linalg.norm(np.subtract(x, w), axis=-1)


def cosine_distance(x, w):
    """``1 - x.w / (|x| |w| + 1e-8)`` for every node (MiniSom's guarded cosine distance)."""
    dots = (w * x).sum(axis=2)
    norms = np.multiply(np.linalg.norm(w, axis=2), np.linalg.norm(x))
    return 1 - dots / (norms + 1e-8)


def manhattan_distance(x, w):
    """``sum |x - w|`` for every node."""
    return np.linalg.norm(np.subtract(x, w), ord=1, axis=-1)


def chebyshev_distance(x, w):
    """``max |x - w|`` for every node (the Chebyshev distance; MiniSom 2.3.6 omits ``abs``)."""
    return np.max(np.abs(np.subtract(x, w)), axis=-1)


BUILTIN_DISTANCES = ("euclidean", "cosine", "manhattan", "chebyshev")


def _block_rows(n_nodes: int, n_features: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, n_nodes * n_features))


def bmu_by_distance(kind: str, weights: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Index of the node nearest to each row of ``data`` under the built-in distance ``kind``
    (``'cosine'``, ``'manhattan'`` or ``'chebyshev'``); ties go to the lowest index.

    ``weights`` is ``(n_nodes, n_features)``, ``data`` ``(n_samples, n_features)``, both float64.
    Every distance is computed with the operations of the one-sample functions above, so the
    winners are exactly those of ``argmin(distance(x, weights))`` sample by sample. Works on
    blocks of rows: memory stays bounded whatever ``n_samples``.
    """
    n_nodes, n_features = weights.shape
    n = data.shape[0]
    out = np.empty(n, dtype=np.int64)
    rows = _block_rows(n_nodes, n_features)
    if kind == "cosine":
        wnorm = np.linalg.norm(weights, axis=1)
    for start in range(0, n, rows):
        block = data[start:start + rows]
        if kind == "cosine":
            dots = (weights[None, :, :] * block[:, None, :]).sum(axis=2)
            xnorm = np.array([np.linalg.norm(x) for x in block])
            dist = 1 - dots / (np.multiply(wnorm[None, :], xnorm[:, None]) + 1e-8)
        elif kind == "manhattan":
            dist = np.abs(block[:, None, :] - weights[None, :, :]).sum(axis=2)
        elif kind == "chebyshev":
            dist = np.abs(block[:, None, :] - weights[None, :, :]).max(axis=2)
        else:
            raise ValueError(f"unknown distance {kind!r}")
        out[start:start + block.shape[0]] = np.argmin(dist, axis=1)
    return out


#: Largest magnitude searched in float32: squares and their sums stay far from overflow.
FLOAT32_SEARCH_LIMIT = 1e15


def euclidean_bmu(backend, weights: np.ndarray, data: np.ndarray):
    """Best-matching unit of every sample, exactly ``argmin(np.linalg.norm(x - weights,
    axis=1))`` (ties included), and the squared distance to it, both for float64 inputs.

    The backend's compiled search runs in float32 (twice the speed of float64) on blocks of
    samples and returns each sample's best and second-best node by its rounded scores. A
    rigorous bound on the rounding of those scores (see :func:`refine_euclidean_winners`)
    proves the float32 winner right for nearly every sample; the few that come too close to a
    tie are decided by the exact float64 formula. Data or weights too large for float32 are
    searched in float64, with the same check. Blocks are the row slices of
    :func:`minisam._slicing.search_rows` (bounded work per kernel call, and memory).
    """
    n = data.shape[0]
    index = np.empty(n, dtype=np.int64)
    d2 = np.empty(n)
    def magnitude(a):  # max |a| without an |a| temporary
        return max(float(np.max(a)), -float(np.min(a))) if a.size else 0.0

    use32 = max(magnitude(weights), magnitude(data)) <= FLOAT32_SEARCH_LIMIT

    def exact(w, rows):
        return _exact_euclidean(backend, w, rows)

    def settle(w, rows):
        # the float32 near ties: searched again in float64 (a bound 2^29 times tighter),
        # whose own near ties go to the exact formula
        first, second = backend.top2_many(w, np.ascontiguousarray(rows))
        return refine_euclidean_winners(w, rows, first, second, 2.0 ** -53, exact)[0]

    search_weights = weights.astype(np.float32) if use32 else weights
    unit = 2.0 ** -24 if use32 else 2.0 ** -53
    for start, stop in _slicing.spans(0, n, _slicing.search_rows(*weights.shape)):
        block = data[start:stop]
        searched = block.astype(np.float32) if use32 else block
        first, second = backend.top2_many(search_weights, searched)
        index[start:start + len(block)], d2[start:start + len(block)] = \
            refine_euclidean_winners(weights, block, first, second, unit,
                                     settle if use32 else exact)
    return index, d2


def _exact_euclidean(backend, weights: np.ndarray, rows: np.ndarray):
    """``argmin(np.linalg.norm(x - weights, axis=1))`` of every row, on the backend's
    compiled ``bmu_metric`` (code 0) when it has one; None otherwise."""
    engine = metric_kernel(backend, "bmu_many")
    if engine is None:
        return None
    kernels, compiled = engine
    index = np.empty(len(rows), dtype=np.int64)
    kernels.bmu_metric(weights, np.ascontiguousarray(rows), np.zeros(len(rows)), 0, index,
                       compiled._search_threads(len(rows), *weights.shape))
    return index


def refine_euclidean_winners(weights: np.ndarray, data: np.ndarray, first: np.ndarray,
                             second: np.ndarray, unit: float, exact_search=None):
    """Make a fast best-matching-unit search agree exactly with
    ``argmin(np.linalg.norm(x - weights, axis=1))``; return ``(winners, squared distances)``.

    ``first`` and ``second`` are each sample's best and second-best nodes by scores
    ``|w|^2 - 2 x.w`` computed in a precision of unit roundoff ``unit`` (inputs rounded to it
    included). Every such score is within ``E = 2 (D + 8) unit (|x|^2 + 2 max |w|^2)`` of its
    exact value. If the exact squared distances satisfy ``d(second) - d(first) > 2 E``, no
    other node can be nearer than ``first`` (it would have to score within ``2 E`` of it, and
    so would ``second``). The remaining samples, near ties, are decided by the exact formula
    (lowest index among equal rounded distances): by ``exact_search(weights, rows)`` when it
    is given and returns their winners (a compiled kernel computing the formula bitwise; maps
    whose nodes nearly coincide, e.g. after batch steps at a learning rate near 1, can make
    most samples near ties), else sample by sample in NumPy.
    """
    n_nodes, n_features = weights.shape
    n = data.shape[0]
    d_first = np.empty(n)
    wmax = float(np.max(np.einsum("kd,kd->k", weights, weights))) if n_nodes else 0.0
    near_ties = []
    rows = 2048  # small blocks: temporaries stay in cache and are not page-faulted in anew
    for start in range(0, n, rows):
        block = data[start:start + rows]
        diff = block - weights[first[start:start + rows]]
        d1 = np.einsum("nd,nd->n", diff, diff)
        d_first[start:start + rows] = d1
        if n_nodes == 1:
            continue
        diff = block - weights[second[start:start + rows]]
        d2 = np.einsum("nd,nd->n", diff, diff)
        scale = np.einsum("nd,nd->n", block, block) + 2.0 * wmax
        error = 2.0 * (n_features + 8) * unit * scale + 2.0 ** -120 * (n_features + 8)
        # twice the score error, plus the float64 rounding of the exact d's (a few ulps)
        bound = 2.0 * error + 4.0 * (n_features + 2) * 2.0 ** -53 * d2
        near_ties.append(start + np.flatnonzero(d2 - d1 <= bound))
    ties = np.concatenate(near_ties) if near_ties else np.empty(0, dtype=np.int64)
    exact = exact_search(weights, data[ties]) if (ties.size and exact_search) else None
    if exact is not None:
        first[ties] = exact
        for start in range(0, ties.size, rows):
            part = ties[start:start + rows]
            diff = data[part] - weights[first[part]]
            d_first[part] = np.einsum("nd,nd->n", diff, diff)
        return first, d_first
    for r in ties:
        dist = np.linalg.norm(data[r] - weights, axis=-1)
        first[r] = np.argmin(dist)
        diff_r = data[r] - weights[first[r]]
        d_first[r] = diff_r @ diff_r
    return first, d_first


def group_sums(data: np.ndarray, index: np.ndarray, n_nodes: int, compiled: bool = True):
    """Per-node sums (float64 ``(n_nodes, n_features)``) and counts of the samples each node
    wins, every node adding its samples in data order."""
    sums = np.zeros((n_nodes, data.shape[1]))
    counts = np.zeros(n_nodes)
    if compiled:
        try:
            from minisam import _cython_kernels
        except ImportError:
            pass
        else:
            _cython_kernels.group_sums(data, np.ascontiguousarray(index, dtype=np.int64), sums,
                                       counts, 1)
            return sums, counts
    np.add.at(sums, index, data)
    counts[:] = np.bincount(index, minlength=n_nodes)
    return sums, counts


class GaussianTables:
    """MiniSom's gaussian as the kernels' ``'tabulated'`` neighbourhood.

    MiniSom evaluates ``exp(-(xx - xx_c)^2 / d) * exp(-(yy - yy_c)^2 / d)`` (``d = 2 sigma^2``)
    on its node positions. On a hexagonal map ``xx`` holds integers and half-integers, so
    ``|xx - xx_c|`` is ``m / 2`` for an integer ``m`` (``xpos`` holds ``2 xx``), and ``yy``
    depends on the column ``j`` only, so ``(yy - yy_c)^2`` takes one of a few values per pair of
    columns (``ycode``). The factors for each step are computed here with NumPy's ``exp`` on
    exactly MiniSom's arguments, hence bitwise MiniSom's influences. On a torus the offsets
    are minimum images (MiniSom has no torus; the factors are still NumPy's ``exp``).
    """

    def __init__(self, xpos, ypos, ycode, dx, dy2):
        self.xpos = xpos
        self.ypos = ypos
        self.ycode = ycode
        self.dx = dx
        self.dy2 = dy2
        #: Steps per kernel call, keeping the tables near 16 MiB.
        self.steps_per_call = max(1, (1 << 21) // (len(dx) + len(dy2)))

    @classmethod
    def for_positions(cls, px: np.ndarray, py: np.ndarray, periods=None):
        """Tables for the ``(x, y)`` position grids ``px``, ``py`` (axis ``periods`` on a
        torus); None unless laid out as MiniSom lays them out (``2 px`` integral, ``py``
        constant along ``x``)."""
        twice = 2 * px
        if not (np.array_equal(twice, np.round(twice)) and (py == py[:1, :]).all()):
            return None
        x_size, y_size = px.shape
        xpos = np.round(twice).astype(np.int64).ravel()
        columns = py[0]
        column_offsets = columns[:, None] - columns[None, :]
        dx = np.arange(int(xpos.max() - xpos.min()) + 1) / 2
        if periods is not None:
            column_offsets = reference.wrap_axis(column_offsets, periods[1])
            dx = reference.wrap_axis(dx, periods[0])
        squares = np.power(column_offsets, 2)
        dy2, ycode = np.unique(squares, return_inverse=True)
        ypos = np.tile(np.arange(y_size, dtype=np.int64), x_size)
        return cls(np.ascontiguousarray(xpos), ypos,
                   np.ascontiguousarray(ycode.reshape(y_size, y_size), dtype=np.int64), dx, dy2)

    def tables(self, sigmas: np.ndarray):
        """``(xtab, ytab, xpos, ypos, ycode)`` for steps with radii ``sigmas``."""
        d = (2 * sigmas * sigmas)[:, None]
        xtab = np.exp(-np.power(self.dx, 2)[None, :] / d)
        ytab = np.exp(-self.dy2[None, :] / d)
        return xtab, ytab, self.xpos, self.ypos, self.ycode


def online_kernel(backend):
    """``(kernel module, engine)`` that runs ``backend``'s online training, or ``None`` when
    it is the NumPy reference (which applies every update, however small)."""
    route = getattr(backend, "_route", None)  # AutoBackend: the engine it sends the call to
    engine = route["train_online"] if isinstance(route, dict) else backend
    kernels = getattr(engine, "kernels", None)
    if kernels is None or not hasattr(engine, "_online_threads"):
        return None
    return kernels, engine


def has_duplicate_rows(weights: np.ndarray) -> bool:
    """Whether two rows of ``weights`` are exactly equal."""
    return np.unique(weights, axis=0).shape[0] < weights.shape[0]


def euclidean_block_distances(weights: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``(rows, n_nodes)`` Euclidean distances, from the differences (no cancellation)."""
    return np.linalg.norm(block[:, None, :] - weights[None, :, :], axis=2)


def block_rows(n_nodes: int, n_features: int) -> int:
    """Rows per block for ``(rows, n_nodes, n_features)`` temporaries."""
    return _block_rows(n_nodes, n_features)


# ----------------------------------------------------------------------------- sample order
def iteration_indexes(data_len: int, num_iterations: int, random_generator=None,
                      use_epochs: bool = False) -> np.ndarray:
    """Sample index of every online step, drawn as MiniSom 2.3.6 draws it.

    Without epochs: ``t % data_len`` for ``t < num_iterations``, shuffled in place by
    ``random_generator`` if one is given (so every sample appears about equally often). With
    epochs: one permutation of ``range(data_len)`` (shuffled if a generator is given), repeated
    ``num_iterations`` times. The generator is consumed exactly as MiniSom consumes it.
    """
    if use_epochs:
        per_epoch = np.arange(data_len)
        if random_generator is not None:
            random_generator.shuffle(per_epoch)
        return np.tile(per_epoch, num_iterations)
    order = np.arange(num_iterations) % data_len
    if random_generator is not None:
        random_generator.shuffle(order)
    return order


# ----------------------------------------------------------------------------- progress
class Progress:
    """MiniSom-style progress line on stdout: ``[ i / m ] p% - time left``."""

    def __init__(self, total: int) -> None:
        self.total = int(total)
        self.digits = len(str(self.total))
        self.start = time.time()
        sys.stdout.write(f"\r [ {0:{self.digits}} / {self.total} ]   0% - ? it/s")

    def update(self, done: int) -> None:
        elapsed = time.time() - self.start
        left = (self.total - done) * elapsed / max(done, 1)
        left_text = str(timedelta(seconds=left))[:7]
        percent = 100 * done / self.total
        sys.stdout.write(f"\r [ {done:{self.digits}} / {self.total} ] {percent:3.0f}%"
                         f" - {left_text} left ")
        sys.stdout.flush()


# ----------------------------------------------------------------------------- other distances
# The cosine, Manhattan and Chebyshev distances on the compiled kernels (``train_online_metric``
# and ``bmu_metric`` of the kernel contract, minisam.backends.compiled).

#: Distance code of each built-in distance the ``*_metric`` kernels compute.
METRIC_CODES = {"cosine": 1, "manhattan": 2, "chebyshev": 3}


def sample_norms(data: np.ndarray) -> np.ndarray:
    """``np.linalg.norm(x)`` of every row, computed by that very call (a BLAS dot for a 1-D
    array, whose order of summation no other NumPy reduction reproduces), so that the cosine
    kernels divide by bitwise the norm MiniSom's ``_cosine_distance`` uses."""
    return np.fromiter((np.linalg.norm(x) for x in data), dtype=np.float64, count=len(data))


class IndexTables:
    """MiniSom's bubble and triangle as the kernels' ``'tabulated'`` neighbourhood.

    Both are outer products of a factor of the row offset ``|i - c_i|`` and one of the column
    offset ``|j - c_j|`` (minimum images on a torus): the bubble ``1`` where the offset is
    below ``sigma`` (MiniSom's open interval ``c - sigma < i < c + sigma``), the triangle
    ``max(0, sigma - offset)``, as :meth:`minisam.MiniSom._bubble` and ``_triangle``
    evaluate them, so influences are bitwise those of the drop-in's NumPy path.
    """

    def __init__(self, name: str, x_size: int, y_size: int, toroidal: bool):
        self.name = name
        self.dx = np.arange(x_size, dtype=np.float64)
        self.dy = np.arange(y_size, dtype=np.float64)
        if toroidal:
            self.dx = reference.wrap_axis(self.dx, x_size)
            self.dy = reference.wrap_axis(self.dy, y_size)
        self.xpos = np.repeat(np.arange(x_size, dtype=np.int64), y_size)
        self.ypos = np.tile(np.arange(y_size, dtype=np.int64), x_size)
        jj = np.arange(y_size)
        self.ycode = np.ascontiguousarray(np.abs(jj[:, None] - jj[None, :]), dtype=np.int64)
        self.steps_per_call = max(1, (1 << 21) // (x_size + y_size))

    def _factor(self, offsets, sigmas):
        sig = sigmas[:, None]
        if self.name == "minisom_bubble":
            return (offsets[None, :] < sig) * 1.
        tri = -offsets[None, :] + sig
        tri[tri < 0] = 0.
        return tri

    def tables(self, sigmas: np.ndarray):
        """``(xtab, ytab, xpos, ypos, ycode)`` for steps with radii ``sigmas``."""
        return (self._factor(self.dx, sigmas), self._factor(self.dy, sigmas), self.xpos,
                self.ypos, self.ycode)


def metric_kernel(backend, operation: str = "train_online"):
    """``(kernel module, engine)`` of ``backend`` whose compiled kernels compute the other
    distances for ``operation`` (``'train_online'`` or ``'bmu_many'``), else None."""
    route = getattr(backend, "_route", None)
    engine = route[operation] if isinstance(route, dict) else backend
    kernels = getattr(engine, "kernels", None)
    if kernels is None or not hasattr(kernels, "bmu_metric"):
        return None
    return kernels, engine


def metric_bmu(backend, kind: str, weights: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Winners of ``data`` under the built-in distance ``kind`` (``'cosine'``,
    ``'manhattan'``, ``'chebyshev'``), exactly those of :func:`bmu_by_distance`: on the
    backend's compiled kernel when it has one, in row slices."""
    engine = metric_kernel(backend, "bmu_many")
    if engine is None:
        return bmu_by_distance(kind, weights, data)
    kernels, compiled = engine
    n = data.shape[0]
    index = np.empty(n, dtype=np.int64)
    norms = sample_norms(data) if kind == "cosine" else np.zeros(n)
    threads = compiled._search_threads(n, *weights.shape)
    for start, stop in _slicing.spans(0, n, _slicing.search_rows(*weights.shape)):
        kernels.bmu_metric(weights, np.ascontiguousarray(data[start:stop]), norms[start:stop],
                           METRIC_CODES[kind], index[start:stop], threads)
    return index


def train_online_metric_reference(weights, data, order, alphas, kind, tables):
    """NumPy reference of the ``train_online_metric`` kernels: the online steps ``order`` on
    the ``(n_nodes, n_features)`` ``weights`` (in place), winners by the distance ``kind``
    (this module's one-sample functions), influences from ``tables`` (the ``'tabulated'``
    neighbourhood: see :mod:`minisam.backends.compiled`), every update applied."""
    functions = {"cosine": cosine_distance, "manhattan": manhattan_distance,
                 "chebyshev": chebyshev_distance}
    xtab, ytab, xpos, ypos, ycode = tables
    w3 = weights[:, None, :]
    for t, sample in enumerate(order):
        x = data[sample]
        dist = functions[kind](x, w3)[:, 0]
        b = int(np.argmin(dist))
        g = (xtab[t, np.abs(xpos - xpos[b])] * ytab[t, ycode[ypos, ypos[b]]]) * alphas[t]
        weights += g[:, None] * (x - weights)
