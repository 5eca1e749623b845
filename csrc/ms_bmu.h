/* Best-matching-unit search of minisam's kernels: the argmin (and best two) of one row of GEMM
   scores, and the kernels' own loops that score rows of samples against blocks of nodes
   without a score buffer. Ties go to the lowest index. */
#ifndef MINISAM_MS_BMU_H
#define MINISAM_MS_BMU_H

#include "ms_vector.h"

#define MS_STATE_BYTES 256  /* per-row lane state of the own-loop search */

#define MS_BMU_KERNELS(T, SFX, B, L, MT)                                                         \
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
}

MS_FOR_EACH_TYPE(MS_BMU_KERNELS)

#endif  /* MINISAM_MS_BMU_H */
