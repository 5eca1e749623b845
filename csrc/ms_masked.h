/* Missing values (NaN) in minisam's kernels: the loops of the masked best-matching-unit search,
   of the per-component batch sums and of masked online steps. A NaN entry of a sample is a
   missing feature; distances are sums over the observed features only, and only observed
   components of the weights move. Instantiated for double (suffix d) and float (suffix f).

   The masked search is two products per block of samples: the scores |w_k|^2 - 2 x0 . w_k
   come from the dense search's GEMM on the block with NaN set to 0 (x0), then for every
   missing feature d of a sample the squared weights w_kd^2 (one row of the transposed
   squares, wsq_t[d * K + k]) are subtracted, which is the product M (W o W)^T restricted to
   the missing entries: with 10 % missing it costs a tenth of the first product. */
#ifndef MINISAM_MS_MASKED_H
#define MINISAM_MS_MASKED_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define MS_MASKED_KERNELS(T, SFX)                                                                \
/* x0[i] = x[i], or 0 where x[i] is missing, for n values. */                                   \
static inline void ms_zero_missing_##SFX(const T *x, ptrdiff_t n, T *x0) {                       \
    for (ptrdiff_t i = 0; i < n; i++) x0[i] = isnan(x[i]) ? (T)0 : x[i];                         \
}                                                                                                \
/* s[k] -= wsq_t[d * K + k] for every missing feature d of the sample x (D features). */        \
static inline void ms_drop_missing_norms_##SFX(const T *x, ptrdiff_t D, const T *wsq_t,          \
                                               ptrdiff_t K, T *s) {                              \
    for (ptrdiff_t d = 0; d < D; d++) {                                                          \
        if (!isnan(x[d])) continue;                                                              \
        const T *col = wsq_t + d * K;                                                            \
        for (ptrdiff_t k = 0; k < K; k++) s[k] -= col[k];                                        \
    }                                                                                            \
}                                                                                                \
/* sum over the observed features d of x of (x_d - w_d)^2, accumulated in double. */            \
static inline double ms_masked_d2_##SFX(const T *x, const T *w, ptrdiff_t D) {                  \
    double total = 0.0;                                                                          \
    for (ptrdiff_t d = 0; d < D; d++) {                                                          \
        if (isnan(x[d])) continue;                                                               \
        double diff = (double)x[d] - (double)w[d];                                               \
        total += diff * diff;                                                                    \
    }                                                                                            \
    return total;                                                                                \
}                                                                                                \
/* Indices of the observed features of v into obs; returns their number. */                     \
static inline ptrdiff_t ms_observed_##SFX(const T *v, ptrdiff_t D, ptrdiff_t *obs) {             \
    ptrdiff_t m = 0;                                                                             \
    for (ptrdiff_t d = 0; d < D; d++)                                                            \
        if (!isnan(v[d])) obs[m++] = d;                                                          \
    return m;                                                                                    \
}                                                                                                \
/* The node nearest v over its m observed features obs (W: K rows of D); ties: lowest k. */     \
static inline ptrdiff_t ms_masked_nearest_##SFX(const T *W, ptrdiff_t K, ptrdiff_t D,            \
                                                const T *v, const ptrdiff_t *obs, ptrdiff_t m) { \
    double best = INFINITY;                                                                      \
    ptrdiff_t bmu = 0;                                                                           \
    for (ptrdiff_t k = 0; k < K; k++) {                                                          \
        const T *w = W + k * D;                                                                  \
        double total = 0.0;                                                                      \
        for (ptrdiff_t q = 0; q < m; q++) {                                                      \
            double diff = (double)v[obs[q]] - (double)w[obs[q]];                                 \
            total += diff * diff;                                                                \
        }                                                                                        \
        if (total < best) { best = total; bmu = k; }                                             \
    }                                                                                            \
    return bmu;                                                                                  \
}                                                                                                \
/* w_d += g * (v_d - w_d) for the observed features obs of v, rounded in T as NumPy does. */    \
static inline void ms_masked_move_##SFX(T *w, const T *v, const ptrdiff_t *obs, ptrdiff_t m,     \
                                        double g) {                                              \
    for (ptrdiff_t q = 0; q < m; q++) {                                                          \
        ptrdiff_t d = obs[q];                                                                    \
        T step = (T)(g * (double)(v[d] - w[d]));                                                 \
        w[d] = w[d] + step;                                                                      \
    }                                                                                            \
}                                                                                                \
/* Per-component batch sums of one sample x: sums_d += x_d and counts_d += 1 where observed. */ \
static inline void ms_masked_add_##SFX(const T *x, ptrdiff_t D, double *sums, double *counts) {  \
    for (ptrdiff_t d = 0; d < D; d++) {                                                          \
        if (isnan(x[d])) continue;                                                               \
        sums[d] += (double)x[d];                                                                 \
        counts[d] += 1.0;                                                                        \
    }                                                                                            \
}

MS_MASKED_KERNELS(double, d)
MS_MASKED_KERNELS(float, f)

#endif  /* MINISAM_MS_MASKED_H */
