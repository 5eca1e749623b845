"""Numba kernels of minisam (the kernel contract of :mod:`minisam.backends.compiled`).

The functions at the bottom are the contract's entry points; each forwards to a jitted
implementation. Thread counts are applied by the caller (:class:`NumbaBackend`) with
``numba.set_num_threads``; kernels only split work with ``prange``.

Numba cannot link a BLAS of its own without SciPy, so the GEMM of the best-matching-unit search
is called through its address (found by :mod:`minisam._blas`) with a small LLVM intrinsic. The
address is a run-time argument, which keeps the compiled code cacheable across processes.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic

__all__ = ["SERIAL", "bmu_search", "group_sums", "masked_bmu_search", "masked_group_sums",
           "masked_train_online", "train_online"]


def _jit(**options):
    """``numba.njit`` with on-disk caching, or without it where no cache dir is writable."""

    def decorate(function):
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(cache=False, **options)(function)

    return decorate


# ----------------------------------------------------------------------------- GEMM by address
@intrinsic
def _cblas_gemm(typingctx, address, m, n, k, a_ptr, lda, b_ptr, ldb, c_ptr, ldc, scalar):
    """Call ``cblas_?gemm(RowMajor, NoTrans, Trans, m, n, k, -2, A, lda, B, ldb, 0, C, ldc)``.

    The integer width of ``m`` (int32 or int64) selects LP64 or ILP64 and the type of
    ``scalar`` (float32 or float64) selects sgemm or dgemm.
    """
    sig = types.void(address, m, n, k, a_ptr, lda, b_ptr, ldb, c_ptr, ldc, scalar)

    def codegen(context, builder, signature, args):
        int_t = context.get_value_type(signature.args[1])
        float_t = context.get_value_type(signature.args[10])
        enum_t = ir.IntType(32)
        ptr_t = ir.IntType(8).as_pointer()
        fn_t = ir.FunctionType(ir.VoidType(), [enum_t, enum_t, enum_t, int_t, int_t, int_t,
                                               float_t, ptr_t, int_t, ptr_t, int_t, float_t,
                                               ptr_t, int_t])
        fn = builder.inttoptr(args[0], fn_t.as_pointer())
        addr, m_, n_, k_, a_, lda_, b_, ldb_, c_, ldc_, _ = args
        builder.call(fn, [
            enum_t(101), enum_t(111), enum_t(112), m_, n_, k_, float_t(-2.0),
            builder.inttoptr(a_, ptr_t), lda_, builder.inttoptr(b_, ptr_t), ldb_, float_t(0.0),
            builder.inttoptr(c_, ptr_t), ldc_,
        ])
        return context.get_dummy_value()

    return sig, codegen


@_jit(nogil=True)
def _gemm_scores(gemm, ilp64, weights, data, start, rows, scores):
    """``scores[:rows] = -2 data[start:start+rows] weights^T`` via BLAS or plain loops."""
    n_nodes, n_features = weights.shape
    one = weights.dtype.type(1.0)
    if gemm != 0:
        a = data.ctypes.data + start * n_features * data.itemsize
        if ilp64:
            _cblas_gemm(gemm, np.int64(rows), np.int64(n_nodes), np.int64(n_features), a,
                        np.int64(n_features), weights.ctypes.data, np.int64(n_features),
                        scores.ctypes.data, np.int64(n_nodes), one)
        else:
            _cblas_gemm(gemm, np.int32(rows), np.int32(n_nodes), np.int32(n_features), a,
                        np.int32(n_features), weights.ctypes.data, np.int32(n_features),
                        scores.ctypes.data, np.int32(n_nodes), one)
        return
    for r in range(rows):
        x = data[start + r]
        for node in range(n_nodes):
            w = weights[node]
            dot = 0.0
            for d in range(n_features):
                dot += x[d] * w[d]
            scores[r, node] = -2.0 * dot


@_jit(nogil=True, fastmath={"nnan", "nsz"})
def _row_min(scores_row, wnorm):
    """Minimum of ``scores_row + wnorm``; fast-math lets LLVM vectorise the reduction."""
    best = np.inf
    for node in range(scores_row.shape[0]):
        best = min(best, scores_row[node] + wnorm[node])
    return best


@_jit(nogil=True)
def _first_equal(scores_row, wnorm, value):
    for node in range(scores_row.shape[0]):
        if scores_row[node] + wnorm[node] == value:
            return node
    return 0  # unreachable for finite scores


@_jit(nogil=True)
def _top2(scores_row, wnorm):
    best = np.inf
    second = np.inf
    best_k = -1
    second_k = -1
    for node in range(scores_row.shape[0]):
        s = scores_row[node] + wnorm[node]
        if s < best:
            second, second_k = best, best_k
            best, best_k = s, node
        elif s < second:
            second, second_k = s, node
    return best_k, second_k


@_jit(nogil=True)
def _exact_d2(x, w):
    total = 0.0
    for d in range(x.shape[0]):
        diff = np.float64(x[d]) - np.float64(w[d])
        total += diff * diff
    return total


@_jit(nogil=True, parallel=True)
def _bmu_search(weights, wnorm, data, index_out, d2_out, second_out, chunk, n_workers, gemm,
                ilp64):
    n_samples = data.shape[0]
    n_nodes = weights.shape[0]
    n_chunks = (n_samples + chunk - 1) // chunk
    want_second = second_out.shape[0] == n_samples
    n_workers = max(1, min(n_workers, n_chunks))
    # One score buffer per worker, reused across its chunks (no allocation per chunk).
    buffers = np.empty((n_workers, chunk, n_nodes), dtype=weights.dtype)
    for worker in prange(n_workers):
        scores = buffers[worker]
        for c in range(worker, n_chunks, n_workers):
            start = c * chunk
            rows = min(chunk, n_samples - start)
            _gemm_scores(gemm, ilp64, weights, data, start, rows, scores)
            for r in range(rows):
                i = start + r
                if want_second:
                    best_k, second_k = _top2(scores[r], wnorm)
                    second_out[i] = second_k
                else:
                    best_k = _first_equal(scores[r], wnorm, _row_min(scores[r], wnorm))
                index_out[i] = best_k
                d2_out[i] = _exact_d2(data[i], weights[best_k])


@_jit(nogil=True, parallel=True)
def _group_sums(data, index, sums_out, counts_out):
    n_samples, n_features = data.shape
    n_nodes = sums_out.shape[0]
    # Stable counting sort of the samples by node, so each node adds its samples in order.
    starts = np.zeros(n_nodes + 1, dtype=np.int64)
    for i in range(n_samples):
        starts[index[i] + 1] += 1
    for node in range(n_nodes):
        starts[node + 1] += starts[node]
    fill = starts[:-1].copy()
    members = np.empty(n_samples, dtype=np.int64)
    for i in range(n_samples):
        members[fill[index[i]]] = i
        fill[index[i]] += 1
    for node in prange(n_nodes):
        counts_out[node] += starts[node + 1] - starts[node]
        acc = sums_out[node]
        for p in range(starts[node], starts[node + 1]):
            x = data[members[p]]
            for d in range(n_features):
                acc[d] += x[d]


@_jit(nogil=True)
def _influence(kind, dx, dy, sigma):
    """Neighbourhood ``kind`` (see ``NEIGHBOURHOOD_CODES``) at grid offset ``(dx, dy)``."""
    if kind == 0:
        return math.exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma))
    if kind == 1:
        return 1.0 if dx * dx + dy * dy <= sigma * sigma else 0.0
    if kind == 2:
        d2 = dx * dx + dy * dy
        c = 2.0 * sigma * sigma
        return math.exp(-d2 / c) * (1.0 - (2.0 / c) * d2)
    if kind == 3:
        return 1.0 if abs(dx) < sigma and abs(dy) < sigma else 0.0
    return max(0.0, sigma - abs(dx)) * max(0.0, sigma - abs(dy))


@_jit(nogil=True)
def _wrap(d, period):
    """Minimum image of the offset ``d`` along an axis of period ``period`` (0: open)."""
    if period > 0.0:
        a = np.fmod(abs(d), period)
        return min(a, period - a)
    return d


@_jit(nogil=True, fastmath={"nnan", "nsz"})
def _min_value(values):
    """Smallest element (values are never NaN).

    Sixteen independent running minima let LLVM turn the loop into vector min instructions;
    a single running minimum is a serial dependency it does not vectorise.
    """
    n = values.shape[0]
    lanes = np.full(16, np.inf, dtype=values.dtype)
    body = n - n % 16
    for i in range(0, body, 16):
        for lane in range(16):
            x = values[i + lane]
            lanes[lane] = x if x < lanes[lane] else lanes[lane]
    best = np.inf
    for lane in range(16):
        best = lanes[lane] if lanes[lane] < best else best
    for i in range(body, n):
        best = values[i] if values[i] < best else best
    return best


@_jit(nogil=True)
def _tie_limit(best):
    """Largest float64 whose square root rounds to ``sqrt(best)``: squared distances up to it
    give the same (rounded) Euclidean distance as ``best``. ``best`` itself when it is not a
    finite non-negative number."""
    m = np.float64(best)
    if not (m >= 0.0 and m < np.inf):
        return m
    s = math.sqrt(m)
    while True:
        n = np.nextafter(m, np.inf)
        if math.sqrt(n) != s:
            return m
        m = n


@_jit(nogil=True)
def _first_min(values):
    """Index of the first element whose square root equals the smallest square root.

    ``values`` are squared distances; the winner is the lowest index among the nodes at the
    least *rounded Euclidean* distance, which is what ``np.argmin(np.linalg.norm(...))`` picks.
    """
    limit = _tie_limit(_min_value(values))
    for k in range(values.shape[0]):
        if values[k] <= limit:
            return k
    return 0


@_jit(nogil=True)
def _influences(g, alpha, sigma, bmu, coords, grid_y, kind, lattice, skip_below, row_f, col_f,
                t, tables, periods, row_pos, row_class, class_offsets):
    """Fill ``g`` with each node's step size ``alpha * h``; return the node range ``[lo, hi)``
    outside which ``g`` is zero.

    On a separable lattice the gaussian factorises into a row and a column factor, so only
    X + 2Y exponentials are needed (the column factor depends on the row through its offset
    class: ``row_class[i]`` indexes ``class_offsets``, one class on a rectangular lattice, two
    on a hexagonal one), and rows (columns) whose factor is below ``skip_below`` even at the
    other factor's maximum of 1 (``alpha``) are left out entirely. Offsets are minimum images
    along the axes with a period. Influences may be negative (mexican hat): what is compared
    with ``skip_below`` is their magnitude.
    """
    n_nodes = g.shape[0]
    if kind == 5:
        xtab, ytab, xpos, ypos, ycode = tables
        xb = xpos[bmu]
        yb = ypos[bmu]
        for k in range(n_nodes):
            step = (xtab[t, abs(xpos[k] - xb)] * ytab[t, ycode[ypos[k], yb]]) * alpha
            g[k] = step if abs(step) >= skip_below else 0.0
        return 0, n_nodes
    if not (lattice and kind == 0):
        bx = coords[bmu, 0]
        by = coords[bmu, 1]
        p0, p1 = periods[0], periods[1]
        for k in range(n_nodes):
            dx = coords[k, 0] - bx
            dy = coords[k, 1] - by
            if p0 > 0.0:  # tested here, not in _wrap: keeps the planar loop vectorisable
                dx = _wrap(dx, p0)
            if p1 > 0.0:
                dy = _wrap(dy, p1)
            step = alpha * _influence(kind, dx, dy, sigma)
            g[k] = step if abs(step) >= skip_below else 0.0
        return 0, n_nodes
    grid_x = n_nodes // grid_y
    bi = bmu // grid_y
    bj = bmu % grid_y
    b_row = row_pos[bi]
    b_offset = class_offsets[row_class[bi]]
    denom = 2.0 * sigma * sigma
    row_lo, row_hi = grid_x, 0
    p0, p1 = periods[0], periods[1]
    for i in range(grid_x):
        dr = row_pos[i] - b_row
        if p0 > 0.0:
            dr = _wrap(dr, p0)
        row_f[i] = alpha * math.exp(-(dr * dr) / denom)
        if abs(row_f[i]) >= skip_below:
            row_lo = min(row_lo, i)
            row_hi = i + 1
    col_lo, col_hi = grid_y, 0
    for c in range(class_offsets.shape[0]):
        shift = class_offsets[c] - b_offset
        for j in range(grid_y):
            dc = shift + (j - bj)
            if p1 > 0.0:
                dc = _wrap(dc, p1)
            col_f[c, j] = math.exp(-(dc * dc) / denom)
            if abs(alpha) * col_f[c, j] >= skip_below:
                col_lo = min(col_lo, j)
                col_hi = max(col_hi, j + 1)
    if row_lo >= row_hi or col_lo >= col_hi:
        return 0, 0
    width = col_hi - col_lo
    cols_same = col_f[0, col_lo:col_hi]  # one slice per step, not per row
    cols_other = col_f[class_offsets.shape[0] - 1, col_lo:col_hi]
    for i in range(row_lo, row_hi):
        factor = row_f[i]
        cols = cols_same if row_class[i] == 0 else cols_other
        start = i * grid_y + col_lo
        segment = g[start:start + width]  # a slice: provably non-negative indices
        for j in range(width):
            segment[j] = factor * cols[j]
    return row_lo * grid_y, row_hi * grid_y


@_jit(nogil=True)
def _measure(row, value, dist):
    """``dist += (row - value) ** 2`` for one feature of a block of nodes."""
    for k in range(row.shape[0]):
        diff = row[k] - value
        dist[k] += diff * diff


@_jit(nogil=True)
def _move_and_measure(row, value, next_value, g, dist):
    """``row += g * (value - row)``, then ``dist += (row - next_value) ** 2``."""
    for k in range(row.shape[0]):
        w = row[k] + g[k] * (value - row[k])
        row[k] = w
        diff = w - next_value
        dist[k] += diff * diff


@_jit(nogil=True)
def _feature(wt, d, v, v_next, g, lo, hi, target):
    """Move feature ``d`` of nodes ``[lo, hi)`` towards ``v[d]`` by ``g`` and add every node's
    squared difference to ``v_next[d]`` into ``target``."""
    row = wt[d]
    # Loops over slices, not index ranges: indices provably >= 0 let LLVM vectorise.
    _measure(row[:lo], v_next[d], target[:lo])
    _move_and_measure(row[lo:hi], v[d], v_next[d], g[lo:hi], target[lo:hi])
    _measure(row[hi:], v_next[d], target[hi:])


@_jit(nogil=True)
def _pairwise_leaf(wt, d0, n, v, v_next, g, lo, hi, out, acc):
    """``out`` = sum over features ``d0 .. d0 + n - 1`` (``n <= 128``) of the squared
    differences, added in NumPy's pairwise order: sequentially below 8 terms, else in 8
    interleaved partial sums combined as ``((0+1)+(2+3))+((4+5)+(6+7))``, then the rest."""
    out[:] = 0.0
    if n < 8:
        for d in range(d0, d0 + n):
            _feature(wt, d, v, v_next, g, lo, hi, out)
        return
    acc[:, :] = 0.0
    body = n - n % 8
    for i in range(body):
        _feature(wt, d0 + i, v, v_next, g, lo, hi, acc[i % 8])
    for k in range(out.shape[0]):
        out[k] = (((acc[0, k] + acc[1, k]) + (acc[2, k] + acc[3, k]))
                  + ((acc[4, k] + acc[5, k]) + (acc[6, k] + acc[7, k])))
    for i in range(body, n):
        _feature(wt, d0 + i, v, v_next, g, lo, hi, out)


def _pairwise_plan(n_features):
    """NumPy's pairwise summation tree over ``n_features`` terms, as rows ``(0, d0, n)``
    (a leaf of at most 128 terms) and ``(1, a, b)`` (sum of rows ``a`` and ``b``), children
    before parents; the last row is the root."""
    rows = []

    def build(d0, n):
        if n <= 128:
            rows.append((0, d0, n))
        else:
            half = n // 2
            half -= half % 8
            a = build(d0, half)
            b = build(d0 + half, n - half)
            rows.append((1, a, b))
        return len(rows) - 1

    build(0, n_features)
    return np.array(rows, dtype=np.int64)


@_jit(nogil=True)
def _pass(wt, v, v_next, g, lo, hi, plan, dist, acc, parts):
    """Update nodes ``[lo, hi)`` and measure every node's squared distance to ``v_next``
    into ``dist``, summed over the features in NumPy's pairwise order."""
    n_features = wt.shape[0]
    if plan.shape[0] == 1:
        _pairwise_leaf(wt, 0, n_features, v, v_next, g, lo, hi, dist, acc)
        return
    for r in range(plan.shape[0]):
        if plan[r, 0] == 0:
            _pairwise_leaf(wt, plan[r, 1], plan[r, 2], v, v_next, g, lo, hi, parts[r], acc)
        else:
            a = plan[r, 1]
            b = plan[r, 2]
            for k in range(dist.shape[0]):
                parts[r, k] = parts[a, k] + parts[b, k]
    dist[:] = parts[plan.shape[0] - 1]


