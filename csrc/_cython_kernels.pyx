# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython kernels of minisam (OpenMP-parallel with ``prange``).

Kernels take C-contiguous arrays and plain scalars, write into caller-provided outputs and hold
no policy: validation, defaults and thread counts are decided by the Python backend classes.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define MINISAM_OPENMP 1
    #else
    #define MINISAM_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    #endif
    """
    const int MINISAM_OPENMP
    int omp_get_max_threads() nogil


def openmp_enabled():
    """Whether this module was compiled with OpenMP (otherwise ``prange`` runs serially)."""
    return bool(MINISAM_OPENMP)


def openmp_max_threads():
    """OpenMP's current default thread count (1 without OpenMP)."""
    return omp_get_max_threads()


def bmu_many(const floating[:, ::1] weights, const floating[:, ::1] data,
             int64_t[::1] index_out, floating[::1] d2_out, int n_threads):
    """Best-matching unit of every row of ``data`` by direct squared distances.

    Parallel over samples; ties go to the lowest node index. Distances are accumulated in
    double precision and stored in the input dtype.
    """
    cdef Py_ssize_t n_samples = data.shape[0]
    cdef Py_ssize_t n_nodes = weights.shape[0]
    cdef Py_ssize_t n_features = weights.shape[1]
    cdef Py_ssize_t i, k, d
    cdef double best, dist, diff
    cdef int64_t best_k
    for i in prange(n_samples, nogil=True, schedule="static", num_threads=n_threads):
        best = 1.0e308 * 10.0  # +inf: every finite distance is smaller
        best_k = 0
        for k in range(n_nodes):
            dist = 0.0
            for d in range(n_features):
                diff = <double>data[i, d] - <double>weights[k, d]
                dist = dist + diff * diff
            if dist < best:
                best = dist
                best_k = k
        index_out[i] = best_k
        d2_out[i] = <floating>best
