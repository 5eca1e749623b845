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
from libc.math cimport INFINITY, exp, fabs, fmax, log
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


cdef enum:
    PSEUDO_ROW = 64  # nodes per row of the working copy when coords are no lattice


def train_online(floating[:, ::1] weights, const floating[:, ::1] data,
                 const int64_t[::1] order, const double[::1] alphas, const double[::1] sigmas,
                 const double[:, ::1] coords, int64_t grid_y, int kind, bint lattice,
                 double skip_below, int n_threads, tables=None):
    """``len(order)`` online SOM steps in place (see :func:`minisam.reference.train_online`).

    Step ``t`` moves node ``k`` by ``alphas[t] * h(dx, dy, sigmas[t]) * (v - w_k)`` with
    ``v = data[order[t]]``, ``(dx, dy)`` the grid offset of node ``k`` from the best-matching
    unit and ``h`` the neighbourhood of code ``kind``: 0 gaussian, 1 bubble (closed disc),
    2 mexican hat (can be negative), 3 MiniSom's bubble (open square), 4 triangle, 5 tabulated:
    ``tables = (xtab, ytab, xpos, ypos, ycode)`` give ``h = xtab[t, |xpos[k] - xpos[b]|] *
    ytab[t, ycode[ypos[k], ypos[b]]]`` (see ``minisam.backends.compiled.NEIGHBOURHOOD_CODES``). Nodes whose influence
    ``|alphas[t] * h|`` is below ``skip_below`` (or zero) are left untouched. On a ``lattice``
    (node ``k`` at ``(k // grid_y, k % grid_y)``) the gaussian and the bubble are evaluated
    from row and column tables; otherwise, and for codes 2 to 4, ``coords`` gives each node's
    position.

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
    cdef Py_ssize_t B, X, Y, Yp, panel, maxdim, nth, t, i, j, k, d, rr
    cdef floating *wf = NULL
    cdef floating *gbuf = NULL
    cdef floating *dbuf = NULL
    cdef floating *padtab = NULL
    cdef double *cbuf = NULL
    cdef double *ebuf = NULL
    cdef double *sval = NULL
    cdef double *rmin = NULL
    cdef int64_t *sidx = NULL
    cdef ms_barrier_t *bar = NULL
    cdef double thr
    # variables private to each thread of the parallel region
    cdef int tid, nt, u, sense
    cdef floating *g
    cdef floating *db
    cdef double *cf
    cdef double *et
    cdef const floating *v
    cdef const floating *vn
    cdef const floating *pad
    cdef Py_ssize_t tab_n, b, bi, bj, na, j0, j1, jb0, jb1, rjb0, rjb1, valid, nb, rem
    cdef Py_ssize_t lrow, lidx, par, first, last, dxi, kk, cend, qi, rch, nchunks, cstride
    cdef double tab_sigma, alpha, sigma, denom, s2, cut, rf, gg, bx, by, dx, dy, d2, bv
    cdef floating r, lbest
    cdef double lim
    cdef const double[:, ::1] xtab = _NO_TABLE
    cdef const double[:, ::1] ytab = _NO_TABLE
    cdef const int64_t[::1] xpos = _NO_POSITIONS
    cdef const int64_t[::1] ypos = _NO_POSITIONS
    cdef const int64_t[:, ::1] ycode = _NO_CODES
    cdef bint upd

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
    if kind >= 2:
        lattice = False  # evaluated node by node from coords
    if T == 0 or K == 0 or D == 0:
        return
    if K > MAX_NODES:
        raise ValueError("too many nodes")
    for t in range(T):
        if order[t] < 0 or order[t] >= N:
            raise IndexError(f"sample index {order[t]} out of range for {N} samples")
    if lattice:
        if grid_y < 1 or K % grid_y != 0:
            raise ValueError("lattice: n_nodes must be a multiple of grid_y")
        Y = grid_y
        X = K // Y
    else:
        if coords.shape[0] < K or coords.shape[1] < 2:
            raise ValueError("coords must have one (x, y) row per node")
        Y = PSEUDO_ROW
        X = (K + Y - 1) // Y
    if floating is double:
        B = 8
    else:
        B = 16
    Yp = _round_up(Y, B)
    panel = D * Yp
    maxdim = max(X, Y)
    # More threads than processors would make the once-per-step barrier wait for descheduled
    # threads; the result does not depend on the thread count, so use no more than there are.
    nth = max(1, min(n_threads, omp_get_num_procs()))
    # Thread u owns the contiguous rows [u * rch, (u + 1) * rch), stored from a 4 KiB page
    # boundary: when two cores write rows that share pages, their prefetchers keep pulling
    # each other's lines and a step can cost several times the single-thread step.
    rch = (X + nth - 1) // nth
    nchunks = (X + rch - 1) // rch
    cstride = _round_up(rch * panel, 4096 // sizeof(floating)) if nth > 1 else rch * panel
    thr = skip_below if skip_below > 0.0 else 5e-324  # never "update" by exactly zero

    wf = <floating *>_aligned(<size_t>(nchunks * cstride) * sizeof(floating), 4096)
    gbuf = <floating *>_aligned(<size_t>(nth * Yp) * sizeof(floating))
    dbuf = <floating *>_aligned(<size_t>(nth * Yp) * sizeof(floating))
    padtab = <floating *>_aligned(<size_t>(B * B) * sizeof(floating))
    cbuf = <double *>_aligned(<size_t>(nth * Yp) * sizeof(double))
    ebuf = <double *>_aligned(<size_t>(nth * maxdim) * sizeof(double))
    sval = <double *>_aligned(<size_t>(2 * nth) * sizeof(double))
    rmin = <double *>_aligned(<size_t>X * sizeof(double))
    sidx = <int64_t *>_aligned(<size_t>(2 * nth) * sizeof(int64_t))
    bar = <ms_barrier_t *>_aligned(sizeof(ms_barrier_t))
    try:
        if (wf == NULL or gbuf == NULL or dbuf == NULL or padtab == NULL or cbuf == NULL
                or ebuf == NULL or sval == NULL or sidx == NULL or bar == NULL
                or rmin == NULL):
            raise MemoryError()
        bar.count = 0
        bar.sense = 0
        with nogil:
            # Working copy (padding lanes hold zeros; their distances are forced to +inf).
            memset(wf, 0, <size_t>(nchunks * cstride) * sizeof(floating))
            memset(gbuf, 0, <size_t>(nth * Yp) * sizeof(floating))
            for i in range(X):
                _transpose(&weights[i * Y, 0], min(Y, K - i * Y), D,
                           wf + _row_base(i, rch, cstride, panel), Yp)
            # padtab[rem * B + j]: 0 for the rem real lanes of a row's last block, +inf after.
            for rr in range(B):
                for j in range(B):
                    padtab[rr * B + j] = 0 if j < rr else <floating>INFINITY

        with nogil, parallel(num_threads=nth):
            tid = threadid()
            nt = omp_get_num_threads()
            g = gbuf + tid * Yp
            db = dbuf + tid * Yp
            cf = cbuf + tid * Yp
            et = ebuf + tid * maxdim
            sense = 0
            tab_n = 0
            tab_sigma = 0.0
            b = 0
            bi = 0
            bj = 0
            na = 0
            jb0 = 0
            jb1 = 0
            alpha = 0.0
            sigma = 0.0
            denom = 1.0
            s2 = 0.0
            cut = 0.0
            bx = 0.0
            by = 0.0
            for t in range(-1, T):
                # --- this step's winner b is known; set up the neighbourhood of step t
                vn = NULL
                if t + 1 < T:
                    vn = &data[order[t + 1], 0]
                v = NULL
                upd = False
                if t >= 0:
                    v = &data[order[t], 0]
                    alpha = alphas[t]
                    sigma = sigmas[t]
                    denom = 2.0 * sigma * sigma
                    s2 = sigma * sigma
                    if lattice:
                        bi = b // Y
                        bj = b - bi * Y
                        # na: offsets 0 .. na - 1 along one axis keep a factor >= thr
                        na = 0
                        if kind == 0:
                            if sigma != tab_sigma:
                                tab_sigma = sigma
                                tab_n = 0
                            while na < maxdim:
                                if na >= tab_n:
                                    et[na] = exp(-(<double>(na * na)) / denom)
                                    tab_n = na + 1
                                if not (fabs(alpha) * et[na] >= thr):
                                    break
                                na = na + 1
                        elif fabs(alpha) >= thr:
                            while na < maxdim and <double>(na * na) <= s2:
                                na = na + 1
                        if na > 0:
                            upd = True
                            j0 = max(0, bj - na + 1)
                            j1 = min(Y - 1, bj + na - 1)
                            jb0 = j0 // B
                            jb1 = j1 // B + 1
                            for j in range(jb0 * B, jb1 * B):
                                dxi = j - bj if j >= bj else bj - j
                                if j < Y and dxi < na:
                                    if kind == 0:
                                        cf[j] = et[dxi]
                                    else:
                                        cf[j] = <double>(dxi * dxi)
                                else:
                                    if kind == 0:
                                        cf[j] = 0.0
                                    else:
                                        cf[j] = INFINITY
                    else:
                        bx = coords[b, 0]
                        by = coords[b, 1]
                        if fabs(alpha) >= thr:  # |h| <= 1 for every code but 4
                            upd = True
                            cut = denom * log(fabs(alpha) / thr)
                            cut = cut + fabs(cut) * 1e-9
                        elif kind == 4 and fabs(alpha) * s2 >= thr:  # triangle: |h| <= sigma^2
                            upd = True

                # --- one pass over this thread's rows: update, then distance to the next sample
                lbest = <floating>INFINITY
                lrow = -1
                i = -1
                cend = 0
                qi = tid
                while True:
                    i = i + 1
                    if i >= cend:  # next chunk of rows for this thread
                        i = qi * rch
                        cend = min(X, i + rch)
                        qi = qi + nt
                    if i >= X:
                        break
                    valid = min(Y, K - i * Y)
                    nb = (valid + B - 1) // B
                    rem = valid - (nb - 1) * B
                    pad = NULL
                    if rem < B:
                        pad = padtab + rem * B
                    rjb0 = 0
                    rjb1 = 0
                    if upd:
                        if lattice:
                            dxi = i - bi if i >= bi else bi - i
                            if dxi < na:
                                rjb0 = jb0
                                rjb1 = jb1
                                if kind == 0:
                                    rf = alpha * et[dxi]
                                    for j in range(jb0 * B, jb1 * B):
                                        gg = rf * cf[j]
                                        g[j] = <floating>gg if fabs(gg) >= thr else 0
                                else:
                                    rf = <double>(dxi * dxi)
                                    for j in range(jb0 * B, jb1 * B):
                                        g[j] = <floating>alpha if rf + cf[j] <= s2 else 0
                        else:
                            first = -1
                            last = -1
                            for j in range(nb * B):
                                gg = 0.0
                                if j < valid:
                                    kk = i * Y + j
                                    dx = coords[kk, 0] - bx
                                    dy = coords[kk, 1] - by
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
                                        gg = alpha * (fmax(0.0, sigma - fabs(dx))
                                                      * fmax(0.0, sigma - fabs(dy)))
                                    else:
                                        dxi = xpos[kk] - xpos[b]
                                        if dxi < 0:
                                            dxi = -dxi
                                        gg = (xtab[t, dxi] * ytab[t, ycode[ypos[kk], ypos[b]]]) * alpha
                                    if not (fabs(gg) >= thr):
                                        gg = 0.0
                                g[j] = <floating>gg
                                if gg != 0.0:
                                    if first < 0:
                                        first = j
                                    last = j
                            if first >= 0:
                                rjb0 = first // B
                                rjb1 = last // B + 1
                    if vn != NULL or rjb0 < rjb1:
                        r = _row(wf + _row_base(i, rch, cstride, panel), Yp, D, nb, rjb0, rjb1,
                                 v if rjb0 < rjb1 else NULL, vn, g, pad, NULL)
                        rmin[i] = r
                        if r < lbest:
                            lbest = r

                # --- agree on the next winner: the lowest index among the nodes at the least
                # rounded Euclidean distance (sqrt of the squared distance), as
                # np.argmin(np.linalg.norm(v - w, axis=1)) picks it
                if vn != NULL:
                    lidx = -1
                    lim = ms_tie_limit(<double>lbest)
                    lrow = -1  # this thread's first row holding a distance within the limit
                    i = -1
                    cend = 0
                    qi = tid
                    while lrow < 0:
                        i = i + 1
                        if i >= cend:
                            i = qi * rch
                            cend = min(X, i + rch)
                            qi = qi + nt
                        if i >= X:
                            break
                        if rmin[i] <= lim:
                            lrow = i
                    if lrow >= 0:
                        valid = min(Y, K - lrow * Y)
                        nb = (valid + B - 1) // B
                        rem = valid - (nb - 1) * B
                        pad = NULL
                        if rem < B:
                            pad = padtab + rem * B
                        _row(wf + _row_base(lrow, rch, cstride, panel), Yp, D, nb, 0, 0, NULL, vn, g, pad,
                             db)
                        j = 0
                        while j < valid and lidx < 0:
                            if db[j] <= lim:
                                lidx = lrow * Y + j
                            j = j + 1
                    par = ((t + 1) & 1) * nth
                    sval[par + tid] = lbest
                    sidx[par + tid] = lidx
                    ms_barrier_wait(bar, &sense, nt)
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
                    if b < 0:  # only when every distance is NaN
                        b = 0

        with nogil:
            for i in range(X):
                _transpose_back(wf + _row_base(i, rch, cstride, panel), Yp,
                                min(Y, K - i * Y), D, &weights[i * Y, 0])
    finally:
        ms_aligned_free(wf)
        ms_aligned_free(gbuf)
        ms_aligned_free(dbuf)
        ms_aligned_free(padtab)
        ms_aligned_free(cbuf)
        ms_aligned_free(ebuf)
        ms_aligned_free(sval)
        ms_aligned_free(rmin)
        ms_aligned_free(sidx)
        ms_aligned_free(bar)
