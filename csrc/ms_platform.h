/* Platform layer of minisam's kernels: OpenMP (or serial stand-ins), build facts, aligned
   allocation and yielding the CPU. Header-only: every kernel variant is one translation unit
   (the Cython module), so everything here is static. */
#ifndef MINISAM_MS_PLATFORM_H
#define MINISAM_MS_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#define MINISAM_OPENMP 1
#else
#define MINISAM_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_num_procs(void) { return 1; }
#endif
#include <math.h>
#include <stdlib.h>
#if defined(_WIN32)
#include <malloc.h>
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX  /* keep windows.h from defining min() and max() macros */
#endif
#include <windows.h>
#define ms_yield() SwitchToThread()
#else
#include <sched.h>
#define ms_yield() sched_yield()
#endif

/* Build facts for minisam.show_config(); CMake defines them, a bare compile gets these. */
#ifndef MINISAM_BUILD_COMPILER
#define MINISAM_BUILD_COMPILER "unknown"
#endif
#ifndef MINISAM_BUILD_NATIVE
#define MINISAM_BUILD_NATIVE 0
#endif
#ifndef MINISAM_BUILD_VARIANT
#define MINISAM_BUILD_VARIANT "unknown"
#endif

#ifdef _OPENMP
#define MINISAM_OPENMP_VERSION _OPENMP
#else
#define MINISAM_OPENMP_VERSION 0
#endif

/* Aligned allocation, released with ms_aligned_free (never plain free: Windows keeps
   aligned blocks in a separate heap). */
static void *ms_aligned_alloc(size_t n_bytes, size_t alignment) {
#if defined(_WIN32)
    return _aligned_malloc(n_bytes, alignment);
#else
    void *p = NULL;
    return posix_memalign(&p, alignment, n_bytes) == 0 ? p : NULL;
#endif
}
static void ms_aligned_free(void *p) {
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}

#endif  /* MINISAM_MS_PLATFORM_H */