@_jit(nogil=True)
def _train_online_features_major(wt, data, order, alphas, sigmas, coords, grid_y, kind,
                                 lattice, skip_below, plan, tables, periods, row_pos,
                                 row_class, class_offsets):
    """Online steps on a feature-major copy ``wt`` (n_features, n_nodes) of the weights.

    Feature-major layout puts nodes along the SIMD lanes, so both the update and the squared
    distance to the next sample vectorise with one accumulator per node and no horizontal
    reductions. Each step makes one pass over the weights: it updates the nodes that move and
    measures every node against the *next* sample, which yields the next best-matching unit.
    The squared differences are summed in NumPy's pairwise order and the winner is the lowest
    index at the least rounded Euclidean distance, so that for equal weights the choice is
    exactly ``np.argmin(np.linalg.norm(v - weights, axis=1))``, exact ties included.
    """
    n_features, n_nodes = wt.shape
    n_steps = order.shape[0]
    grid_x = max(1, n_nodes // grid_y)
    g = np.zeros(n_nodes, dtype=wt.dtype)
    dist = np.zeros(n_nodes, dtype=wt.dtype)
    acc = np.zeros((8, n_nodes), dtype=wt.dtype)
    parts = np.zeros((plan.shape[0] if plan.shape[0] > 1 else 0, n_nodes), dtype=wt.dtype)
    row_f = np.empty(grid_x)
    col_f = np.empty((class_offsets.shape[0], grid_y))
    first = data[order[0]]
    _pass(wt, first, first, g, 0, 0, plan, dist, acc, parts)
    bmu = _first_min(dist)
    for t in range(n_steps):
        v = data[order[t]]
        v_next = data[order[t + 1]] if t + 1 < n_steps else v
        lo, hi = _influences(g, alphas[t], sigmas[t], bmu, coords, grid_y, kind, lattice,
                             skip_below, row_f, col_f, t, tables, periods, row_pos,
                             row_class, class_offsets)
        _pass(wt, v, v_next, g, lo, hi, plan, dist, acc, parts)
        g[lo:hi] = 0.0
        bmu = _first_min(dist)


# ----------------------------------------------------------------------------- missing values
@_jit(nogil=True)
def _zero_missing(data, start, rows, x0):
    """``x0[:rows] = data[start:start + rows]`` with every NaN (missing value) set to 0."""
    for r in range(rows):
        x = data[start + r]
        out = x0[r]
        for d in range(x.shape[0]):
            out[d] = 0.0 if np.isnan(x[d]) else x[d]


@_jit(nogil=True)
def _drop_missing_norms(x, wsq_t, scores_row):
    """Remove ``w_kd^2`` of every missing feature ``d`` of ``x`` from the row's scores, which
    held ``|w_k|^2 - 2 x0 . w_k``: what remains is the distance over the observed features
    (up to the sample's own ``|x_obs|^2``, the same for every node)."""
    for d in range(x.shape[0]):
        if np.isnan(x[d]):
            column = wsq_t[d]
            for node in range(scores_row.shape[0]):
                scores_row[node] -= column[node]


@_jit(nogil=True)
def _masked_exact_d2(x, w):
    total = 0.0
    for d in range(x.shape[0]):
        if not np.isnan(x[d]):
            diff = np.float64(x[d]) - np.float64(w[d])
            total += diff * diff
    return total


@_jit(nogil=True, parallel=True)
def _masked_bmu_search(weights, wnorm, wsq_t, data, index_out, d2_out, second_out, chunk,
                       n_workers, gemm, ilp64):
    n_samples, n_features = data.shape
    n_nodes = weights.shape[0]
    n_chunks = (n_samples + chunk - 1) // chunk
    want_second = second_out.shape[0] == n_samples
    n_workers = max(1, min(n_workers, n_chunks))
    buffers = np.empty((n_workers, chunk, n_nodes), dtype=weights.dtype)
    filled = np.empty((n_workers, chunk, n_features), dtype=weights.dtype)
    for worker in prange(n_workers):
        scores = buffers[worker]
        x0 = filled[worker]
        for c in range(worker, n_chunks, n_workers):
            start = c * chunk
            rows = min(chunk, n_samples - start)
            _zero_missing(data, start, rows, x0)
            _gemm_scores(gemm, ilp64, weights, x0, 0, rows, scores)
            for r in range(rows):
                i = start + r
                _drop_missing_norms(data[i], wsq_t, scores[r])
                if want_second:
                    best_k, second_k = _top2(scores[r], wnorm)
                    second_out[i] = second_k
                else:
                    best_k = _first_equal(scores[r], wnorm, _row_min(scores[r], wnorm))
                index_out[i] = best_k
                d2_out[i] = _masked_exact_d2(data[i], weights[best_k])


@_jit(nogil=True)
def _masked_group_sums(data, index, sums_out, counts_out):
    n_samples, n_features = data.shape
    for i in range(n_samples):
        k = index[i]
        for d in range(n_features):
            value = data[i, d]
            if not np.isnan(value):
                sums_out[k, d] += value
                counts_out[k, d] += 1.0


@_jit(nogil=True)
def _masked_train_online(weights, data, order, alphas, sigmas, coords, kind, skip_below,
                         periods):
    n_nodes, n_features = weights.shape
    observed = np.empty(n_features, dtype=np.int64)
    dtype = weights.dtype.type
    for t in range(order.shape[0]):
        v = data[order[t]]
        m = 0
        for d in range(n_features):
            if not np.isnan(v[d]):
                observed[m] = d
                m += 1
        best = np.inf
        bmu = 0
        for k in range(n_nodes):
            total = 0.0
            for q in range(m):
                diff = np.float64(v[observed[q]]) - np.float64(weights[k, observed[q]])
                total += diff * diff
            if total < best:
                best = total
                bmu = k
        alpha = alphas[t]
        sigma = sigmas[t]
        for k in range(n_nodes):
            dx = _wrap(coords[k, 0] - coords[bmu, 0], periods[0])
            dy = _wrap(coords[k, 1] - coords[bmu, 1], periods[1])
            g = _influence(kind, dx, dy, sigma) * alpha
            if abs(g) < skip_below:
                continue
            for q in range(m):
                d = observed[q]
                weights[k, d] += dtype(g * (v[d] - weights[k, d]))


# ----------------------------------------------------------------------------- contract
def bmu_search(weights, wnorm, data, index_out, d2_out, second_out, chunk, n_threads, gemm,
               gemm_ilp64):
    """Contract entry point: see :mod:`minisam.backends.compiled`."""
    _bmu_search(weights, wnorm, data, index_out, d2_out, second_out, int(chunk),
                int(n_threads), int(gemm), bool(gemm_ilp64))


def group_sums(data, index, sums_out, counts_out, n_threads):
    """Contract entry point: see :mod:`minisam.backends.compiled`."""
    _group_sums(data, index, sums_out, counts_out)


def masked_bmu_search(weights, wnorm, wsq_t, data, index_out, d2_out, second_out, chunk,
                      n_threads, gemm, gemm_ilp64):
    """Contract entry point: see :mod:`minisam.backends.compiled`."""
    _masked_bmu_search(weights, wnorm, wsq_t, data, index_out, d2_out, second_out, int(chunk),
                       int(n_threads), int(gemm), bool(gemm_ilp64))


def masked_group_sums(data, index, sums_out, counts_out, n_threads):
    """Contract entry point: see :mod:`minisam.backends.compiled` (serial: the pass is bound
    by memory bandwidth)."""
    _masked_group_sums(data, index, sums_out, counts_out)


def masked_train_online(weights, data, order, alphas, sigmas, coords, kind, skip_below,
                        n_threads, periods=None):
    """Contract entry point: see :mod:`minisam.backends.compiled` (serial)."""
    if order.shape[0] == 0:
        return
    periods = np.zeros(2) if periods is None else np.ascontiguousarray(periods,
                                                                        dtype=np.float64)
    _masked_train_online(weights, data, order, alphas, sigmas, coords, int(kind),
                         float(skip_below), periods)


def _serial_masked_bmu_search(weights, wnorm, wsq_t, data, index_out, d2_out, second_out,
                              chunk, n_threads, gemm, gemm_ilp64):
    _serial(_masked_bmu_search)(weights, wnorm, wsq_t, data, index_out, d2_out, second_out,
                                int(chunk), 1, int(gemm), bool(gemm_ilp64))


_SERIAL_TWINS: dict = {}


def _serial(kernel):
    """``kernel`` compiled without Numba's parallel layer (``prange`` runs as ``range``), on
    first use and without the disk cache (whose index does not tell the twins apart)."""
    if kernel not in _SERIAL_TWINS:
        _SERIAL_TWINS[kernel] = numba.njit(nogil=True, cache=False)(kernel.py_func)
    return _SERIAL_TWINS[kernel]


def _serial_bmu_search(weights, wnorm, data, index_out, d2_out, second_out, chunk, n_threads,
                       gemm, gemm_ilp64):
    _serial(_bmu_search)(weights, wnorm, data, index_out, d2_out, second_out, int(chunk), 1,
                         int(gemm), bool(gemm_ilp64))


def _serial_group_sums(data, index, sums_out, counts_out, n_threads):
    _serial(_group_sums)(data, index, sums_out, counts_out)


def train_online(weights, data, order, alphas, sigmas, coords, grid_y, kind, lattice,
                 skip_below, n_threads, tables=None, periods=None):
    """Contract entry point: see :mod:`minisam.backends.compiled` (serial: a parallel region
    per step costs more than a step on maps of practical size)."""
    if order.shape[0] == 0:
        return
    periods = np.zeros(2) if periods is None else np.ascontiguousarray(periods,
                                                                        dtype=np.float64)
    lattice = bool(lattice) and int(kind) == 0
    if lattice:
        # The rows' column offsets o_i, as classes (at most two: see separable_columns): the
        # column factor depends on the row only through o_i. And the rows' positions r_i.
        class_offsets, row_class = np.unique(coords[::int(grid_y), 1], return_inverse=True)
        row_class = row_class.astype(np.int64)
        row_pos = np.ascontiguousarray(coords[::int(grid_y), 0])
    else:
        class_offsets, row_class, row_pos = np.zeros(1), np.zeros(1, dtype=np.int64), np.zeros(1)
    if tables is None:
        tables = (np.zeros((1, 1)), np.zeros((1, 1)), np.zeros(1, dtype=np.int64),
                  np.zeros(1, dtype=np.int64), np.zeros((1, 1), dtype=np.int64))
    elif int(kind) == 5:
        _check_tables(tables, order.shape[0], weights.shape[0])
    features_major = np.ascontiguousarray(weights.T)
    _train_online_features_major(features_major, data, order, alphas, sigmas, coords,
                                 int(grid_y), int(kind), lattice, float(skip_below),
                                 _pairwise_plan(weights.shape[1]), tuple(tables), periods,
                                 row_pos, row_class, np.ascontiguousarray(class_offsets))
    weights[...] = features_major.T


def _check_tables(tables, n_steps, n_nodes):
    """Refuse tables whose codes would index out of bounds."""
    xtab, ytab, xpos, ypos, ycode = tables
    if xtab.shape[0] < n_steps or ytab.shape[0] < n_steps:
        raise ValueError("tables have fewer rows than steps")
    if xpos.shape[0] != n_nodes or ypos.shape[0] != n_nodes:
        raise ValueError("xpos and ypos need one entry per node")
    if xpos.max() - xpos.min() >= xtab.shape[1]:
        raise ValueError("xtab too narrow for the spread of xpos")
    if ypos.min() < 0 or ypos.max() >= ycode.shape[0] or ycode.shape[0] != ycode.shape[1]:
        raise ValueError("ypos out of range of the square ycode table")
    if ycode.min() < 0 or ycode.max() >= ytab.shape[1]:
        raise ValueError("ycode out of range of ytab")


#: The contract's entry points without Numba's threading layer, for processes where it cannot
#: run (a child forked after the parent's parallel kernels ran: see :mod:`minisam._processes`).
#: Same results as the parallel ones, bit for bit.
SERIAL = SimpleNamespace(bmu_search=_serial_bmu_search, group_sums=_serial_group_sums,
                         train_online=train_online, masked_bmu_search=_serial_masked_bmu_search,
                         masked_group_sums=masked_group_sums,
                         masked_train_online=masked_train_online)


# ----------------------------------------------------------------------------- other distances
# The MiniSom drop-in's cosine, Manhattan and Chebyshev activation distances (see the
# ``train_online_metric`` and ``bmu_metric`` entries of the kernel contract in
# :mod:`minisam.backends.compiled`). Kept apart from the Euclidean kernels above.

#: Distance codes of the ``*_metric`` kernels (``bmu_metric`` also takes 0: the Euclidean
#: distance, winners exactly as ``np.argmin(np.linalg.norm(x - w, axis=-1))`` picks them).
METRIC_CODES = {"euclidean": 0, "cosine": 1, "manhattan": 2, "chebyshev": 3}


@_jit(nogil=True)
def _metric_feature(row, vd, vn, g, lo, hi, upd, metric, a, b):
    """Move nodes ``[lo, hi)`` of one feature row towards ``vd`` by ``g`` (if ``upd``), then
    add every node's term for the next sample's feature ``vn`` into ``a`` (and ``b``): cosine
    ``w * vn`` and ``w * w``; Manhattan ``|w - vn|``; Chebyshev ``max(a, |w - vn|)``."""
    if upd:
        moving = row[lo:hi]
        gm = g[lo:hi]
        for k in range(moving.shape[0]):
            moving[k] = moving[k] + gm[k] * (vd - moving[k])
    if metric == 1:
        for k in range(row.shape[0]):
            w = row[k]
            a[k] += w * vn
            b[k] += w * w
    elif metric == 2:
        for k in range(row.shape[0]):
            a[k] += abs(row[k] - vn)
    elif metric == 0:
        for k in range(row.shape[0]):
            diff = row[k] - vn
            a[k] += diff * diff
    else:
        for k in range(row.shape[0]):
            x = abs(row[k] - vn)
            a[k] = x if x > a[k] else a[k]


@_jit(nogil=True)
def _metric_leaf(wt, d0, n, v, vn, g, lo, hi, upd, metric, out_a, out_b, acc_a, acc_b):
    """Features ``d0 .. d0 + n - 1`` (``n <= 128``) summed in NumPy's pairwise order (see
    :func:`_pairwise_leaf`) into ``out_a`` (and ``out_b`` for the cosine)."""
    out_a[:] = 0.0
    out_b[:] = 0.0
    if n < 8:
        for d in range(d0, d0 + n):
            _metric_feature(wt[d], v[d], vn[d], g, lo, hi, upd, metric, out_a, out_b)
        return
    acc_a[:, :] = 0.0
    acc_b[:, :] = 0.0
    body = n - n % 8
    for i in range(body):
        d = d0 + i
        _metric_feature(wt[d], v[d], vn[d], g, lo, hi, upd, metric, acc_a[i % 8],
                        acc_b[i % 8])
    for k in range(out_a.shape[0]):
        out_a[k] = (((acc_a[0, k] + acc_a[1, k]) + (acc_a[2, k] + acc_a[3, k]))
                    + ((acc_a[4, k] + acc_a[5, k]) + (acc_a[6, k] + acc_a[7, k])))
    if metric == 1:
        for k in range(out_b.shape[0]):
            out_b[k] = (((acc_b[0, k] + acc_b[1, k]) + (acc_b[2, k] + acc_b[3, k]))
                        + ((acc_b[4, k] + acc_b[5, k]) + (acc_b[6, k] + acc_b[7, k])))
    for i in range(body, n):
        d = d0 + i
        _metric_feature(wt[d], v[d], vn[d], g, lo, hi, upd, metric, out_a, out_b)


@_jit(nogil=True)
def _metric_pass(wt, v, vn, g, lo, hi, upd, metric, plan, dist_a, dist_b, acc_a, acc_b,
                 parts_a, parts_b):
    """Update nodes ``[lo, hi)`` towards ``v`` (if ``upd``) and accumulate every node's sums
    against ``vn`` into ``dist_a`` (``dist_b``), over the features in NumPy's order."""
    n_features = wt.shape[0]
    if metric == 3:  # a maximum: no rounding, any order
        dist_a[:] = 0.0
        for d in range(n_features):
            _metric_feature(wt[d], v[d], vn[d], g, lo, hi, upd, metric, dist_a, dist_b)
        return
    if plan.shape[0] == 1:
        _metric_leaf(wt, 0, n_features, v, vn, g, lo, hi, upd, metric, dist_a, dist_b, acc_a,
                     acc_b)
        return
    for r in range(plan.shape[0]):
        if plan[r, 0] == 0:
            _metric_leaf(wt, plan[r, 1], plan[r, 2], v, vn, g, lo, hi, upd, metric,
                         parts_a[r], parts_b[r], acc_a, acc_b)
        else:
            x = plan[r, 1]
            y = plan[r, 2]
            for k in range(dist_a.shape[0]):
                parts_a[r, k] = parts_a[x, k] + parts_a[y, k]
                parts_b[r, k] = parts_b[x, k] + parts_b[y, k]
    last = plan.shape[0] - 1
    dist_a[:] = parts_a[last]
    dist_b[:] = parts_b[last]


@_jit(nogil=True)
def _metric_winner(metric, dist_a, dist_b, xnorm):
    """First node at the least distance: cosine ``1 - a / (sqrt(b) |x| + 1e-8)`` (MiniSom's
    operations, in float64), else ``a``."""
    best = np.inf
    best_k = 0
    for k in range(dist_a.shape[0]):
        if metric == 1:
            dist = 1.0 - np.float64(dist_a[k]) / (math.sqrt(np.float64(dist_b[k])) * xnorm
                                                  + 1e-8)
        elif metric == 0:
            dist = math.sqrt(np.float64(dist_a[k]))
        else:
            dist = np.float64(dist_a[k])
        if dist < best:
            best = dist
            best_k = k
    return best_k


@_jit(nogil=True)
def _tabulated_steps(g, alpha, bmu, t, tables, skip_below):
    """``g[k] = (xtab[t, |xpos[k] - xpos[b]|] * ytab[t, ycode[ypos[k], ypos[b]]]) * alpha``
    (0 below ``skip_below`` in magnitude); returns the node range ``[lo, hi)`` that moves."""
    xtab, ytab, xpos, ypos, ycode = tables
    xb = xpos[bmu]
    yb = ypos[bmu]
    lo = g.shape[0]
    hi = 0
    for k in range(g.shape[0]):
        step = (xtab[t, abs(xpos[k] - xb)] * ytab[t, ycode[ypos[k], yb]]) * alpha
        if abs(step) >= skip_below and step != 0.0:
            g[k] = step
            lo = min(lo, k)
            hi = k + 1
        else:
            g[k] = 0.0
    return (lo, hi) if lo < hi else (0, 0)


@_jit(nogil=True)
def _metric_buffers(n_nodes, n_plan, dtype_of):
    dist_a = np.zeros(n_nodes, dtype=dtype_of.dtype)
    dist_b = np.zeros(n_nodes, dtype=dtype_of.dtype)
    acc_a = np.zeros((8, n_nodes), dtype=dtype_of.dtype)
    acc_b = np.zeros((8, n_nodes), dtype=dtype_of.dtype)
    rows = n_plan if n_plan > 1 else 0
    parts_a = np.zeros((rows, n_nodes), dtype=dtype_of.dtype)
    parts_b = np.zeros((rows, n_nodes), dtype=dtype_of.dtype)
    return dist_a, dist_b, acc_a, acc_b, parts_a, parts_b


@_jit(nogil=True)
def _train_online_metric_fm(wt, data, order, alphas, xnorms, metric, skip_below, plan, tables):
    """Online steps on the feature-major copy ``wt`` with winners by distance ``metric``."""
    n_nodes = wt.shape[1]
    n_steps = order.shape[0]
    g = np.zeros(n_nodes, dtype=wt.dtype)
    dist_a, dist_b, acc_a, acc_b, parts_a, parts_b = _metric_buffers(n_nodes, plan.shape[0],
                                                                     wt[0])
    first = data[order[0]]
    _metric_pass(wt, first, first, g, 0, 0, False, metric, plan, dist_a, dist_b, acc_a, acc_b,
                 parts_a, parts_b)
    bmu = _metric_winner(metric, dist_a, dist_b, xnorms[order[0]])
    for t in range(n_steps):
        v = data[order[t]]
        nxt = order[t + 1] if t + 1 < n_steps else order[t]
        lo, hi = _tabulated_steps(g, alphas[t], bmu, t, tables, skip_below)
        _metric_pass(wt, v, data[nxt], g, lo, hi, True, metric, plan, dist_a, dist_b, acc_a,
                     acc_b, parts_a, parts_b)
        bmu = _metric_winner(metric, dist_a, dist_b, xnorms[nxt])


@_jit(nogil=True, parallel=True)
def _bmu_metric(wt, data, xnorms, metric, plan, index_out, n_workers):
    n_samples = data.shape[0]
    n_nodes = wt.shape[1]
    n_workers = max(1, min(n_workers, n_samples))
    for worker in prange(n_workers):
        g = np.zeros(0, dtype=wt.dtype)
        dist_a, dist_b, acc_a, acc_b, parts_a, parts_b = _metric_buffers(n_nodes,
                                                                         plan.shape[0], wt[0])
        for i in range(worker, n_samples, n_workers):
            x = data[i]
            _metric_pass(wt, x, x, g, 0, 0, False, metric, plan, dist_a, dist_b, acc_a, acc_b,
                         parts_a, parts_b)
            index_out[i] = _metric_winner(metric, dist_a, dist_b, xnorms[i])


def train_online_metric(weights, data, order, alphas, xnorms, metric, skip_below, n_threads,
                        tables):
    """Contract entry point: see :mod:`minisam.backends.compiled` (serial)."""
    if order.shape[0] == 0 or weights.shape[0] == 0:
        return
    if int(metric) not in (1, 2, 3):
        raise ValueError(f"unknown distance code {metric}")
    _check_tables(tables, order.shape[0], weights.shape[0])
    features_major = np.ascontiguousarray(weights.T)
    _train_online_metric_fm(features_major, data, order, alphas,
                            np.ascontiguousarray(xnorms, dtype=np.float64), int(metric),
                            float(skip_below), _pairwise_plan(weights.shape[1]), tuple(tables))
    weights[...] = features_major.T


def bmu_metric(weights, data, xnorms, metric, index_out, n_threads):
    """Contract entry point: see :mod:`minisam.backends.compiled`."""
    if data.shape[0] == 0:
        return
    if int(metric) not in (0, 1, 2, 3):
        raise ValueError(f"unknown distance code {metric}")
    kernel = _bmu_metric if int(n_threads) > 1 else _serial(_bmu_metric)
    kernel(np.ascontiguousarray(weights.T), data, np.ascontiguousarray(xnorms, dtype=np.float64),
           int(metric), _pairwise_plan(weights.shape[1]), index_out, int(n_threads))


SERIAL.train_online_metric = train_online_metric
SERIAL.bmu_metric = lambda weights, data, xnorms, metric, index_out, n_threads: bmu_metric(
    weights, data, xnorms, metric, index_out, 1)
