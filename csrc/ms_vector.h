/* SIMD layer of minisam's kernels: GCC/Clang vector types of the target's native width, the
   rounding barrier MS_R, and per-lane helpers (select, splat, minimum tracking). Instantiated
   for double (suffix d, 8 lanes per 64-byte block) and float (suffix f, 16 lanes). */
#ifndef MINISAM_MS_VECTOR_H
#define MINISAM_MS_VECTOR_H

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

/* Vector types and lane helpers for one float type T with B lanes per 64-byte block, L lanes per
   vector. MT: integer lanes of T's size. */
#define MS_VECTOR_HELPERS(T, SFX, B, L, MT)                                                      \
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
}

/* M(T, SFX, B, L, MT) for each float type the kernels support. */
#define MS_FOR_EACH_TYPE(M)                 \
    M(double, d, 8, MS_VBYTES / 8, int64_t) \
    M(float, f, 16, MS_VBYTES / 4, int32_t)

MS_FOR_EACH_TYPE(MS_VECTOR_HELPERS)

#endif  /* MINISAM_MS_VECTOR_H */
