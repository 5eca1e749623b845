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
verbatim C block below: GCC does not vectorise the same loops written in Cython well (it
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

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define MINISAM_OPENMP 1
    #else
    #define MINISAM_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_num_threads(void) { return 1; }
    static int omp_get_num_procs(void) { return 1; }
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

    /* The x86-64 micro-architecture level this CPU *and* its OS support: 1 (baseline), 3
       (x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE) or 4 (x86-64-v4: v3 + AVX-512
       F/BW/CD/DQ/VL); 0 on other architectures. Level 2 is not told apart from 1 (no kernel
       variant needs it). Read with CPUID and XGETBV, so that it works in any build of the
       module, portable or not, and under clang-cl where libgcc's __builtin_cpu_supports is
       missing. */
    #if defined(__x86_64__) || defined(_M_X64)
    /* GCC-style inline assembly, which GCC, Clang and clang-cl all accept: no cpuid.h (it
       clashes with MSVC's intrin.h under clang-cl), and no _xgetbv() (compilers only allow it
       in code built for XSAVE; XGETBV runs only once CPUID has reported OSXSAVE). */
    static void ms_cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
        __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                         : "a"(leaf), "c"(sub));
    }
    static unsigned long long ms_xcr0(void) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        return ((unsigned long long)hi << 32) | lo;
    }
    #define MS_BIT(x, n) (((x) >> (n)) & 1u)
    static int ms_x86_64_level(void) {
        unsigned r[4], ecx1, ebx7, ecx81 = 0;
        ms_cpuid(0, 0, r);
        unsigned max_leaf = r[0];
        ms_cpuid(1, 0, r);
        ecx1 = r[2];
        if (max_leaf < 7 || !MS_BIT(ecx1, 27)) return 1;  /* no leaf 7 or no OSXSAVE */
        ms_cpuid(7, 0, r);
        ebx7 = r[1];
        ms_cpuid(0x80000000u, 0, r);
        if (r[0] >= 0x80000001u) { ms_cpuid(0x80000001u, 0, r); ecx81 = r[2]; }
        unsigned long long xcr0 = ms_xcr0();
        int v3 = (xcr0 & 0x6) == 0x6 && MS_BIT(ecx1, 12) && MS_BIT(ecx1, 22) && MS_BIT(ecx1, 28)
                 && MS_BIT(ecx1, 29) && MS_BIT(ebx7, 3) && MS_BIT(ebx7, 5) && MS_BIT(ebx7, 8)
                 && MS_BIT(ecx81, 5);
        if (!v3) return 1;
        int v4 = (xcr0 & 0xE6) == 0xE6 && MS_BIT(ebx7, 16) && MS_BIT(ebx7, 17)
                 && MS_BIT(ebx7, 28) && MS_BIT(ebx7, 30) && MS_BIT(ebx7, 31);
        return v4 ? 4 : 3;
    }
    #else
    static int ms_x86_64_level(void) { return 0; }
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

    /* Largest double whose square root rounds to sqrt(m): the squared distances in [m, limit]
       all give the same rounded Euclidean distance as m. m itself unless finite and >= 0. */
    static double ms_tie_limit(double m) {
        if (!(m >= 0.0 && m < INFINITY)) return m;
        double s = sqrt(m), n;
        for (;;) {
            n = nextafter(m, INFINITY);
            if (sqrt(n) != s) return m;
            m = n;
        }
    }

    /* A sense-reversing barrier for the n threads of a parallel region. OpenMP's own barrier
       makes a futex system call every time, which costs more than a whole online step of a
       small map. Waiting threads spin, then yield the CPU once the wait gets long (so that
       more threads than cores still make progress). */
    typedef struct { int count; char pad1[60]; int sense; char pad2[60]; } ms_barrier_t;

    static void ms_barrier_wait(ms_barrier_t *bar, int *local_sense, int n) {
        if (n <= 1) return;
        int sense = !*local_sense;
        *local_sense = sense;
        if (__atomic_add_fetch(&bar->count, 1, __ATOMIC_ACQ_REL) == n) {
            __atomic_store_n(&bar->count, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&bar->sense, sense, __ATOMIC_RELEASE);
        } else {
            long spins = 0;
            while (__atomic_load_n(&bar->sense, __ATOMIC_ACQUIRE) != sense) {
                if (++spins < 256) {  /* a few microseconds */
    #if defined(__x86_64__) || defined(__i386__)
                    __builtin_ia32_pause();
    #endif
                } else {
                    ms_yield();
                }
            }
        }
    }
    """
    const int MINISAM_OPENMP
    const int MINISAM_OPENMP_VERSION
    const int MINISAM_BUILD_NATIVE
    const char *MINISAM_BUILD_COMPILER
    const char *MINISAM_BUILD_VARIANT
    int ms_x86_64_level() nogil
    void *ms_aligned_alloc(size_t n_bytes, size_t alignment) nogil
    void ms_aligned_free(void *p) nogil
    int omp_get_max_threads() nogil
    int omp_get_num_threads() nogil
    int omp_get_num_procs() nogil
    ctypedef struct ms_barrier_t:
        int count
        int sense
    void ms_barrier_wait(ms_barrier_t *bar, int *local_sense, int n) nogil
    double ms_tie_limit(double m) nogil

cdef extern from * nogil:
    r"""
    #include <stddef.h>
    #include <stdint.h>
    #include <math.h>
    #if defined(__AVX512F__)
    #include <immintrin.h>
    #endif

    #if !defined(__GNUC__) && !defined(__clang__)
    #error "minisam's Cython kernels use GCC/Clang vector extensions: build them with GCC or Clang (clang-cl on Windows)"
    #endif

    #define MS_INLINE static inline __attribute__((always_inline))
    /* MS_R(g * (v - w)): the rounded product, so that w + MS_R(...) is never contracted into an
       FMA. The online update then rounds exactly as w += g * (v - w) does in NumPy (MiniSom),
       which keeps exact ties (e.g. nodes copied onto a sample) exact. */
    #if defined(__has_builtin)
    #if __has_builtin(__builtin_assoc_barrier)
    #define MS_R(x) __builtin_assoc_barrier(x)
    #endif
    #endif
    #ifndef MS_R
    /* Clang has no such builtin; CMakeLists.txt compiles with -ffp-contract=off instead. */
    #define MS_R(x) (x)
    #endif
    #define MS_STATE_BYTES 256  /* per-row lane state of the own-loop search */

    /* SIMD vectors of the target's native width. Wider GCC vectors than the hardware's get
       split through memory (AVX2 ran the AVX-512-sized kernels 4-13x slower than SSE2 would),
       so the data layout keeps 64-byte blocks of B nodes and the loops step by L = MS_VBYTES /
       sizeof(T) nodes. Results do not depend on L: lanes are nodes, never summed together. */
    #if defined(__AVX512F__)
    #define MS_VBYTES 64
    #elif defined(__AVX__)
    #define MS_VBYTES 32
    #else
    #define MS_VBYTES 16
    #endif

    /* Elementwise a < b ? a : b (the x86 MINPD rule). */
    #if defined(__AVX512F__)
    #define MS_VMIN_d(a, b) ((ms_vt_d)_mm512_min_pd((__m512d)(a), (__m512d)(b)))
    #define MS_VMIN_f(a, b) ((ms_vt_f)_mm512_min_ps((__m512)(a), (__m512)(b)))
    #else
    #define MS_VMIN_d(a, b) ms_sel_d((a) < (b), (a), (b))
    #define MS_VMIN_f(a, b) ms_sel_f((a) < (b), (a), (b))
    #endif

    /* Kernels for one float type T with B lanes per 64-byte vector. MT: integer lanes of T's size. */
    #define MS_KERNELS(T, SFX, B, L, MT)                                                             \
    typedef T ms_vt_##SFX __attribute__((vector_size(MS_VBYTES)));                                   \
    typedef T ms_ut_##SFX __attribute__((vector_size(MS_VBYTES), aligned(sizeof(T))));               \
    typedef MT ms_mt_##SFX __attribute__((vector_size(MS_VBYTES)));                                  \
    typedef int32_t ms_it_##SFX __attribute__((vector_size((L) * 4)));                               \
                                                                                                     \
    MS_INLINE ms_vt_##SFX ms_sel_##SFX(ms_mt_##SFX m, ms_vt_##SFX a, ms_vt_##SFX b) {               \
        return (ms_vt_##SFX)(((ms_mt_##SFX)a & m) | ((ms_mt_##SFX)b & ~m));                          \
    }                                                                                                \
    MS_INLINE ms_it_##SFX ms_seli_##SFX(ms_it_##SFX m, ms_it_##SFX a, ms_it_##SFX b) {              \
        return (a & m) | (b & ~m);                                                                   \
    }                                                                                                \
    MS_INLINE ms_vt_##SFX ms_splat_##SFX(T x) {                                                      \
        ms_vt_##SFX r = {0};                                                                         \
        return r + x;                                                                                \
    }                                                                                                \
    MS_INLINE ms_it_##SFX ms_iota_##SFX(int32_t base) {                                              \
        ms_it_##SFX r;                                                                               \
        for (int j = 0; j < (L); j++) r[j] = base + j;                                               \
        return r;                                                                                    \
    }                                                                                                \
    MS_INLINE T ms_hmin_##SFX(ms_vt_##SFX m) {                                                       \
        T r = m[0];                                                                                  \
        for (int j = 1; j < (L); j++) r = m[j] < r ? m[j] : r;                                       \
        return r;                                                                                    \
    }                                                                                                \
    /* Track the lanes' smallest values and their indices (strict <: earliest index wins). */      \
    MS_INLINE void ms_track_##SFX(ms_vt_##SFX x, ms_vt_##SFX *b, ms_it_##SFX *i, ms_it_##SFX idx) { \
        ms_mt_##SFX m = x < *b;                                                                      \
        *b = ms_sel_##SFX(m, x, *b);                                                                 \
        *i = ms_seli_##SFX(__builtin_convertvector(m, ms_it_##SFX), idx, *i);                        \
    }                                                                                                \
    /* Track the two smallest (value, index) pairs of every lane. */                                \
    MS_INLINE void ms_track2_##SFX(ms_vt_##SFX x, ms_vt_##SFX *b1, ms_it_##SFX *i1,                 \
                                   ms_vt_##SFX *b2, ms_it_##SFX *i2, ms_it_##SFX idx) {              \
        ms_mt_##SFX m1 = x < *b1, m2 = x < *b2;                                                      \
        ms_it_##SFX n1 = __builtin_convertvector(m1, ms_it_##SFX);                                   \
        ms_it_##SFX n2 = __builtin_convertvector(m2, ms_it_##SFX);                                   \
        *b2 = ms_sel_##SFX(m1, *b1, ms_sel_##SFX(m2, x, *b2));                                       \
        *i2 = ms_seli_##SFX(n1, *i1, ms_seli_##SFX(n2, idx, *i2));                                   \
        *b1 = ms_sel_##SFX(m1, x, *b1);                                                              \
        *i1 = ms_seli_##SFX(n1, idx, *i1);                                                           \
    }                                                                                                \
    /* (value, index) lexicographic insertion into a running best/second pair. */                   \
    MS_INLINE void ms_insert_##SFX(T v, ptrdiff_t k, T *v1, ptrdiff_t *k1, T *v2, ptrdiff_t *k2) {   \
        if (k < 0 || !(v == v)) return;                                                              \
        if (*k1 < 0 || v < *v1 || (v == *v1 && k < *k1)) {                                           \
            *v2 = *v1; *k2 = *k1; *v1 = v; *k1 = k;                                                  \
        } else if (*k2 < 0 || v < *v2 || (v == *v2 && k < *k2)) {                                    \
            *v2 = v; *k2 = k;                                                                        \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* ---- best-matching-unit search over one row of scores s[k] + wn[k] ---- */                   \
    static ptrdiff_t ms_argmin_##SFX(const T *s, const T *wn, ptrdiff_t K) {                         \
        ms_vt_##SFX b0 = ms_splat_##SFX((T)INFINITY), b1 = b0;                                      \
        ms_it_##SFX i0 = ms_iota_##SFX(0) * 0 - 1, i1 = i0;                                          \
        ms_it_##SFX idx = ms_iota_##SFX(0);                                                          \
        ptrdiff_t k = 0;                                                                             \
        for (; k + 2 * (L) <= K; k += 2 * (L)) {                                                     \
            ms_vt_##SFX x0 = *(const ms_ut_##SFX *)(s + k) + *(const ms_ut_##SFX *)(wn + k);         \
            ms_vt_##SFX x1 = *(const ms_ut_##SFX *)(s + k + (L)) + *(const ms_ut_##SFX *)(wn + k + (L)); \
            ms_track_##SFX(x0, &b0, &i0, idx);                                                       \
            ms_track_##SFX(x1, &b1, &i1, idx + (L));                                                 \
            idx += 2 * (L);                                                                          \
        }                                                                                            \
        if (k + (L) <= K) {                                                                          \
            ms_vt_##SFX x0 = *(const ms_ut_##SFX *)(s + k) + *(const ms_ut_##SFX *)(wn + k);         \
            ms_track_##SFX(x0, &b0, &i0, idx);                                                       \
            k += (L);                                                                                \
        }                                                                                            \
        T bv = (T)INFINITY, unused_v = (T)INFINITY;                                                  \
        ptrdiff_t bi = -1, unused_k = -1;                                                            \
        for (int j = 0; j < (L); j++) {                                                              \
            ms_insert_##SFX(b0[j], i0[j], &bv, &bi, &unused_v, &unused_k);                           \
            ms_insert_##SFX(b1[j], i1[j], &bv, &bi, &unused_v, &unused_k);                           \
        }                                                                                            \
        for (; k < K; k++) {                                                                         \
            T x = s[k] + wn[k];                                                                      \
            if (x < bv) { bv = x; bi = k; }                                                          \
        }                                                                                            \
        return bi;                                                                                   \
    }                                                                                                \
    static ptrdiff_t ms_top2_##SFX(const T *s, const T *wn, ptrdiff_t K, ptrdiff_t *second) {        \
        ms_vt_##SFX b1 = ms_splat_##SFX((T)INFINITY), b2 = b1;                                      \
        ms_it_##SFX i1 = ms_iota_##SFX(0) * 0 - 1, i2 = i1;                                          \
        ms_it_##SFX idx = ms_iota_##SFX(0);                                                          \
        ptrdiff_t k = 0;                                                                             \
        for (; k + (L) <= K; k += (L), idx += (L)) {                                                 \
            ms_vt_##SFX x = *(const ms_ut_##SFX *)(s + k) + *(const ms_ut_##SFX *)(wn + k);          \
            ms_track2_##SFX(x, &b1, &i1, &b2, &i2, idx);                                             \
        }                                                                                            \
        T v1 = (T)INFINITY, v2 = (T)INFINITY;                                                        \
        ptrdiff_t k1 = -1, k2 = -1;                                                                  \
        for (int j = 0; j < (L); j++) {                                                              \
            ms_insert_##SFX(b1[j], i1[j], &v1, &k1, &v2, &k2);                                       \
            ms_insert_##SFX(b2[j], i2[j], &v1, &k1, &v2, &k2);                                       \
        }                                                                                            \
        for (; k < K; k++) ms_insert_##SFX(s[k] + wn[k], k, &v1, &k1, &v2, &k2);                     \
        *second = k2;                                                                                \
        return k1;                                                                                   \
    }                                                                                                \
    /* ---- own loops: scores of R rows against one block of nodes, tracked as they come ---- */  \
    /* Rows r0 .. r0+R-1 of x against nodes k0 .. k1-1 (wt: the (D, Kp) transposed weights, wnp:   \
       |w|^2 padded with +inf). Score = wnp[k] + (-2) x.w_k (as with the GEMM: -2 x.w is exact),    \
       tracked into the per-row lane state st (b1, i1[, b2, i2]). */                                \
    /* Scores of R rows against NBK consecutive blocks of nodes from kb, tracked into the lanes.   \
       Each score is summed over the features in order, whatever R and NBK. */                      \
    MS_INLINE void ms_own_step_##SFX(const T *restrict x, ptrdiff_t D, const T *restrict wt,         \
                                     const T *restrict wnp, ptrdiff_t Kp, ptrdiff_t kb,              \
                                     ms_vt_##SFX *b1, ms_it_##SFX *i1, ms_vt_##SFX *b2,              \
                                     ms_it_##SFX *i2, const int R, const int NBK,                    \
                                     const int want2) {                                              \
        ms_vt_##SFX acc[4][4];                                                                       \
        for (int q = 0; q < R; q++)                                                                  \
            for (int n = 0; n < NBK; n++) acc[q][n] = ms_splat_##SFX((T)0);                          \
        for (ptrdiff_t d = 0; d < D; d++) {                                                          \
            for (int n = 0; n < NBK; n++) {                                                          \
                ms_vt_##SFX w = *(const ms_vt_##SFX *)(wt + d * Kp + kb + n * (L));                  \
                for (int q = 0; q < R; q++) acc[q][n] += x[q * D + d] * w;                           \
            }                                                                                        \
        }                                                                                            \
        for (int n = 0; n < NBK; n++) {                                                              \
            ms_vt_##SFX wn = *(const ms_vt_##SFX *)(wnp + kb + n * (L));                             \
            ms_it_##SFX idx = ms_iota_##SFX((int32_t)(kb + n * (L)));                                \
            for (int q = 0; q < R; q++) {                                                            \
                ms_vt_##SFX sc = wn + acc[q][n] * (T)-2;                                             \
                if (want2) ms_track2_##SFX(sc, &b1[q], &i1[q], &b2[q], &i2[q], idx);                 \
                else ms_track_##SFX(sc, &b1[q], &i1[q], idx);                                        \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    /* Rows r0 .. r0+R-1 of x against nodes k0 .. k1-1 (wt: the (D, Kp) transposed weights, wnp:   \
       |w|^2 padded with +inf). Score = wnp[k] + (-2) x.w_k (as with the GEMM: -2 x.w is exact),    \
       tracked into the per-row lane state st (b1, i1[, b2, i2]). Four rows share each load of     \
       wt; a single row works on four blocks of nodes at once instead (independent sums). */       \
    MS_INLINE void ms_own_rows_##SFX(const T *restrict x, ptrdiff_t D, const T *restrict wt,         \
                                     const T *restrict wnp, ptrdiff_t Kp, ptrdiff_t k0,              \
                                     ptrdiff_t k1, char *restrict st, const int R,                   \
                                     const int want2) {                                              \
        ms_vt_##SFX b1[4], b2[4];                                                                    \
        ms_it_##SFX i1[4], i2[4];                                                                    \
        for (int q = 0; q < R; q++) {                                                                \
            char *sq = st + q * MS_STATE_BYTES;                                                      \
            b1[q] = *(ms_vt_##SFX *)sq;                                                              \
            b2[q] = *(ms_vt_##SFX *)(sq + 64);                                                       \
            i1[q] = *(ms_it_##SFX *)(sq + 128);                                                      \
            i2[q] = *(ms_it_##SFX *)(sq + 192);                                                      \
        }                                                                                            \
        ptrdiff_t kb = k0;                                                                           \
        if (R == 1)                                                                                  \
            for (; kb + 4 * (L) <= k1; kb += 4 * (L))                                                \
                ms_own_step_##SFX(x, D, wt, wnp, Kp, kb, b1, i1, b2, i2, 1, 4, want2);               \
        for (; kb < k1; kb += (L))                                                                   \
            ms_own_step_##SFX(x, D, wt, wnp, Kp, kb, b1, i1, b2, i2, R, 1, want2);                   \
        for (int q = 0; q < R; q++) {                                                                \
            char *sq = st + q * MS_STATE_BYTES;                                                      \
            *(ms_vt_##SFX *)sq = b1[q];                                                              \
            *(ms_vt_##SFX *)(sq + 64) = b2[q];                                                       \
            *(ms_it_##SFX *)(sq + 128) = i1[q];                                                      \
            *(ms_it_##SFX *)(sq + 192) = i2[q];                                                      \
        }                                                                                            \
    }                                                                                                \
    /* Best (and second-best) node of each of rows of x with the kernel's own loops: nodes in       \
       blocks of KB (their slice of wt stays in cache), rows four at a time. st: rows *             \
       MS_STATE_BYTES bytes of scratch, 64-byte aligned. */                                          \
    static void ms_search_own_##SFX(const T *x, ptrdiff_t rows, ptrdiff_t D, const T *wt,             \
                                    const T *wnp, ptrdiff_t Kp, char *st, int64_t *best,             \
                                    int64_t *second) {                                               \
        ptrdiff_t KB = (ptrdiff_t)(262144 / (sizeof(T) * (D > 0 ? D : 1))) / (B) * (B);            \
        if (KB < (B)) KB = (B);                                                                      \
        if (KB > 2048) KB = 2048;                                                                    \
        for (ptrdiff_t r = 0; r < rows; r++) {                                                       \
            char *sq = st + r * MS_STATE_BYTES;                                                      \
            *(ms_vt_##SFX *)sq = ms_splat_##SFX((T)INFINITY);                                        \
            *(ms_vt_##SFX *)(sq + 64) = ms_splat_##SFX((T)INFINITY);                                 \
            *(ms_it_##SFX *)(sq + 128) = ms_iota_##SFX(0) * 0 - 1;                                   \
            *(ms_it_##SFX *)(sq + 192) = ms_iota_##SFX(0) * 0 - 1;                                   \
        }                                                                                            \
        for (ptrdiff_t k0 = 0; k0 < Kp; k0 += KB) {                                                  \
            ptrdiff_t k1 = k0 + KB < Kp ? k0 + KB : Kp;                                              \
            ptrdiff_t r = 0;                                                                         \
            if (second) {                                                                            \
                for (; r + 4 <= rows; r += 4)                                                        \
                    ms_own_rows_##SFX(x + r * D, D, wt, wnp, Kp, k0, k1, st + r * MS_STATE_BYTES, 4, 1); \
                for (; r < rows; r++)                                                                \
                    ms_own_rows_##SFX(x + r * D, D, wt, wnp, Kp, k0, k1, st + r * MS_STATE_BYTES, 1, 1); \
            } else {                                                                                 \
                for (; r + 4 <= rows; r += 4)                                                        \
                    ms_own_rows_##SFX(x + r * D, D, wt, wnp, Kp, k0, k1, st + r * MS_STATE_BYTES, 4, 0); \
                for (; r < rows; r++)                                                                \
                    ms_own_rows_##SFX(x + r * D, D, wt, wnp, Kp, k0, k1, st + r * MS_STATE_BYTES, 1, 0); \
            }                                                                                        \
        }                                                                                            \
        for (ptrdiff_t r = 0; r < rows; r++) {                                                       \
            char *sq = st + r * MS_STATE_BYTES;                                                      \
            ms_vt_##SFX b1 = *(ms_vt_##SFX *)sq, b2 = *(ms_vt_##SFX *)(sq + 64);                     \
            ms_it_##SFX i1 = *(ms_it_##SFX *)(sq + 128), i2 = *(ms_it_##SFX *)(sq + 192);            \
            T v1 = (T)INFINITY, v2 = (T)INFINITY;                                                    \
            ptrdiff_t k1 = -1, k2 = -1;                                                              \
            for (int j = 0; j < (L); j++) {                                                          \
                ms_insert_##SFX(b1[j], i1[j], &v1, &k1, &v2, &k2);                                   \
                if (second) ms_insert_##SFX(b2[j], i2[j], &v1, &k1, &v2, &k2);                       \
            }                                                                                        \
            best[r] = k1;                                                                            \
            if (second) second[r] = k2;                                                              \
        }                                                                                            \
    }                                                                                                \
                                                                                                     \
    /* ---- online training on a feature-major panel: row i holds D vectors of Yp nodes ---- */     \
    /* One row: blocks [jb0, jb1) move towards v by g (if v); every block's squared distance to vn  \
       (if vn) is measured, also stored into dout (if dout); pad (if not NULL) is added to the last \
       block's distances (0 for real lanes, +inf for padding). Returns the row's least distance.   \
       The squared differences of a node are summed over the features in NumPy's pairwise order   \
       (what np.linalg.norm does), each product rounded (no FMA), so that distances are bitwise     \
       those NumPy computes. Small D (< 8, a compile-time constant after inlining): samples held    \
       in registers, one accumulator per block, features in order. */                               \
    /* Move blocks [jb0, jb1) of one row towards v by g, measuring nothing (no next sample). */      \
    MS_INLINE void ms_update_only_##SFX(T *restrict p, ptrdiff_t S, ptrdiff_t D, ptrdiff_t jb0,      \
                                        ptrdiff_t jb1, const T *restrict v,                          \
                                        const T *restrict g) {                                       \
        for (ptrdiff_t jb = jb0; jb < jb1; jb++) {                                                   \
            T *q = p + jb * (L);                                                                     \
            ms_vt_##SFX gb = *(const ms_vt_##SFX *)(g + jb * (L));                                   \
            for (ptrdiff_t d = 0; d < D; d++) {                                                      \
                ms_vt_##SFX *wp = (ms_vt_##SFX *)(q + d * S), w = *wp;                               \
                *wp = w + MS_R(gb * (v[d] - w));                                                     \
            }                                                                                        \
        }                                                                                            \
    }                                                                                                \
    /* A block's distances are complete: add the padding (+inf on the lanes past the row's end,      \
       which lie in the last B / L vectors), store them if asked, and fold them into the minima. */  \
    MS_INLINE void ms_block_done_##SFX(ms_vt_##SFX acc, ptrdiff_t jb, ptrdiff_t nblk,                \
                                       const T *restrict pad, T *restrict dout, ms_vt_##SFX *m) {    \
        if (pad && jb >= nblk - (B) / (L))                                                           \
            acc += *(const ms_vt_##SFX *)(pad + (jb - (nblk - (B) / (L))) * (L));                    \
        if (dout) *(ms_vt_##SFX *)(dout + jb * (L)) = acc;                                           \
        *m = MS_VMIN_##SFX(acc, *m);                                                                 \
    }                                                                                                \
    MS_INLINE T ms_row_small_##SFX(T *restrict p, ptrdiff_t S, const int D, ptrdiff_t nblk,          \
                                   ptrdiff_t jb0, ptrdiff_t jb1, const T *restrict v,                \
                                   const T *restrict vn, const T *restrict g,                        \
                                   const T *restrict pad, T *restrict dout) {                        \
        ms_vt_##SFX vb[8], nb[8], m = ms_splat_##SFX((T)INFINITY);                                   \
        for (int d = 0; d < D; d++) {                                                                \
            vb[d] = ms_splat_##SFX(v ? v[d] : (T)0);                                                 \
            nb[d] = ms_splat_##SFX(vn ? vn[d] : (T)0);                                               \
        }                                                                                            \
        if (!v) jb0 = jb1 = 0;                                                                       \
        if (!vn) {                                                                                   \
            ms_update_only_##SFX(p, S, D, jb0, jb1, v, g);                                           \
            return (T)INFINITY;                                                                      \
        }                                                                                            \
        for (ptrdiff_t jb = 0; jb < nblk; jb++) {                                                    \
            T *q = p + jb * (L);                                                                     \
            ms_vt_##SFX acc = {0}, x;                                                                \
            if (jb >= jb0 && jb < jb1) {                                                             \
                ms_vt_##SFX gb = *(const ms_vt_##SFX *)(g + jb * (L));                               \
                for (int d = 0; d < D; d++) {                                                        \
                    ms_vt_##SFX *wp = (ms_vt_##SFX *)(q + d * S), w = *wp;                           \
                    w = w + MS_R(gb * (vb[d] - w));                                                  \
                    *wp = w;                                                                         \
                    x = w - nb[d];                                                                   \
                    acc += MS_R(x * x);                                                              \
                }                                                                                    \
            } else {                                                                                 \
                for (int d = 0; d < D; d++) {                                                        \
                    x = *(const ms_vt_##SFX *)(q + d * S) - nb[d];                                   \
                    acc += MS_R(x * x);                                                              \
                }                                                                                    \
            }                                                                                        \
            ms_block_done_##SFX(acc, jb, nblk, pad, dout, &m);                                       \
        }                                                                                            \
        return ms_hmin_##SFX(m);                                                                     \
    }                                                                                                \
    /* Update (if UPD) and measure feature d of one block: returns the rounded (x - vn[d])^2. */  \
    MS_INLINE ms_vt_##SFX ms_sq_##SFX(T *restrict q, ptrdiff_t S, ptrdiff_t d, const int upd,      \
                                      ms_vt_##SFX gb, const T *restrict v,                         \
                                      const T *restrict vn) {                                      \
        ms_vt_##SFX *wp = (ms_vt_##SFX *)(q + d * S), w = *wp, x;                                    \
        if (upd) {                                                                                   \
            w = w + MS_R(gb * (v[d] - w));                                                           \
            *wp = w;                                                                                 \
        }                                                                                            \
        x = w - vn[d];                                                                               \
        return MS_R(x * x);                                                                          \
    }                                                                                                \
    /* NumPy's pairwise sum of the squares of features d0 .. d0+n-1 (n <= 128): in order below 8   \
       terms; else 8 interleaved partial sums, combined ((0+1)+(2+3))+((4+5)+(6+7)), then the      \
       remaining terms in order. */                                                                  \
    MS_INLINE ms_vt_##SFX ms_leaf_##SFX(T *restrict q, ptrdiff_t S, ptrdiff_t d0, ptrdiff_t n,     \
                                        const int upd, ms_vt_##SFX gb, const T *restrict v,        \
                                        const T *restrict vn) {                                    \
        ptrdiff_t i;                                                                                 \
        if (n < 8) {                                                                                 \
            ms_vt_##SFX acc = ms_splat_##SFX((T)0);                                                  \
            for (i = 0; i < n; i++) acc += ms_sq_##SFX(q, S, d0 + i, upd, gb, v, vn);                \
            return acc;                                                                              \
        }                                                                                            \
        ms_vt_##SFX r0 = ms_sq_##SFX(q, S, d0, upd, gb, v, vn);                                      \
        ms_vt_##SFX r1 = ms_sq_##SFX(q, S, d0 + 1, upd, gb, v, vn);                                  \
        ms_vt_##SFX r2 = ms_sq_##SFX(q, S, d0 + 2, upd, gb, v, vn);                                  \
        ms_vt_##SFX r3 = ms_sq_##SFX(q, S, d0 + 3, upd, gb, v, vn);                                  \
        ms_vt_##SFX r4 = ms_sq_##SFX(q, S, d0 + 4, upd, gb, v, vn);                                  \
        ms_vt_##SFX r5 = ms_sq_##SFX(q, S, d0 + 5, upd, gb, v, vn);                                  \
        ms_vt_##SFX r6 = ms_sq_##SFX(q, S, d0 + 6, upd, gb, v, vn);                                  \
        ms_vt_##SFX r7 = ms_sq_##SFX(q, S, d0 + 7, upd, gb, v, vn);                                  \
        ptrdiff_t body = n - n % 8;                                                                  \
        for (i = 8; i < body; i += 8) {                                                              \
            r0 += ms_sq_##SFX(q, S, d0 + i, upd, gb, v, vn);                                         \
            r1 += ms_sq_##SFX(q, S, d0 + i + 1, upd, gb, v, vn);                                     \
            r2 += ms_sq_##SFX(q, S, d0 + i + 2, upd, gb, v, vn);                                     \
            r3 += ms_sq_##SFX(q, S, d0 + i + 3, upd, gb, v, vn);                                     \
            r4 += ms_sq_##SFX(q, S, d0 + i + 4, upd, gb, v, vn);                                     \
            r5 += ms_sq_##SFX(q, S, d0 + i + 5, upd, gb, v, vn);                                     \
            r6 += ms_sq_##SFX(q, S, d0 + i + 6, upd, gb, v, vn);                                     \
            r7 += ms_sq_##SFX(q, S, d0 + i + 7, upd, gb, v, vn);                                     \
        }                                                                                            \
        ms_vt_##SFX res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));                         \
        for (i = body; i < n; i++) res += ms_sq_##SFX(q, S, d0 + i, upd, gb, v, vn);                 \
        return res;                                                                                  \
    }                                                                                                \
    /* NumPy's pairwise sum over features d0 .. d0+n-1: leaves of at most 128 terms, larger ranges \
       split at half (rounded down to a multiple of 8) and the two halves added. */                 \
    static ms_vt_##SFX ms_pairwise_##SFX(T *q, ptrdiff_t S, ptrdiff_t d0, ptrdiff_t n, int upd,     \
                                         ms_vt_##SFX gb, const T *v, const T *vn) {                 \
        if (n <= 128) {                                                                              \
            if (upd) return ms_leaf_##SFX(q, S, d0, n, 1, gb, v, vn);                                \
            return ms_leaf_##SFX(q, S, d0, n, 0, gb, v, vn);                                         \
        }                                                                                            \
        ptrdiff_t half = n / 2;                                                                      \
        half -= half % 8;                                                                            \
        ms_vt_##SFX a = ms_pairwise_##SFX(q, S, d0, half, upd, gb, v, vn);                           \
        return a + ms_pairwise_##SFX(q, S, d0 + half, n - half, upd, gb, v, vn);                     \
    }                                                                                                \
    static T ms_row_big_##SFX(T *restrict p, ptrdiff_t S, ptrdiff_t D, ptrdiff_t nblk,               \
                              ptrdiff_t jb0, ptrdiff_t jb1, const T *restrict v,                     \
                              const T *restrict vn, const T *restrict g, const T *restrict pad,      \
                              T *restrict dout) {                                                    \
        ms_vt_##SFX m = ms_splat_##SFX((T)INFINITY);                                                 \
        if (!v) jb0 = jb1 = 0;                                                                       \
        if (!vn) {                                                                                   \
            ms_update_only_##SFX(p, S, D, jb0, jb1, v, g);                                           \
            return (T)INFINITY;                                                                      \
        }                                                                                            \
        for (ptrdiff_t jb = 0; jb < nblk; jb++) {                                                    \
            T *q = p + jb * (L);                                                                     \
            ms_vt_##SFX acc;                                                                         \
            if (jb >= jb0 && jb < jb1)                                                               \
                acc = ms_pairwise_##SFX(q, S, 0, D, 1, *(const ms_vt_##SFX *)(g + jb * (L)), v, vn); \
            else                                                                                     \
                acc = ms_pairwise_##SFX(q, S, 0, D, 0, ms_splat_##SFX((T)0), v, vn);                 \
            ms_block_done_##SFX(acc, jb, nblk, pad, dout, &m);                                       \
        }                                                                                            \
        return ms_hmin_##SFX(m);                                                                     \
    }                                                                                                \
    static T ms_row_##SFX(T *p, ptrdiff_t S, ptrdiff_t D, ptrdiff_t nblk, ptrdiff_t jb0,             \
                          ptrdiff_t jb1, const T *v, const T *vn, const T *g, const T *pad,          \
                          T *dout) {                                                                 \
        /* Callers count in 64-byte blocks of B nodes; the loops run on vectors of L nodes. */       \
        nblk *= (B) / (L); jb0 *= (B) / (L); jb1 *= (B) / (L);                                       \
        switch (D) {                                                                                 \
        case 1: return ms_row_small_##SFX(p, S, 1, nblk, jb0, jb1, v, vn, g, pad, dout);             \
        case 2: return ms_row_small_##SFX(p, S, 2, nblk, jb0, jb1, v, vn, g, pad, dout);             \
        case 3: return ms_row_small_##SFX(p, S, 3, nblk, jb0, jb1, v, vn, g, pad, dout);             \
        case 4: return ms_row_small_##SFX(p, S, 4, nblk, jb0, jb1, v, vn, g, pad, dout);             \
        case 5: return ms_row_small_##SFX(p, S, 5, nblk, jb0, jb1, v, vn, g, pad, dout);             \
        case 6: return ms_row_small_##SFX(p, S, 6, nblk, jb0, jb1, v, vn, g, pad, dout);             \
        case 7: return ms_row_small_##SFX(p, S, 7, nblk, jb0, jb1, v, vn, g, pad, dout);             \
        default: return ms_row_big_##SFX(p, S, D, nblk, jb0, jb1, v, vn, g, pad, dout);              \
        }                                                                                            \
    }

    MS_KERNELS(double, d, 8, MS_VBYTES / 8, int64_t)
    MS_KERNELS(float, f, 16, MS_VBYTES / 4, int32_t)
    """
    double ms_row_d(double *p, Py_ssize_t S, Py_ssize_t D, Py_ssize_t nblk, Py_ssize_t jb0,
                    Py_ssize_t jb1, const double *v, const double *vn, const double *g,
                    const double *pad, double *dout)
    float ms_row_f(float *p, Py_ssize_t S, Py_ssize_t D, Py_ssize_t nblk, Py_ssize_t jb0,
                   Py_ssize_t jb1, const float *v, const float *vn, const float *g,
                   const float *pad, float *dout)
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
