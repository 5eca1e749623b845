# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels of minisam (OpenMP-parallel with ``prange``).

The build compiles this file once per instruction-set variant (``minisam._cython_kernels_<v>``,
see ``CMakeLists.txt``); :mod:`minisam._cython_kernels` loads the one that suits the CPU.

They implement the *kernel contract* documented in :mod:`minisam.backends.compiled`
(``bmu_search``, ``group_sums``, ``train_online``) for float32 and float64 weights. Kernels take
C-contiguous arrays and plain scalars, write into caller-provided outputs and hold no policy:
thread counts, chunk sizes and the BLAS address are decided by the Python backend classes.
They only check what memory safety needs (shapes and index ranges), never the maths' inputs.

The innermost loops are small C functions written with GCC/Clang vector extensions in the
headers next to this file (``ms_vector.h``, ``ms_bmu.h``, ``ms_online.h``; the platform layer
in ``ms_platform.h``, ``ms_cpu.h``, ``ms_barrier.h``, ``ms_tie.h``): GCC does not vectorise
the same loops written in Cython well (it
vectorises the reduction over features instead of across the 8 or 16 nodes of a block, and
cannot keep per-lane minima in registers; the Cython version of the distance pass of a 40x40
map with 64 features ran 6x slower). Everything else is Cython.

Online training works on a feature-major working copy of the weights, one *panel* per grid row:
``wf[i, d, j]`` holds feature ``d`` of the node in grid row ``i`` and column ``j`` (columns padded
to a multiple of one 64-byte block). A block of 8 (float64) or 16 (float32) nodes of one row is
one to four SIMD vectors per feature (AVX-512: one; AVX2: two; SSE2, NEON: four): the update
of step ``t`` and the distances to the sample of step ``t + 1`` are computed in the same pass,
a vector at a time.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport INFINITY, exp, fabs, floor, fmax, fmin, fmod, log, sqrt
from libc.stdint cimport int32_t, int64_t, uintptr_t
from libc.string cimport memset

# The C lives in the headers under csrc/ (CMakeLists.txt puts them on the include path).
cdef extern from "ms_platform.h":
    const int MINISAM_OPENMP
    const int MINISAM_OPENMP_VERSION
    const int MINISAM_BUILD_NATIVE
    const char *MINISAM_BUILD_COMPILER
    const char *MINISAM_BUILD_VARIANT
    void *ms_aligned_alloc(size_t n_bytes, size_t alignment) nogil
    void ms_aligned_free(void *p) nogil
    int omp_get_max_threads() nogil
    int omp_get_num_threads() nogil
    int omp_get_num_procs() nogil

cdef extern from "ms_cpu.h":
    int ms_x86_64_level() nogil

cdef extern from "ms_barrier.h":
    ctypedef struct ms_barrier_t:
        int count
        int sense
    void ms_barrier_wait(ms_barrier_t *bar, int *local_sense, int n) nogil

cdef extern from "ms_tie.h":
    double ms_tie_limit(double m) nogil

cdef extern from "ms_online.h" nogil:
    double ms_row_d(double *p, Py_ssize_t S, Py_ssize_t D, Py_ssize_t nblk, Py_ssize_t jb0,
                    Py_ssize_t jb1, const double *v, const double *vn, const double *g,
                    const double *pad, double *dout)
    float ms_row_f(float *p, Py_ssize_t S, Py_ssize_t D, Py_ssize_t nblk, Py_ssize_t jb0,
                   Py_ssize_t jb1, const float *v, const float *vn, const float *g,
                   const float *pad, float *dout)

cdef extern from "ms_masked.h" nogil:
    void ms_zero_missing_d(const double *x, Py_ssize_t n, double *x0)
    void ms_zero_missing_f(const float *x, Py_ssize_t n, float *x0)
    void ms_drop_missing_norms_d(const double *x, Py_ssize_t D, const double *wsq_t,
                                 Py_ssize_t K, double *s)
    void ms_drop_missing_norms_f(const float *x, Py_ssize_t D, const float *wsq_t,
                                 Py_ssize_t K, float *s)
    double ms_masked_d2_d(const double *x, const double *w, Py_ssize_t D)
    double ms_masked_d2_f(const float *x, const float *w, Py_ssize_t D)
    Py_ssize_t ms_observed_d(const double *v, Py_ssize_t D, Py_ssize_t *obs)
    Py_ssize_t ms_observed_f(const float *v, Py_ssize_t D, Py_ssize_t *obs)
    Py_ssize_t ms_masked_nearest_d(const double *W, Py_ssize_t K, Py_ssize_t D,
                                   const double *v, const Py_ssize_t *obs, Py_ssize_t m)
    Py_ssize_t ms_masked_nearest_f(const float *W, Py_ssize_t K, Py_ssize_t D,
                                   const float *v, const Py_ssize_t *obs, Py_ssize_t m)
    void ms_masked_move_d(double *w, const double *v, const Py_ssize_t *obs, Py_ssize_t m,
                          double g)
    void ms_masked_move_f(float *w, const float *v, const Py_ssize_t *obs, Py_ssize_t m,
                          double g)
    void ms_masked_add_d(const double *x, Py_ssize_t D, double *sums, double *counts)
    void ms_masked_add_f(const float *x, Py_ssize_t D, double *sums, double *counts)

cdef extern from "ms_bmu.h" nogil:
    Py_ssize_t ms_argmin_d(const double *s, const double *wn, Py_ssize_t K)
    Py_ssize_t ms_argmin_f(const float *s, const float *wn, Py_ssize_t K)
    Py_ssize_t ms_top2_d(const double *s, const double *wn, Py_ssize_t K, Py_ssize_t *second)
    Py_ssize_t ms_top2_f(const float *s, const float *wn, Py_ssize_t K, Py_ssize_t *second)
    void ms_search_own_d(const double *x, Py_ssize_t rows, Py_ssize_t D, const double *wt,
                         const double *wnp, Py_ssize_t Kp, char *st, int64_t *best,
                         int64_t *second)
    void ms_search_own_f(const float *x, Py_ssize_t rows, Py_ssize_t D, const float *wt,
                         const float *wnp, Py_ssize_t Kp, char *st, int64_t *best,
                         int64_t *second)
    const int MS_STATE_BYTES


# ----------------------------------------------------------------------------- small helpers
cdef enum:
    ALIGN = 64  # bytes: one cache line, one AVX-512 vector

#: Largest map the kernels accept: lane indices are 32-bit.
MAX_NODES = (1 << 31) - 1024

# Placeholders for train_online's tables when the neighbourhood is not tabulated.
_NO_TABLE = np.zeros((1, 1))
_NO_POSITIONS = np.zeros(1, dtype=np.int64)
_NO_CODES = np.zeros((1, 1), dtype=np.int64)

ctypedef void (*sgemm32_t)(int, int, int, int32_t, int32_t, int32_t, float, const float *,
                           int32_t, const float *, int32_t, float, float *, int32_t) noexcept nogil
ctypedef void (*sgemm64_t)(int, int, int, int64_t, int64_t, int64_t, float, const float *,
                           int64_t, const float *, int64_t, float, float *, int64_t) noexcept nogil
ctypedef void (*dgemm32_t)(int, int, int, int32_t, int32_t, int32_t, double, const double *,
                           int32_t, const double *, int32_t, double, double *, int32_t) noexcept nogil
ctypedef void (*dgemm64_t)(int, int, int, int64_t, int64_t, int64_t, double, const double *,
                           int64_t, const double *, int64_t, double, double *, int64_t) noexcept nogil

cdef enum:
    CBLAS_ROW_MAJOR = 101
    CBLAS_NO_TRANS = 111
    CBLAS_TRANS = 112


cdef void *_aligned(size_t n_bytes, size_t alignment=ALIGN) noexcept nogil:
    """Aligned allocation (``ms_aligned_free`` releases it), or NULL."""
    if n_bytes == 0:
        n_bytes = alignment
    return ms_aligned_alloc(n_bytes, alignment)


