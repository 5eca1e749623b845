/* Online training rows of minisam's kernels: one pass over a row of the feature-major working
   copy moves its nodes towards this step's sample and measures their squared distances to the
   next step's sample, rounding exactly as NumPy does (pairwise sums, no FMA). */
#ifndef MINISAM_MS_ONLINE_H
#define MINISAM_MS_ONLINE_H

#include "ms_vector.h"

#define MS_ONLINE_KERNELS(T, SFX, B, L, MT)                                                      \
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

MS_FOR_EACH_TYPE(MS_ONLINE_KERNELS)

#endif  /* MINISAM_MS_ONLINE_H */