cdef inline Py_ssize_t _round_up(Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    return ((n + m - 1) // m) * m


cdef void _transpose(const floating *src, Py_ssize_t n, Py_ssize_t m, floating *dst,
                     Py_ssize_t ld) noexcept nogil:
    """``dst[j * ld + i] = src[i * m + j]`` for an ``(n, m)`` array, in tiles of 16 rows."""
    cdef Py_ssize_t i0, i, j, i1
    for i0 in range(0, n, 16):
        i1 = min(n, i0 + 16)
        for j in range(m):
            for i in range(i0, i1):
                dst[j * ld + i] = src[i * m + j]


cdef void _transpose_back(const floating *src, Py_ssize_t ld, Py_ssize_t n, Py_ssize_t m,
                          floating *dst) noexcept nogil:
    """The inverse of :func:`_transpose`: ``dst[i * m + j] = src[j * ld + i]``."""
    cdef Py_ssize_t i0, i, j, i1
    for i0 in range(0, n, 16):
        i1 = min(n, i0 + 16)
        for j in range(m):
            for i in range(i0, i1):
                dst[i * m + j] = src[j * ld + i]


cdef inline double _exact_d2(const floating *x, const floating *w, Py_ssize_t D) noexcept nogil:
    """``sum((x - w) ** 2)`` accumulated in double precision."""
    cdef double total = 0.0, diff
    cdef Py_ssize_t d
    for d in range(D):
        diff = <double>x[d] - <double>w[d]
        total = total + diff * diff
    return total


def openmp_enabled():
    """Whether this module was compiled with OpenMP (otherwise ``prange`` runs serially)."""
    return bool(MINISAM_OPENMP)


def build_info():
    """Facts fixed when this module was compiled, for :func:`minisam.show_config`.

    Returns
    -------
    dict
        ``compiler`` (CMake's compiler id and version), ``variant`` (the instruction set it
        was compiled for: ``native``, ``baseline``, ``x86-64-v3``, ``x86-64-v4``), ``native``
        (whether it was tuned for the building machine's CPU), ``openmp`` (compiled with OpenMP), ``openmp_version``
        (the ``_OPENMP`` date, 0 without OpenMP) and ``openmp_max_threads`` (the runtime's
        default team size; 1 without OpenMP).
    """
    return {
        "compiler": MINISAM_BUILD_COMPILER.decode("utf-8", "replace"),
        "variant": MINISAM_BUILD_VARIANT.decode("utf-8", "replace"),
        "native": bool(MINISAM_BUILD_NATIVE),
        "openmp": bool(MINISAM_OPENMP),
        "openmp_version": int(MINISAM_OPENMP_VERSION),
        "openmp_max_threads": int(omp_get_max_threads()),
    }


def x86_64_level():
    """The x86-64 micro-architecture level this CPU and OS support: 1, 3 or 4 (0 elsewhere).

    Read with CPUID/XGETBV; :mod:`minisam._cython_kernels` calls it on the baseline build to
    pick the fastest kernel variant that is safe to load.
    """
    return ms_x86_64_level()


def openmp_max_threads():
    """OpenMP's current default thread count (1 without OpenMP)."""
    return omp_get_max_threads()


# ----------------------------------------------------------------------------- bmu_search
cdef void _gemm_scores(uintptr_t gemm, bint ilp64, const floating *x, Py_ssize_t rows,
                       const floating *W, Py_ssize_t K, Py_ssize_t D,
                       floating *C) noexcept nogil:
    """``C = -2 x W^T`` (``rows x K``, row-major) with the CBLAS GEMM at address ``gemm``."""
    if floating is double:
        if ilp64:
            (<dgemm64_t><void *>gemm)(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, rows, K, D,
                                      -2.0, x, D, W, D, 0.0, C, K)
        else:
            (<dgemm32_t><void *>gemm)(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS,
                                      <int32_t>rows, <int32_t>K, <int32_t>D, -2.0, x,
                                      <int32_t>D, W, <int32_t>D, 0.0, C, <int32_t>K)
    else:
        if ilp64:
            (<sgemm64_t><void *>gemm)(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, rows, K, D,
                                      -2.0, x, D, W, D, 0.0, C, K)
        else:
            (<sgemm32_t><void *>gemm)(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS,
                                      <int32_t>rows, <int32_t>K, <int32_t>D, -2.0, x,
                                      <int32_t>D, W, <int32_t>D, 0.0, C, <int32_t>K)


cdef void _bmu_chunk(const floating *W, const floating *wnorm, const floating *X,
                     int64_t *index_out, floating *d2_out, int64_t *second_out,
                     Py_ssize_t K, Py_ssize_t D, Py_ssize_t start, Py_ssize_t rows,
                     floating *C, const floating *wt, const floating *wnp, Py_ssize_t Kp,
                     uintptr_t gemm, bint ilp64) noexcept nogil:
    """Best (and optionally second-best) node of rows ``start .. start + rows - 1``.

    With a GEMM, ``C`` receives the ``rows x K`` scores; without, ``C`` holds the own loops'
    per-row lane state.
    """
    cdef const floating *x = X + start * D
    cdef int64_t *sec = NULL if second_out == NULL else second_out + start
    cdef Py_ssize_t r, best, second
    if gemm == 0:
        if floating is double:
            ms_search_own_d(x, rows, D, wt, wnp, Kp, <char *>C, index_out + start, sec)
        else:
            ms_search_own_f(x, rows, D, wt, wnp, Kp, <char *>C, index_out + start, sec)
    else:
        _gemm_scores(gemm, ilp64, x, rows, W, K, D, C)
        for r in range(rows):
            if sec != NULL:
                second = -1
                if floating is double:
                    best = ms_top2_d(C + r * K, wnorm, K, &second)
                else:
                    best = ms_top2_f(C + r * K, wnorm, K, &second)
                sec[r] = second
            else:
                if floating is double:
                    best = ms_argmin_d(C + r * K, wnorm, K)
                else:
                    best = ms_argmin_f(C + r * K, wnorm, K)
            index_out[start + r] = best
    for r in range(rows):
        best = index_out[start + r]
        if best < 0:  # only when every score is NaN
            best = 0
            index_out[start + r] = 0
        d2_out[start + r] = <floating>_exact_d2(x + r * D, W + best * D, D)


def bmu_search(const floating[:, ::1] weights, const floating[::1] wnorm,
               const floating[:, ::1] data, int64_t[::1] index_out, floating[::1] d2_out,
               int64_t[::1] second_out, Py_ssize_t chunk, int n_threads, uintptr_t gemm,
               bint gemm_ilp64):
    """Best-matching unit of every row of ``data`` (see the kernel contract).

    Scores ``wnorm[k] - 2 x . w_k`` are computed ``chunk`` rows at a time, chunks being shared
    out dynamically between ``n_threads`` threads. With a CBLAS GEMM (address ``gemm``) each
    thread fills a ``chunk x n_nodes`` score buffer and scans it; with ``gemm == 0`` the
    module's own loops compute the scores of four rows against a cache-sized block of nodes
    at a time and track the best ones on the fly, without a score buffer. Among equal scores
    the lowest index wins; ``d2_out`` receives the exact squared distance to the winner,
    accumulated in double precision. When ``second_out`` has one element per sample it also
    receives the second-best node (``-1`` with a single node).
    """
    cdef Py_ssize_t N = data.shape[0], K = weights.shape[0], D = weights.shape[1]
    cdef Py_ssize_t B, Kp, n_chunks, per_thread, c, k, d, nth
    cdef bint want_second = second_out.shape[0] == N
    cdef floating *bufs = NULL
    cdef floating *wt = NULL
    cdef floating *wnp = NULL
    cdef int64_t *second_ptr = NULL
    if data.shape[1] != D:
        raise ValueError("data and weights have different numbers of features")
    if wnorm.shape[0] != K or index_out.shape[0] != N or d2_out.shape[0] != N:
        raise ValueError("output or norm arrays have the wrong length")
    if N == 0:
        return
    if K == 0:
        raise ValueError("bmu_search needs at least one node")
    if K > MAX_NODES:
        raise ValueError("too many nodes")
    if floating is double:
        B = 8
    else:
        B = 16
    chunk = max(1, min(chunk, N))
    n_chunks = (N + chunk - 1) // chunk
    nth = max(1, min(<Py_ssize_t>n_threads, n_chunks))
    if D == 0:
        gemm = 0
    try:
        if gemm == 0:
            Kp = _round_up(K, B)
            wt = <floating *>_aligned(<size_t>(D * Kp) * sizeof(floating))
            wnp = <floating *>_aligned(<size_t>Kp * sizeof(floating))
            per_thread = chunk * MS_STATE_BYTES // sizeof(floating)
            if wt == NULL or wnp == NULL:
                raise MemoryError()
            with nogil:
                memset(wt, 0, <size_t>(D * Kp) * sizeof(floating))
                _transpose(&weights[0, 0], K, D, wt, Kp)
                for k in range(K):
                    wnp[k] = wnorm[k]
                for k in range(K, Kp):
                    wnp[k] = <floating>INFINITY
        else:
            Kp = K
            per_thread = chunk * _round_up(K, B)
        bufs = <floating *>_aligned(<size_t>(nth * per_thread) * sizeof(floating))
        if bufs == NULL:
            raise MemoryError()
        if want_second:
            second_ptr = &second_out[0]
        for c in prange(n_chunks, nogil=True, num_threads=nth, schedule="dynamic"):
            _bmu_chunk(&weights[0, 0], &wnorm[0], &data[0, 0], &index_out[0], &d2_out[0],
                       second_ptr, K, D, c * chunk, min(chunk, N - c * chunk),
                       bufs + threadid() * per_thread, wt, wnp, Kp, gemm, gemm_ilp64)
    finally:
        ms_aligned_free(bufs)
        ms_aligned_free(wt)
        ms_aligned_free(wnp)


def bmu_many(const floating[:, ::1] weights, const floating[:, ::1] data,
             int64_t[::1] index_out, floating[::1] d2_out, int n_threads):
    """Best-matching unit of every row of ``data`` with this module's own loops.

    Kept for compatibility; equivalent to :func:`bmu_search` with ``gemm = 0``.
    """
    wnorm = np.einsum("kd,kd->k", weights, weights)
    bmu_search(weights, wnorm, data, index_out, d2_out, np.empty(0, dtype=np.int64), 256,
               n_threads, 0, False)


# ----------------------------------------------------------------------------- group_sums
def group_sums(const floating[:, ::1] data, const int64_t[::1] index, double[:, ::1] sums_out,
               double[::1] counts_out, int n_threads):
    """Add every row of ``data`` to ``sums_out[index[i]]`` and count it in ``counts_out``.

    One pass in sample order, so every node adds its samples in increasing order. The pass
    is bound by memory bandwidth: splitting it between threads (by node ranges, or by a
    counting sort of the samples) measured slower here, so ``n_threads`` is not used. For
    N=100000, D=64, K=2500 it takes ~2 ms (float32) / ~3 ms (float64), against ~400 ms for
    the best-matching-unit search of the same epoch.
    """
    cdef Py_ssize_t N = data.shape[0], D = data.shape[1], K = sums_out.shape[0]
    cdef Py_ssize_t i, k, d
    if index.shape[0] != N or sums_out.shape[1] != D or counts_out.shape[0] != K:
        raise ValueError("group_sums: inconsistent shapes")
    for i in range(N):
        if index[i] < 0 or index[i] >= K:
            raise IndexError(f"node index {index[i]} out of range for {K} nodes")
    with nogil:
        for i in range(N):
            k = index[i]
            counts_out[k] = counts_out[k] + 1.0
            for d in range(D):
                sums_out[k, d] = sums_out[k, d] + data[i, d]


# ----------------------------------------------------------------------------- train_online
# train_online is a short driver over five steps: (1) set up the working copy, (2) the
# neighbourhood of one step (per-node step sizes, row by row), (3) one step's pass over a
# thread's rows, (4) the threads' agreement on the next winner, (5) write-back. A topology or a
# neighbourhood only touches step (2): _hood_start (once per step), _hood_row (once per row)
# and, on a lattice, _columns (the column factors, at most two tables per step).

cdef enum:
    PSEUDO_ROW = 64  # nodes per row of the working copy when coords are no lattice


cdef struct _Work:
    # The feature-major working copy: grid row i is a panel of D x Yp (feature d of the node in
    # column j at d * Yp + j), rows in chunks of rch (one chunk per thread), cstride apart.
    Py_ssize_t K, D, X, Y, Yp, B, panel, rch, nchunks, cstride
    int nth  # threads asked for (a team may have fewer)
    void *wf  # floating *
    const void *padtab  # floating *: padtab[rem * B + j] is 0 for j < rem, +inf after
    double *rmin  # each row's least squared distance to the next step's sample


cdef struct _Hood:
    # The neighbourhood, one per thread. What the caller gave (fixed for the call):
    int kind
    bint lattice
    bint plain  # lattice with r_i == i, o_i == 0 and both axes open
    double thr  # influences |alpha * h| below thr are skipped
    const double *coords
    Py_ssize_t coords_ld
    const double *xtab
    Py_ssize_t xtab_ld
    const double *ytab
    Py_ssize_t ytab_ld
    const int64_t *xpos
    const int64_t *ypos
    const int64_t *ycode
    Py_ssize_t ycode_ld
    double p0, p1  # periods of the two coordinate axes (0: open)
    Py_ssize_t Y, Yp, B  # nodes per row, padded; lanes per 64-byte block
    # This step (set by _hood_start):
    Py_ssize_t t, b, bi, bj
    bint upd  # whether any node moves
    double alpha, sigma, denom, s2, cut, bx, by
    # Lattice: row i's position rpos[i] = coords[i * Y, 0] and column offset roff[i] =
    # coords[i * Y, 1] (copied out of coords), the winner's rb and ob, and up to two column
    # tables (slot s: cf[s * Yp + j], for the rows whose column offset differs from ob by
    # ckey[s]): column j's factor (gaussian, 0 where it fails alone) or squared offset
    # (bubble, +inf outside the disc); the columns that can move span the blocks
    # [cjb0[s], cjb1[s]).
    const double *rpos
    const double *roff
    double rb, ob
    double ckey[2]
    Py_ssize_t cjb0[2]
    Py_ssize_t cjb1[2]
    int cn, cnext  # slots filled this step; the slot a new key replaces
    double *cf
    # et[n] = exp(-n^2 / denom) for the integer offsets n < tab_n (of tab_cap), for tab_sigma:
    # rows and columns of a rectangular lattice share them; those below na move.
    Py_ssize_t tab_n, tab_cap, na
    double tab_sigma
    double *et


cdef inline floating _row(floating *p, Py_ssize_t S, Py_ssize_t D, Py_ssize_t nblk,
                          Py_ssize_t jb0, Py_ssize_t jb1, const floating *v,
                          const floating *vn, const floating *g, const floating *pad,
                          floating *dout) noexcept nogil:
    if floating is double:
        return ms_row_d(p, S, D, nblk, jb0, jb1, v, vn, g, pad, dout)
    else:
        return ms_row_f(p, S, D, nblk, jb0, jb1, v, vn, g, pad, dout)


cdef inline Py_ssize_t _row_base(Py_ssize_t i, Py_ssize_t rch, Py_ssize_t cstride,
                                 Py_ssize_t panel) noexcept nogil:
    """Offset of row ``i`` in the working copy: chunks of ``rch`` rows, ``cstride`` apart."""
    cdef Py_ssize_t q = i // rch
    return q * cstride + (i - q * rch) * panel


cdef inline floating *_panel(const _Work *w, floating *wf, Py_ssize_t i) noexcept nogil:
    return wf + _row_base(i, w.rch, w.cstride, w.panel)


cdef inline const floating *_row_shape(const _Work *w, const floating *padtab, Py_ssize_t i,
                                       Py_ssize_t *valid, Py_ssize_t *nb) noexcept nogil:
    """Row ``i``'s node count and 64-byte blocks; returns its last block's padding (or NULL)."""
    cdef Py_ssize_t rem
    valid[0] = min(w.Y, w.K - i * w.Y)
    nb[0] = (valid[0] + w.B - 1) // w.B
    rem = valid[0] - (nb[0] - 1) * w.B
    return padtab + rem * w.B if rem < w.B else NULL


cdef inline Py_ssize_t _next_row(const _Work *w, Py_ssize_t i, Py_ssize_t *cend,
                                 Py_ssize_t *qi, int nt) noexcept nogil:
    """The row after ``i`` among a thread's rows (chunks qi, qi + nt, ...); ``X`` at the end.

    Start with ``i = -1, cend = 0, qi = tid``.
    """
    i = i + 1
    if i >= cend[0]:
        i = qi[0] * w.rch
        cend[0] = min(w.X, i + w.rch)
        qi[0] = qi[0] + nt
    return min(i, w.X)


# --- (1) and (5): the working copy
cdef void _copy_in(const _Work *w, const floating *weights, floating *wf,
                   floating *padtab) noexcept nogil:
    """Weights into the working copy (padding lanes hold zeros; their distances are +inf)."""
    cdef Py_ssize_t i, j, rr
    memset(wf, 0, <size_t>(w.nchunks * w.cstride) * sizeof(floating))
    for i in range(w.X):
        _transpose(weights + i * w.Y * w.D, min(w.Y, w.K - i * w.Y), w.D, _panel(w, wf, i),
                   w.Yp)
    for rr in range(w.B):
        for j in range(w.B):
            padtab[rr * w.B + j] = 0 if j < rr else <floating>INFINITY


cdef void _copy_out(const _Work *w, const floating *wf, floating *weights) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(w.X):
        _transpose_back(wf + _row_base(i, w.rch, w.cstride, w.panel), w.Yp,
                        min(w.Y, w.K - i * w.Y), w.D, weights + i * w.Y * w.D)


# --- (2) the neighbourhood
cdef inline double _wrap(double d, double p) noexcept nogil:
    """The offset ``d`` along an axis of period ``p``: its minimum image if ``p > 0``.

    ``a = fmod(|d|, p); min(a, p - a)``; ``fmod`` is exact and returns ``|d|`` when
    ``|d| < p``, so it is only called otherwise.
    """
    cdef double a
    if not (p > 0.0):
        return d
    a = fabs(d)
    if a >= p:
        a = fmod(a, p)
    return fmin(a, p - a)


cdef inline double _gauss_at(_Hood *h, double d) noexcept nogil:
    """``exp(-(d * d) / denom)``; from the table of integer offsets when ``d`` is one."""
    cdef double a = fabs(d)
    cdef Py_ssize_t n
    if a < <double>h.tab_cap:
        n = <Py_ssize_t>a
        if <double>n == a:  # then d * d == n * n exactly
            while h.tab_n <= n:
                h.et[h.tab_n] = exp(-(<double>(h.tab_n * h.tab_n)) / h.denom)
                h.tab_n = h.tab_n + 1
            return h.et[n]
    return exp(-(d * d) / h.denom)


cdef void _hood_start(_Hood *h, const _Work *w, Py_ssize_t t, Py_ssize_t b, double alpha,
                      double sigma) noexcept nogil:
    """Set up step ``t`` with winner ``b``: whether it updates anything, and its cut-off."""
    cdef double thr = h.thr, denom
    cdef Py_ssize_t na
    h.t = t
    h.b = b
    h.alpha = alpha
    h.sigma = sigma
    h.denom = denom = 2.0 * sigma * sigma
    h.s2 = sigma * sigma
    h.upd = False
    if h.lattice:
        h.bi = b // w.Y
        h.bj = b - h.bi * w.Y
        h.rb = h.rpos[h.bi]
        h.ob = h.roff[h.bi]
        h.cn = 0
        h.cnext = 0
        if sigma != h.tab_sigma:
            h.tab_sigma = sigma
            h.tab_n = 0
        if fabs(alpha) >= thr:  # the winner's own influence is alpha
            h.upd = True
            if h.kind == 0:
                # offsets with d^2 > cut have |alpha| exp(-d^2 / denom) < thr (slack: rounding)
                h.cut = denom * log(fabs(alpha) / thr)
                h.cut = h.cut + fabs(h.cut) * 1e-9
            else:
                h.cut = h.s2
            # na: the integer offsets 0 .. na - 1 move (d^2 <= cut, and alone >= thr)
            na = 0
            while na < h.tab_cap and <double>(na * na) <= h.cut:
                if h.kind == 0 and not (fabs(alpha) * _gauss_at(h, <double>na) >= thr):
                    break
                na = na + 1
            h.na = na
    else:
        h.bx = h.coords[b * h.coords_ld]
        h.by = h.coords[b * h.coords_ld + 1]
        if fabs(alpha) >= thr:  # |h| <= 1 for every code but 4
            h.upd = True
            h.cut = denom * log(fabs(alpha) / thr)
            h.cut = h.cut + fabs(h.cut) * 1e-9
        elif h.kind == 4 and fabs(alpha) * h.s2 >= thr:  # triangle: |h| <= sigma^2
            h.upd = True


cdef inline bint _column(_Hood *h, double key, Py_ssize_t j, double *f) noexcept nogil:
    """Column ``j``'s entry of the table for ``key`` (see :func:`_columns`): whether it moves."""
    cdef double dc = _wrap(key + <double>(j - h.bj), h.p1), d2 = dc * dc
    if h.kind == 0:
        f[0] = 0.0
        if d2 <= h.cut:
            f[0] = _gauss_at(h, dc)
            if not (fabs(h.alpha) * f[0] >= h.thr):
                f[0] = 0.0
        return f[0] != 0.0
    f[0] = d2 if d2 <= h.cut else INFINITY
    return d2 <= h.cut


cdef int _columns(_Hood *h, double key) noexcept nogil:
    """The slot of the column table for rows whose column offset is ``ob + key``.

    Column ``j`` of such a row is ``dc = wrap1(key + (j - bj))`` from the winner. Gaussian:
    ``exp(-dc^2 / denom)`` where ``dc^2 <= cut`` and ``|alpha| * exp(...) >= thr`` (else 0:
    no node of that column can move); bubble: ``dc^2`` where ``dc^2 <= sigma^2`` (else
    +inf). Only the lanes of the blocks ``[cjb0, cjb1)`` are filled in. On a hexagonal map a
    step needs two tables; more distinct keys take turns.
    """
    cdef int s
    cdef Py_ssize_t j, jc, m, n, first = -1, last = -1
    cdef Py_ssize_t Y = h.Y, B = h.B
    cdef double c
    cdef double off = 0.0 if h.kind == 0 else INFINITY  # a column that does not move
    cdef double *cf
    if h.cn < 2:
        s = h.cn
        h.cn = h.cn + 1
    else:
        s = h.cnext
        h.cnext = 1 - h.cnext
    h.ckey[s] = key
    cf = h.cf + s * h.Yp
    if (h.p1 == 0.0 and key == floor(key) and fabs(key) < <double>(Y + h.tab_cap)
            and (h.na < h.tab_cap or fabs(key) + <double>(Y - 1) < <double>h.tab_cap)):
        # Open, integer offsets (every row of a rectangular map): those below na move (and
        # no others: na stopped at one that does not, or no offset reaches past the table).
        m = <Py_ssize_t>key
        first = max(0, h.bj - m - h.na + 1)
        last = min(Y - 1, h.bj - m + h.na - 1)
        for j in range(first, last + 1):
            n = m + j - h.bj
            if n < 0:
                n = -n
            cf[j] = h.et[n] if h.kind == 0 else <double>(n * n)
        if first > last:
            first = -1
    elif h.p1 > 0.0:  # periodic: the columns that move may wrap around; look at all of them
        for j in range(Y):
            if _column(h, key, j, &cf[j]):
                if first < 0:
                    first = j
                last = j
    else:
        # Open: the factor only falls with |key + (j - bj)|, so the columns that move are one
        # run around the column closest to the winner's; walk out from it both ways.
        c = fmin(fmax(floor(0.5 - key), -<double>Y), <double>Y)  # NaN: no column moves
        jc = h.bj + <Py_ssize_t>c if c == c else 0
        jc = min(Y - 1, max(0, jc))
        if jc > 0 and fabs(key + <double>(jc - 1 - h.bj)) < fabs(key + <double>(jc - h.bj)):
            jc = jc - 1
        if jc < Y - 1 and fabs(key + <double>(jc + 1 - h.bj)) < fabs(key + <double>(jc - h.bj)):
            jc = jc + 1
        j = jc
        while j < Y and _column(h, key, j, &cf[j]):
            last = j
            j = j + 1
        if last >= 0:
            first = jc
            j = jc - 1
            while j >= 0 and _column(h, key, j, &cf[j]):
                first = j
                j = j - 1
    h.cjb0[s] = 0
    h.cjb1[s] = 0
    if first >= 0:
        h.cjb0[s] = first // B
        h.cjb1[s] = last // B + 1
        for j in range(h.cjb0[s] * B, first):
            cf[j] = off
        for j in range(last + 1, h.cjb1[s] * B):
            cf[j] = off
    return s


cdef bint _hood_row(_Hood *h, Py_ssize_t i, Py_ssize_t Y, Py_ssize_t B,
                    Py_ssize_t valid, Py_ssize_t nb, floating *g, Py_ssize_t *rjb0,
                    Py_ssize_t *rjb1) noexcept nogil:
    """Step sizes ``g[j]`` of row ``i``'s nodes for this step; the blocks ``[rjb0, rjb1)`` move.

    Returns whether any does. Lanes of those blocks that do not move get ``g[j] == 0``.
    """
    cdef Py_ssize_t j, kk, dxi, first, last
    cdef Py_ssize_t b = h.b, ld = h.coords_ld
    cdef int kind = h.kind, s
    cdef double alpha = h.alpha, sigma = h.sigma, denom = h.denom, s2 = h.s2, cut = h.cut
    cdef double thr = h.thr, bx = h.bx, by = h.by, p0 = h.p0, p1 = h.p1
    cdef double rf, gg, dx, dy, d2, dr, rr, key
    cdef const double *cf
    cdef const double *coords = h.coords
    rjb0[0] = 0
    rjb1[0] = 0
    if not h.upd:
        return False
    if h.plain:
        # the planar rectangular lattice: integer offsets, the rows below na move
        dxi = i - h.bi if i >= h.bi else h.bi - i
        if dxi >= h.na:
            return False
        rr = <double>(dxi * dxi)
        rf = alpha * h.et[dxi]
        s = 0 if h.cn > 0 else _columns(h, 0.0)
    elif h.lattice:
        # row offset dr, column offsets (o_i - o_bi) + (j - bj), each wrapped on a torus
        dr = _wrap(h.rpos[i] - h.rb, p0)
        rr = dr * dr
        if rr > cut:
            return False
        if kind == 0:
            rf = _gauss_at(h, dr)
            if not (fabs(alpha) * rf >= thr):
                return False
            rf = alpha * rf
        key = h.roff[i] - h.ob
        if h.cn > 0 and h.ckey[0] == key:
            s = 0
        elif h.cn > 1 and h.ckey[1] == key:
            s = 1
        else:
            s = _columns(h, key)
    if h.lattice:
        if h.cjb0[s] >= h.cjb1[s]:
            return False
        rjb0[0] = h.cjb0[s]
        rjb1[0] = h.cjb1[s]
        cf = h.cf + s * h.Yp
        if kind == 0:
            for j in range(rjb0[0] * B, rjb1[0] * B):
                gg = rf * cf[j]
                g[j] = <floating>gg if fabs(gg) >= thr else 0
        else:
            for j in range(rjb0[0] * B, rjb1[0] * B):
                g[j] = <floating>alpha if rr + cf[j] <= s2 else 0
        return True
    first = -1
    last = -1
    for j in range(nb * B):
        gg = 0.0
        if j < valid:
            kk = i * Y + j
            dx = _wrap(coords[kk * ld] - bx, p0)
            dy = _wrap(coords[kk * ld + 1] - by, p1)
            d2 = dx * dx + dy * dy
            if kind == 0:
                if d2 <= cut:
                    gg = alpha * exp(-d2 / denom)
            elif kind == 1:
                if d2 <= s2:
                    gg = alpha
            elif kind == 2:
                gg = alpha * (exp(-d2 / denom) * (1.0 - (2.0 / denom) * d2))
            elif kind == 3:
                if fabs(dx) < sigma and fabs(dy) < sigma:
                    gg = alpha
            elif kind == 4:
                gg = alpha * (fmax(0.0, sigma - fabs(dx)) * fmax(0.0, sigma - fabs(dy)))
            else:
                dxi = h.xpos[kk] - h.xpos[b]
                if dxi < 0:
                    dxi = -dxi
                gg = (h.xtab[h.t * h.xtab_ld + dxi]
                      * h.ytab[h.t * h.ytab_ld + h.ycode[h.ypos[kk] * h.ycode_ld + h.ypos[b]]]) * alpha
            if not (fabs(gg) >= thr):
                gg = 0.0
        g[j] = <floating>gg
        if gg != 0.0:
            if first < 0:
                first = j
            last = j
    if first < 0:
        return False
    rjb0[0] = first // B
    rjb1[0] = last // B + 1
    return True


# --- (3) one step's pass over a thread's rows
cdef floating _pass(const _Work *w, _Hood *h, int tid, int nt, floating *wf,
                    const floating *v, const floating *vn, floating *g) noexcept nogil:
    """Update this thread's rows towards ``v`` (if any) and measure them against ``vn``.

    Stores each row's least squared distance in ``w.rmin``; returns the thread's least.
    """
    cdef Py_ssize_t i = -1, cend = 0, qi = tid, valid, nb, rjb0 = 0, rjb1 = 0
    cdef const floating *pad
    cdef floating r, lbest = <floating>INFINITY
    cdef bint moves
    while True:
        i = _next_row(w, i, &cend, &qi, nt)
        if i >= w.X:
            break
        pad = _row_shape(w, <const floating *>w.padtab, i, &valid, &nb)
        moves = v != NULL and _hood_row(h, i, w.Y, w.B, valid, nb, g, &rjb0, &rjb1)
        if vn != NULL or moves:
            r = _row(_panel(w, wf, i), w.Yp, w.D, nb, rjb0 if moves else 0,
                     rjb1 if moves else 0, v if moves else NULL, vn, g, pad, NULL)
            w.rmin[i] = r
            if r < lbest:
                lbest = r
    return lbest


# --- (4) the winner agreement
cdef Py_ssize_t _agree(const _Work *w, int tid, int nt, Py_ssize_t t, floating *wf,
                       const floating *vn, floating *g, floating *db, floating lbest,
                       double *sval, int64_t *sidx, ms_barrier_t *bar,
                       int *sense) noexcept nogil:
    """The next winner, agreed by all threads (each returns it).

    The lowest index among the nodes at the least rounded Euclidean distance (sqrt of the
    squared distance), as ``np.argmin(np.linalg.norm(v - w, axis=1))`` picks it: each thread
    measures again the first of its rows within the tie limit of its least distance and
    offers that row's first node within the limit; after the barrier every thread picks the
    same one among the offers.
    """
    cdef Py_ssize_t i = -1, cend = 0, qi = tid, lrow = -1, lidx = -1, valid, nb, j, kk, b
    cdef Py_ssize_t par = ((t + 1) & 1) * w.nth  # alternate halves: no second barrier
    cdef const floating *pad
    cdef double lim = ms_tie_limit(<double>lbest), bv
    cdef int u
    while lrow < 0:  # this thread's first row holding a distance within the limit
        i = _next_row(w, i, &cend, &qi, nt)
        if i >= w.X:
            break
        if w.rmin[i] <= lim:
            lrow = i
    if lrow >= 0:
        pad = _row_shape(w, <const floating *>w.padtab, lrow, &valid, &nb)
        _row(_panel(w, wf, lrow), w.Yp, w.D, nb, 0, 0, NULL, vn, g, pad, db)
        j = 0
        while j < valid and lidx < 0:
            if db[j] <= lim:
                lidx = lrow * w.Y + j
            j = j + 1
    sval[par + tid] = lbest
    sidx[par + tid] = lidx
    ms_barrier_wait(bar, sense, nt)
    bv = INFINITY
    for u in range(nt):
        if sidx[par + u] >= 0 and sval[par + u] < bv:
            bv = sval[par + u]
    lim = ms_tie_limit(bv)
    b = -1
    for u in range(nt):
        kk = sidx[par + u]
        if kk >= 0 and sval[par + u] <= lim and (b < 0 or kk < b):
            b = kk
    return 0 if b < 0 else b  # b < 0 only when every distance is NaN


def train_online(floating[:, ::1] weights, const floating[:, ::1] data,
                 const int64_t[::1] order, const double[::1] alphas, const double[::1] sigmas,
                 const double[:, ::1] coords, int64_t grid_y, int kind, bint lattice,
                 double skip_below, int n_threads, tables=None, periods=None):
    """``len(order)`` online SOM steps in place (see :func:`minisam.reference.train_online`).

    Step ``t`` moves node ``k`` by ``alphas[t] * h(dx, dy, sigmas[t]) * (v - w_k)`` with
    ``v = data[order[t]]``, ``(dx, dy)`` the offset of node ``k``'s coordinates ``coords[k]``
    from the best-matching unit's and ``h`` the neighbourhood of code ``kind``: 0 gaussian,
    1 bubble (closed disc), 2 mexican hat (can be negative), 3 MiniSom's bubble (open
    square), 4 triangle, 5 tabulated: ``tables = (xtab, ytab, xpos, ypos, ycode)`` give
    ``h = xtab[t, |xpos[k] - xpos[b]|] * ytab[t, ycode[ypos[k], ypos[b]]]`` (see
    ``minisam.backends.compiled.NEIGHBOURHOOD_CODES``). Nodes whose influence
    ``|alphas[t] * h|`` is below ``skip_below`` (or zero) are left untouched.

    ``periods``: None (open) or two floats ``(p0, p1)``; ``p > 0`` makes that coordinate axis
    periodic: an offset ``d`` along it becomes its minimum image ``a = fmod(|d|, p);
    min(a, p - a)``. ``p == 0`` leaves the axis open. Code 5 ignores them (the tables hold the
    geometry).

    ``lattice`` (codes 0 and 1): the caller guarantees that node ``k = i * grid_y + j`` has
    ``coords[k, 0] == r_i`` (row ``i``'s position) and ``coords[k, 1] == o_i + j`` with
    ``o_i = coords[i * grid_y, 1]`` (a rectangular map: ``(i, j)``; a hexagonal one:
    ``(i sqrt(3)/2, j + (i % 2)/2)``). With winner ``(bi, bj)`` the row offset is
    ``dr = wrap0(r_i - r_bi)``, the column offset ``dc = wrap1((o_i - o_bi) + (j - bj))``,
    and ``h`` comes from a row factor times a column factor: gaussian ``(alpha *
    exp(-dr^2 / 2 sigma^2)) * exp(-dc^2 / 2 sigma^2)``, bubble ``alpha`` where
    ``dr^2 + dc^2 <= sigma^2``. A row whose own factor fails the threshold is skipped. The
    column factors depend on the row only through ``o_i - o_bi`` (two values on a hexagonal
    map), so a step costs at most ``X + 2 Y`` exponentials. Otherwise, and for codes 2 to 4,
    the neighbourhood is evaluated node by node from ``coords``.

    The weights are copied into a feature-major working copy (see the module docstring) and
    back at the end. One pass over the nodes per step updates them and measures their
    distance to the next step's sample; the winner is the lowest index among the nodes at
    the least rounded Euclidean distance, the squared differences summed in NumPy's pairwise
    order, i.e. exactly ``np.argmin(np.linalg.norm(v - w, axis=1))`` (each thread keeps its
    rows' least squared distances; the first row within the tie limit is measured again). With
    ``n_threads > 1`` each thread owns a contiguous range of grid rows, and the threads meet
    at a barrier once per step to agree on the next winner. Every node is computed by the
    same code whatever the thread count, so results do not depend on it.
    """
    cdef Py_ssize_t K = weights.shape[0], D = weights.shape[1], T = order.shape[0]
    cdef Py_ssize_t N = data.shape[0]
    cdef Py_ssize_t X, Y, maxdim, nth, t, b, u, hstride
    cdef double p0 = 0.0, p1 = 0.0
    cdef _Work work
    cdef _Hood hood
    cdef char *hoods = NULL
    cdef floating *wf = NULL
    cdef floating *gbuf = NULL
    cdef floating *dbuf = NULL
    cdef floating *padtab = NULL
    cdef double *cbuf = NULL
    cdef double *ebuf = NULL
    cdef double *rbuf = NULL
    cdef double *sval = NULL
    cdef double *rmin = NULL
    cdef int64_t *sidx = NULL
    cdef ms_barrier_t *bar = NULL
    # private to each thread of the parallel region
    cdef int tid, nt, sense
    cdef _Hood *h
    cdef floating *g
    cdef floating *db
    cdef const floating *v
    cdef const floating *vn
    cdef floating lbest
    cdef const double[:, ::1] xtab = _NO_TABLE
    cdef const double[:, ::1] ytab = _NO_TABLE
    cdef const int64_t[::1] xpos = _NO_POSITIONS
    cdef const int64_t[::1] ypos = _NO_POSITIONS
    cdef const int64_t[:, ::1] ycode = _NO_CODES

    if data.shape[1] != D:
        raise ValueError("data and weights have different numbers of features")
    if alphas.shape[0] < T or sigmas.shape[0] < T:
        raise ValueError("schedules shorter than order")
    if kind < 0 or kind > 5:
        raise ValueError(f"unknown neighbourhood code {kind}")
    if kind == 5 and T > 0 and K > 0:
        if tables is None:
            raise ValueError("neighbourhood code 5 needs tables")
        xtab, ytab, xpos, ypos, ycode = tables
        if xtab.shape[0] < T or ytab.shape[0] < T:
            raise ValueError("tables have fewer rows than steps")
        if xpos.shape[0] != K or ypos.shape[0] != K:
            raise ValueError("xpos and ypos need one entry per node")
        if np.max(xpos) - np.min(xpos) >= xtab.shape[1]:
            raise ValueError("xtab too narrow for the spread of xpos")
        if (np.min(ypos) < 0 or np.max(ypos) >= ycode.shape[0]
                or ycode.shape[0] != ycode.shape[1]):
            raise ValueError("ypos out of range of the square ycode table")
        if np.min(ycode) < 0 or np.max(ycode) >= ytab.shape[1]:
            raise ValueError("ycode out of range of ytab")
    if periods is not None:
        per = np.asarray(periods, dtype=np.float64)
        if per.shape != (2,):
            raise ValueError("periods must be None or one period per coordinate axis")
        p0 = per[0]
        p1 = per[1]
    if kind >= 2:
        lattice = False  # evaluated node by node from coords
    if T == 0 or K == 0 or D == 0:
        return
    if K > MAX_NODES:
        raise ValueError("too many nodes")
    for t in range(T):
        if order[t] < 0 or order[t] >= N:
            raise IndexError(f"sample index {order[t]} out of range for {N} samples")
    if coords.shape[0] < K or coords.shape[1] < 2:
        raise ValueError("coords must have one (x, y) row per node")
    if lattice:
        if grid_y < 1 or K % grid_y != 0:
            raise ValueError("lattice: n_nodes must be a multiple of grid_y")
        Y = grid_y
        X = K // Y
    else:
        Y = PSEUDO_ROW
        X = (K + Y - 1) // Y

    # (1) the working copy's layout
    work.K = K
    work.D = D
    work.X = X
    work.Y = Y
    work.B = 8 if floating is double else 16
    work.Yp = _round_up(Y, work.B)
    work.panel = D * work.Yp
    maxdim = max(X, Y)
    # More threads than processors would make the once-per-step barrier wait for descheduled
    # threads; the result does not depend on the thread count, so use no more than there are.
    nth = max(1, min(n_threads, omp_get_num_procs()))
    # Thread u owns the contiguous rows [u * rch, (u + 1) * rch), stored from a 4 KiB page
    # boundary: when two cores write rows that share pages, their prefetchers keep pulling
    # each other's lines and a step can cost several times the single-thread step.
    work.nth = <int>nth
    work.rch = (X + nth - 1) // nth
    work.nchunks = (X + work.rch - 1) // work.rch
    work.cstride = (_round_up(work.rch * work.panel, 4096 // sizeof(floating)) if nth > 1
                    else work.rch * work.panel)

    # the neighbourhood's description, copied to every thread
    memset(&hood, 0, sizeof(_Hood))
    hood.kind = kind
    hood.lattice = lattice
    hood.thr = skip_below if skip_below > 0.0 else 5e-324  # never "update" by exactly zero
    hood.coords = &coords[0, 0]
    hood.coords_ld = coords.shape[1]
    hood.xtab = &xtab[0, 0]
    hood.xtab_ld = xtab.shape[1]
    hood.ytab = &ytab[0, 0]
    hood.ytab_ld = ytab.shape[1]
    hood.xpos = &xpos[0]
    hood.ypos = &ypos[0]
    hood.ycode = &ycode[0, 0]
    hood.ycode_ld = ycode.shape[1]
    hood.p0 = p0 if kind != 5 else 0.0  # tables encode their own geometry
    hood.p1 = p1 if kind != 5 else 0.0
    hood.Y = Y
    hood.Yp = work.Yp
    hood.B = work.B
    hood.denom = 1.0
    hood.tab_cap = maxdim

    hstride = _round_up(sizeof(_Hood), ALIGN)
    wf = <floating *>_aligned(<size_t>(work.nchunks * work.cstride) * sizeof(floating), 4096)
    gbuf = <floating *>_aligned(<size_t>(nth * work.Yp) * sizeof(floating))
    dbuf = <floating *>_aligned(<size_t>(nth * work.Yp) * sizeof(floating))
    padtab = <floating *>_aligned(<size_t>(work.B * work.B) * sizeof(floating))
    cbuf = <double *>_aligned(<size_t>(2 * nth * work.Yp) * sizeof(double))
    ebuf = <double *>_aligned(<size_t>(nth * maxdim) * sizeof(double))
    rbuf = <double *>_aligned(<size_t>(2 * X) * sizeof(double))
    sval = <double *>_aligned(<size_t>(2 * nth) * sizeof(double))
    rmin = <double *>_aligned(<size_t>X * sizeof(double))
    sidx = <int64_t *>_aligned(<size_t>(2 * nth) * sizeof(int64_t))
    bar = <ms_barrier_t *>_aligned(sizeof(ms_barrier_t))
    hoods = <char *>_aligned(<size_t>(nth * hstride))
    try:
        if (wf == NULL or gbuf == NULL or dbuf == NULL or padtab == NULL or cbuf == NULL
                or ebuf == NULL or rbuf == NULL or sval == NULL or sidx == NULL or bar == NULL
                or rmin == NULL or hoods == NULL):
            raise MemoryError()
        bar.count = 0
        bar.sense = 0
        work.wf = wf
        work.padtab = padtab
        work.rmin = rmin
        if lattice:
            for u in range(X):
                rbuf[u] = coords[u * Y, 0]
                rbuf[X + u] = coords[u * Y, 1]
        hood.rpos = rbuf
        hood.roff = rbuf + X
        hood.plain = lattice and p0 == 0.0 and p1 == 0.0
        if hood.plain:
            for u in range(X):
                if rbuf[u] != <double>u or rbuf[X + u] != 0.0:
                    hood.plain = False
        for u in range(nth):
            h = <_Hood *>(hoods + u * hstride)
            h[0] = hood
            h.cf = cbuf + 2 * u * work.Yp
            h.et = ebuf + u * maxdim
        with nogil:
            memset(gbuf, 0, <size_t>(nth * work.Yp) * sizeof(floating))
            _copy_in(&work, &weights[0, 0], wf, padtab)

        with nogil, parallel(num_threads=nth):
            tid = threadid()
            nt = omp_get_num_threads()
            h = <_Hood *>(hoods + tid * hstride)
            g = gbuf + tid * work.Yp
            db = dbuf + tid * work.Yp
            sense = 0
            b = 0
            for t in range(-1, T):
                # (2) this step's winner b is known: set up its neighbourhood
                v = NULL
                vn = NULL
                h.upd = False
                if t >= 0:
                    v = &data[order[t], 0]
                    _hood_start(h, &work, t, b, alphas[t], sigmas[t])
                if t + 1 < T:
                    vn = &data[order[t + 1], 0]
                # (3) update this thread's rows, measure them against the next sample
                lbest = _pass(&work, h, tid, nt, wf, v, vn, g)
                # (4) agree on the next winner
                if vn != NULL:
                    b = _agree(&work, tid, nt, t, wf, vn, g, db, lbest, sval, sidx, bar,
                               &sense)

        # (5) write-back
        with nogil:
            _copy_out(&work, wf, &weights[0, 0])
    finally:
        ms_aligned_free(wf)
        ms_aligned_free(gbuf)
        ms_aligned_free(dbuf)
        ms_aligned_free(padtab)
        ms_aligned_free(cbuf)
        ms_aligned_free(ebuf)
        ms_aligned_free(rbuf)
        ms_aligned_free(sval)
        ms_aligned_free(rmin)
        ms_aligned_free(sidx)
        ms_aligned_free(bar)
        ms_aligned_free(hoods)


# ----------------------------------------------------------------------------- missing values
# The masked kernels (NaN entries of the samples are missing features): a search over the
# observed features, per-component batch sums, and online steps that move observed components
# only. Their loops are in ms_masked.h.
cdef void _masked_chunk(const floating *W, const floating *wnorm, const floating *wsq_t,
                        const floating *X, int64_t *index_out, floating *d2_out,
                        int64_t *second_out, Py_ssize_t K, Py_ssize_t D, Py_ssize_t start,
                        Py_ssize_t rows, floating *C, floating *x0, uintptr_t gemm,
                        bint ilp64) noexcept nogil:
    """Best (and optionally second-best) node of rows ``start .. start + rows - 1`` over
    their observed features: ``C`` (``rows x K``) receives ``|w|^2 - 2 x0 . w`` from the GEMM
    (or plain loops without one), less ``w_kd^2`` of every missing ``d``."""
    cdef const floating *x = X + start * D
    cdef Py_ssize_t r, k, d, best, second
    cdef double dot
    if floating is double:
        ms_zero_missing_d(x, rows * D, x0)
    else:
        ms_zero_missing_f(x, rows * D, x0)
    if gemm != 0:
        _gemm_scores(gemm, ilp64, x0, rows, W, K, D, C)
    else:
        for r in range(rows):
            for k in range(K):
                dot = 0.0
                for d in range(D):
                    dot = dot + <double>x0[r * D + d] * <double>W[k * D + d]
                C[r * K + k] = <floating>(-2.0 * dot)
    for r in range(rows):
        if floating is double:
            ms_drop_missing_norms_d(x + r * D, D, wsq_t, K, C + r * K)
        else:
            ms_drop_missing_norms_f(x + r * D, D, wsq_t, K, C + r * K)
        if second_out != NULL:
            second = -1
            if floating is double:
                best = ms_top2_d(C + r * K, wnorm, K, &second)
            else:
                best = ms_top2_f(C + r * K, wnorm, K, &second)
            second_out[start + r] = second
        else:
            if floating is double:
                best = ms_argmin_d(C + r * K, wnorm, K)
            else:
                best = ms_argmin_f(C + r * K, wnorm, K)
        if best < 0:  # only when every score is NaN
            best = 0
        index_out[start + r] = best
        if floating is double:
            d2_out[start + r] = ms_masked_d2_d(x + r * D, W + best * D, D)
        else:
            d2_out[start + r] = <float>ms_masked_d2_f(x + r * D, W + best * D, D)


def masked_bmu_search(const floating[:, ::1] weights, const floating[::1] wnorm,
                      const floating[:, ::1] wsq_t, const floating[:, ::1] data,
                      int64_t[::1] index_out, floating[::1] d2_out, int64_t[::1] second_out,
                      Py_ssize_t chunk, int n_threads, uintptr_t gemm, bint gemm_ilp64):
    """Best-matching unit of every row of ``data`` over its observed features (see the
    kernel contract): ``chunk`` rows at a time, chunks shared out dynamically between
    ``n_threads`` threads, each with a ``chunk x n_nodes`` score buffer and a ``chunk x
    n_features`` copy of its rows with NaN set to 0."""
    cdef Py_ssize_t N = data.shape[0], K = weights.shape[0], D = weights.shape[1]
    cdef Py_ssize_t n_chunks, per_scores, per_rows, c, nth
    cdef floating *bufs = NULL
    cdef floating *rowbufs = NULL
    cdef int64_t *second_ptr = NULL
    if data.shape[1] != D or wsq_t.shape[0] != D or wsq_t.shape[1] != K:
        raise ValueError("data, weights and squared weights have inconsistent shapes")
    if wnorm.shape[0] != K or index_out.shape[0] != N or d2_out.shape[0] != N:
        raise ValueError("output or norm arrays have the wrong length")
    if N == 0:
        return
    if K == 0:
        raise ValueError("masked_bmu_search needs at least one node")
    if K > MAX_NODES:
        raise ValueError("too many nodes")
    chunk = max(1, min(chunk, N))
    n_chunks = (N + chunk - 1) // chunk
    nth = max(1, min(<Py_ssize_t>n_threads, n_chunks))
    if D == 0:
        gemm = 0
    per_scores = _round_up(chunk * K, 16)
    per_rows = _round_up(chunk * D, 16)
    try:
        bufs = <floating *>_aligned(<size_t>(nth * per_scores) * sizeof(floating))
        rowbufs = <floating *>_aligned(<size_t>(nth * per_rows) * sizeof(floating))
        if bufs == NULL or rowbufs == NULL:
            raise MemoryError()
        if second_out.shape[0] == N:
            second_ptr = &second_out[0]
        for c in prange(n_chunks, nogil=True, num_threads=nth, schedule="dynamic"):
            _masked_chunk(&weights[0, 0], &wnorm[0], &wsq_t[0, 0], &data[0, 0], &index_out[0],
                          &d2_out[0], second_ptr, K, D, c * chunk, min(chunk, N - c * chunk),
                          bufs + threadid() * per_scores, rowbufs + threadid() * per_rows,
                          gemm, gemm_ilp64)
    finally:
        ms_aligned_free(bufs)
        ms_aligned_free(rowbufs)


def masked_group_sums(const floating[:, ::1] data, const int64_t[::1] index,
                      double[:, ::1] sums_out, double[:, ::1] counts_out, int n_threads):
    """Add the observed entries of every row of ``data`` to ``sums_out[index[i]]`` and count
    them in ``counts_out[index[i]]`` (one count per component), in sample order (serial: the
    pass is bound by memory bandwidth, like :func:`group_sums`)."""
    cdef Py_ssize_t N = data.shape[0], D = data.shape[1], K = sums_out.shape[0]
    cdef Py_ssize_t i, k
    if (index.shape[0] != N or sums_out.shape[1] != D or counts_out.shape[0] != K
            or counts_out.shape[1] != D):
        raise ValueError("masked_group_sums: inconsistent shapes")
    for i in range(N):
        if index[i] < 0 or index[i] >= K:
            raise IndexError(f"node index {index[i]} out of range for {K} nodes")
    if N == 0 or D == 0:
        return
    with nogil:
        for i in range(N):
            k = index[i]
            if floating is double:
                ms_masked_add_d(&data[i, 0], D, &sums_out[k, 0], &counts_out[k, 0])
            else:
                ms_masked_add_f(&data[i, 0], D, &sums_out[k, 0], &counts_out[k, 0])


cdef inline double _masked_influence(int kind, double dx, double dy,
                                     double sigma) noexcept nogil:
    """Neighbourhood ``kind`` at grid offset ``(dx, dy)`` (codes of NEIGHBOURHOOD_CODES)."""
    cdef double d2 = dx * dx + dy * dy, c
    if kind == 0:
        return exp(-d2 / (2.0 * sigma * sigma))
    if kind == 1:
        return 1.0 if d2 <= sigma * sigma else 0.0
    if kind == 2:
        c = 2.0 * sigma * sigma
        return exp(-d2 / c) * (1.0 - (2.0 / c) * d2)
    if kind == 3:
        return 1.0 if fabs(dx) < sigma and fabs(dy) < sigma else 0.0
    return fmax(0.0, sigma - fabs(dx)) * fmax(0.0, sigma - fabs(dy))


def masked_train_online(floating[:, ::1] weights, const floating[:, ::1] data,
                        const int64_t[::1] order, const double[::1] alphas,
                        const double[::1] sigmas, const double[:, ::1] coords, int kind,
                        double skip_below, int n_threads, periods=None):
    """``len(order)`` online steps on samples with missing values, in place (see the kernel
    contract): the winner over the sample's observed features (ties: lowest index), then
    every node whose influence is at least ``skip_below`` moves its observed components.
    Serial."""
    cdef Py_ssize_t K = weights.shape[0], D = weights.shape[1], T = order.shape[0]
    cdef Py_ssize_t t, k, m, bmu
    cdef double p0 = 0.0, p1 = 0.0, g, dx, dy
    cdef const floating *v
    cdef Py_ssize_t *obs = NULL
    if data.shape[1] != D or coords.shape[0] != K or coords.shape[1] != 2:
        raise ValueError("masked_train_online: inconsistent shapes")
    if alphas.shape[0] < T or sigmas.shape[0] < T:
        raise ValueError("masked_train_online: schedules shorter than the steps")
    for t in range(T):
        if order[t] < 0 or order[t] >= data.shape[0]:
            raise IndexError(f"sample index {order[t]} out of range")
    if periods is not None:
        p0 = float(periods[0])
        p1 = float(periods[1])
    if T == 0 or K == 0:
        return
    obs = <Py_ssize_t *>_aligned(<size_t>(D + 1) * sizeof(Py_ssize_t))
    if obs == NULL:
        raise MemoryError()
    try:
        with nogil:
            for t in range(T):
                v = &data[order[t], 0]
                if floating is double:
                    m = ms_observed_d(v, D, obs)
                    bmu = ms_masked_nearest_d(&weights[0, 0], K, D, v, obs, m)
                else:
                    m = ms_observed_f(v, D, obs)
                    bmu = ms_masked_nearest_f(&weights[0, 0], K, D, v, obs, m)
                for k in range(K):
                    dx = _wrap(coords[k, 0] - coords[bmu, 0], p0)
                    dy = _wrap(coords[k, 1] - coords[bmu, 1], p1)
                    g = _masked_influence(kind, dx, dy, sigmas[t]) * alphas[t]
                    if fabs(g) < skip_below:
                        continue
                    if floating is double:
                        ms_masked_move_d(&weights[k, 0], v, obs, m, g)
                    else:
                        ms_masked_move_f(&weights[k, 0], v, obs, m, g)
    finally:
        ms_aligned_free(obs)


# ----------------------------------------------------------------------------- other distances
# The MiniSom drop-in's cosine, Manhattan and Chebyshev distances (csrc/ms_distance.h): online
# training with tabulated neighbourhoods and winner searches. Codes: 1 cosine, 2 Manhattan,
# 3 Chebyshev (minisam._minisom_core.METRIC_CODES); winner searches also 0, the Euclidean
# distance exactly as np.argmin(np.linalg.norm(x - w, axis=-1)) picks winners.

cdef extern from "ms_distance.h" nogil:
    ctypedef struct ms_metric_job:
        Py_ssize_t K, D, n_steps
        const int64_t *order
        const double *alphas
        const double *xnorms
        int metric
        double thr
        const double *xtab
        Py_ssize_t xtab_ld
        const double *ytab
        Py_ssize_t ytab_ld
        const int64_t *xpos
        const int64_t *ypos
        const int64_t *ycode
        Py_ssize_t ycode_ld
    int ms_train_online_metric_d(double *weights, const double *data, const ms_metric_job *job,
                                 int nth)
    int ms_train_online_metric_f(float *weights, const float *data, const ms_metric_job *job,
                                 int nth)
    Py_ssize_t ms_metric_search_d(const double *wt, Py_ssize_t S, Py_ssize_t D, Py_ssize_t K,
                                  const double *x, double xnorm, int metric, double *dout)
    Py_ssize_t ms_metric_search_f(const float *wt, Py_ssize_t S, Py_ssize_t D, Py_ssize_t K,
                                  const float *x, double xnorm, int metric, float *dout)


def train_online_metric(floating[:, ::1] weights, const floating[:, ::1] data,
                        const int64_t[::1] order, const double[::1] alphas,
                        const double[::1] xnorms, int metric, double skip_below, int n_threads,
                        tables):
    """``len(order)`` online steps in place, winners by the distance ``metric`` (see the
    kernel contract in :mod:`minisam.backends.compiled` and ``csrc/ms_distance.h``)."""
    cdef Py_ssize_t K = weights.shape[0], D = weights.shape[1], T = order.shape[0]
    cdef Py_ssize_t N = data.shape[0], t
    cdef const double[:, ::1] xtab
    cdef const double[:, ::1] ytab
    cdef const int64_t[::1] xpos
    cdef const int64_t[::1] ypos
    cdef const int64_t[:, ::1] ycode
    cdef ms_metric_job job
    cdef int rc, nth
    if metric < 1 or metric > 3:
        raise ValueError(f"unknown distance code {metric}")
    if data.shape[1] != D:
        raise ValueError("data and weights have different numbers of features")
    if alphas.shape[0] < T:
        raise ValueError("schedules shorter than order")
    if xnorms.shape[0] < N:
        raise ValueError("xnorms needs one norm per sample")
    if T == 0 or K == 0 or D == 0:
        return
    if K > MAX_NODES:
        raise ValueError("too many nodes")
    xtab, ytab, xpos, ypos, ycode = tables
    if xtab.shape[0] < T or ytab.shape[0] < T:
        raise ValueError("tables have fewer rows than steps")
    if xpos.shape[0] != K or ypos.shape[0] != K:
        raise ValueError("xpos and ypos need one entry per node")
    if np.max(xpos) - np.min(xpos) >= xtab.shape[1]:
        raise ValueError("xtab too narrow for the spread of xpos")
    if (np.min(ypos) < 0 or np.max(ypos) >= ycode.shape[0]
            or ycode.shape[0] != ycode.shape[1]):
        raise ValueError("ypos out of range of the square ycode table")
    if np.min(ycode) < 0 or np.max(ycode) >= ytab.shape[1]:
        raise ValueError("ycode out of range of ytab")
    for t in range(T):
        if order[t] < 0 or order[t] >= N:
            raise IndexError(f"sample index {order[t]} out of range for {N} samples")
    job.K = K
    job.D = D
    job.n_steps = T
    job.order = &order[0]
    job.alphas = &alphas[0]
    job.xnorms = &xnorms[0]
    job.metric = metric
    job.thr = skip_below if skip_below > 0.0 else 5e-324  # never "update" by exactly zero
    job.xtab = &xtab[0, 0]
    job.xtab_ld = xtab.shape[1]
    job.ytab = &ytab[0, 0]
    job.ytab_ld = ytab.shape[1]
    job.xpos = &xpos[0]
    job.ypos = &ypos[0]
    job.ycode = &ycode[0, 0]
    job.ycode_ld = ycode.shape[1]
    nth = max(1, min(n_threads, omp_get_num_procs()))
    with nogil:
        if floating is double:
            rc = ms_train_online_metric_d(&weights[0, 0], &data[0, 0], &job, nth)
        else:
            rc = ms_train_online_metric_f(&weights[0, 0], &data[0, 0], &job, nth)
    if rc != 0:
        raise MemoryError()


def bmu_metric(const floating[:, ::1] weights, const floating[:, ::1] data,
               const double[::1] xnorms, int metric, int64_t[::1] index_out, int n_threads):
    """Winner of every row of ``data`` under the distance ``metric`` (the first node at the
    least distance), into ``index_out``; rows split across ``n_threads`` threads."""
    cdef Py_ssize_t K = weights.shape[0], D = weights.shape[1], N = data.shape[0]
    cdef Py_ssize_t B, S, i, k, d, nth
    cdef floating *wt = NULL
    cdef floating *dbuf = NULL
    if metric < 0 or metric > 3:
        raise ValueError(f"unknown distance code {metric}")
    if data.shape[1] != D or index_out.shape[0] < N or xnorms.shape[0] < N:
        raise ValueError("data, xnorms and index_out do not match the weights")
    if N == 0:
        return
    if K == 0:
        raise ValueError("weights have no nodes")
    B = 8 if floating is double else 16
    S = _round_up(K, B)
    nth = max(1, min(n_threads, N, omp_get_num_procs()))
    wt = <floating *>_aligned(<size_t>(S * max(D, 1)) * sizeof(floating), 4096)
    dbuf = <floating *>_aligned(<size_t>(nth * S) * sizeof(floating))
    try:
        if wt == NULL or dbuf == NULL:
            raise MemoryError()
        with nogil:
            memset(wt, 0, <size_t>(S * D) * sizeof(floating))
            for k in range(K):
                for d in range(D):
                    wt[d * S + k] = weights[k, d]
            for i in prange(N, num_threads=nth, schedule="static"):
                if floating is double:
                    index_out[i] = ms_metric_search_d(wt, S, D, K, &data[i, 0], xnorms[i],
                                                      metric, dbuf + threadid() * S)
                else:
                    index_out[i] = ms_metric_search_f(wt, S, D, K, &data[i, 0], xnorms[i],
                                                      metric, dbuf + threadid() * S)
    finally:
        ms_aligned_free(wt)
        ms_aligned_free(dbuf)
