/* The MiniSom drop-in's other activation distances (cosine, Manhattan, Chebyshev) on the
   kernels: online training whose winners are picked by one of them, and winner searches.

   Distances are computed exactly as MiniSom 2.3.6 computes them in NumPy, so that winners
   (ties included) are MiniSom's: per node, the sums over the features are taken in NumPy's
   pairwise order (what `sum(axis=-1)` and `norm(axis=-1)` do on contiguous rows), every
   product rounded (no FMA), and the cosine's `1 - dot / (|w| |x| + 1e-8)` in that order with
   the sample's norm `|x|` given by the caller (NumPy's `norm` of a 1-D array is a BLAS dot,
   whose order no kernel can promise to reproduce). The winner is the first node at the least
   distance (`argmin`).

   Layout: the weights are copied into feature-major panels (one per part of the nodes, each
   from a 4 KiB boundary): feature d of the part's node j at p[d * S + j], S a multiple of the
   64-byte block of B nodes. Lanes are nodes, never summed together, so the result does not
   depend on the vector width, and parts never share a node, so it does not depend on the
   number of threads either. */
#ifndef MINISAM_MS_DISTANCE_H
#define MINISAM_MS_DISTANCE_H

#include <string.h>
#include "ms_platform.h"
#include "ms_barrier.h"
#include "ms_vector.h"

/* Distance codes (minisam._minisom_core.METRIC_CODES); 0: the Euclidean distance, winners as
   `argmin(norm(x - w, axis=-1))` picks them (least rounded sqrt of the pairwise-summed squares),
   for winner searches that must settle near ties exactly. */
#define MS_EUCLIDEAN 0
#define MS_COSINE 1
#define MS_MANHATTAN 2
#define MS_CHEBYSHEV 3
/* Internal: the cosine's dot products alone (|w|^2 taken from the cache of unmoved nodes). */
#define MS_DOT 4

/* One call of online training (see train_online_metric in the kernel contract). */
typedef struct {
    ptrdiff_t K, D, n_steps;
    const int64_t *order;
    const double *alphas;
    const double *xnorms;  /* |x| of every sample (cosine) */
    int metric;
    double thr;  /* influences below thr in magnitude are skipped (> 0) */
    const double *xtab; ptrdiff_t xtab_ld;
    const double *ytab; ptrdiff_t ytab_ld;
    const int64_t *xpos;
    const int64_t *ypos;
    const int64_t *ycode; ptrdiff_t ycode_ld;
} ms_metric_job;

/* Correctly rounded square roots of every lane (IEEE sqrt, as NumPy's). */
#if defined(__AVX512F__)
#define MS_VSQRT_d(x) ((ms_vt_d)_mm512_sqrt_pd((__m512d)(x)))
#define MS_VSQRT_f(x) ((ms_vt_f)_mm512_sqrt_ps((__m512)(x)))
#elif defined(__AVX__)
#include <immintrin.h>
#define MS_VSQRT_d(x) ((ms_vt_d)_mm256_sqrt_pd((__m256d)(x)))
#define MS_VSQRT_f(x) ((ms_vt_f)_mm256_sqrt_ps((__m256)(x)))
#elif defined(__SSE2__)
#include <emmintrin.h>
#define MS_VSQRT_d(x) ((ms_vt_d)_mm_sqrt_pd((__m128d)(x)))
#define MS_VSQRT_f(x) ((ms_vt_f)_mm_sqrt_ps((__m128)(x)))
#endif

#define MS_DISTANCE_KERNELS(T, SFX, B, L, MT)                                                    \
MS_INLINE ms_vt_##SFX ms_vsqrt_##SFX(ms_vt_##SFX x) {                                            \
    MS_VSQRT_OR_LANES_##SFX(x)                                                                   \
}                                                                                                \
MS_INLINE ms_vt_##SFX ms_vabs_##SFX(ms_vt_##SFX x) {  /* clears the sign bit, as fabs */       \
    ms_vt_##SFX zero = {0};                                                                      \
    return (ms_vt_##SFX)((ms_mt_##SFX)x & ~(ms_mt_##SFX)(-zero));  /* -zero: the sign bits */   \
}                                                                                                \
/* Feature d of one vector of nodes at q: moved towards v[d] by gb (if upd), then its terms   \
   for the sample vn: cosine w * vn[d] and w * w; else |w - vn[d]|. */                          \
MS_INLINE void ms_mterm_##SFX(T *restrict q, ptrdiff_t S, ptrdiff_t d, const int upd,          \
                              const int metric, ms_vt_##SFX gb, const T *restrict v,           \
                              const T *restrict vn, ms_vt_##SFX *ta, ms_vt_##SFX *tb) {        \
    ms_vt_##SFX *wp = (ms_vt_##SFX *)(q + d * S), w = *wp;                                       \
    if (upd) {                                                                                   \
        w = w + MS_R(gb * (v[d] - w));                                                           \
        *wp = w;                                                                                 \
    }                                                                                            \
    if (metric == MS_COSINE) {                                                                   \
        *ta = MS_R(w * vn[d]);                                                                   \
        *tb = MS_R(w * w);                                                                       \
    } else if (metric == MS_DOT) {                                                               \
        *ta = MS_R(w * vn[d]);                                                                   \
    } else if (metric == MS_EUCLIDEAN) {                                                         \
        ms_vt_##SFX x = w - vn[d];                                                               \
        *ta = MS_R(x * x);                                                                       \
    } else {                                                                                     \
        *ta = ms_vabs_##SFX(w - vn[d]);                                                          \
    }                                                                                            \
}                                                                                                \
/* NumPy's pairwise sum of the terms of features d0 .. d0+n-1 (n <= 128): in order below 8    \
   terms; else 8 interleaved partial sums, combined ((0+1)+(2+3))+((4+5)+(6+7)), then the      \
   remaining terms in order. Both sums of the cosine in one walk (each feature updated once). */ \
MS_INLINE void ms_mleaf_##SFX(T *restrict q, ptrdiff_t S, ptrdiff_t d0, ptrdiff_t n,           \
                              const int upd, const int metric, ms_vt_##SFX gb,                 \
                              const T *restrict v, const T *restrict vn, ms_vt_##SFX *ra,      \
                              ms_vt_##SFX *rb) {                                               \
    ms_vt_##SFX ta = {0}, tb = {0};                                                              \
    ptrdiff_t i;                                                                                 \
    int j;                                                                                       \
    if (n < 8) {                                                                                 \
        ms_vt_##SFX a = {0}, b = {0};                                                            \
        for (i = 0; i < n; i++) {                                                                \
            ms_mterm_##SFX(q, S, d0 + i, upd, metric, gb, v, vn, &ta, &tb);                      \
            a += ta;                                                                             \
            if (metric == MS_COSINE) b += tb;                                                    \
        }                                                                                        \
        *ra = a;                                                                                 \
        *rb = b;                                                                                 \
        return;                                                                                  \
    }                                                                                            \
    ms_vt_##SFX A[8], Bs[8];                                                                     \
    _Pragma("GCC unroll 8")                                                                      \
    for (j = 0; j < 8; j++) {                                                                    \
        ms_mterm_##SFX(q, S, d0 + j, upd, metric, gb, v, vn, &A[j], &Bs[j]);                     \
    }                                                                                            \
    ptrdiff_t body = n - n % 8;                                                                  \
    for (i = 8; i < body; i += 8) {                                                              \
        _Pragma("GCC unroll 8")                                                                  \
        for (j = 0; j < 8; j++) {                                                                \
            ms_mterm_##SFX(q, S, d0 + i + j, upd, metric, gb, v, vn, &ta, &tb);                  \
            A[j] += ta;                                                                          \
            if (metric == MS_COSINE) Bs[j] += tb;                                                \
        }                                                                                        \
    }                                                                                            \
    ms_vt_##SFX a = ((A[0] + A[1]) + (A[2] + A[3])) + ((A[4] + A[5]) + (A[6] + A[7]));           \
    ms_vt_##SFX b = {0};                                                                         \
    if (metric == MS_COSINE)                                                                     \
        b = ((Bs[0] + Bs[1]) + (Bs[2] + Bs[3])) + ((Bs[4] + Bs[5]) + (Bs[6] + Bs[7]));           \
    for (i = body; i < n; i++) {                                                                 \
        ms_mterm_##SFX(q, S, d0 + i, upd, metric, gb, v, vn, &ta, &tb);                          \
        a += ta;                                                                                 \
        if (metric == MS_COSINE) b += tb;                                                        \
    }                                                                                            \
    *ra = a;                                                                                     \
    *rb = b;                                                                                     \
}                                                                                                \
/* Leaves of at most 128 features; larger ranges split at half (rounded down to a multiple   \
   of 8) and the halves added, as NumPy's pairwise sum does. */                                  \
static void ms_mpairwise_##SFX(T *q, ptrdiff_t S, ptrdiff_t d0, ptrdiff_t n, int upd,          \
                               int metric, ms_vt_##SFX gb, const T *v, const T *vn,            \
                               ms_vt_##SFX *ra, ms_vt_##SFX *rb) {                             \
    if (n <= 128) {                                                                              \
        if (metric == MS_COSINE) {                                                               \
            if (upd) ms_mleaf_##SFX(q, S, d0, n, 1, MS_COSINE, gb, v, vn, ra, rb);               \
            else ms_mleaf_##SFX(q, S, d0, n, 0, MS_COSINE, gb, v, vn, ra, rb);                   \
        } else if (metric == MS_DOT) {                                                           \
            if (upd) ms_mleaf_##SFX(q, S, d0, n, 1, MS_DOT, gb, v, vn, ra, rb);                  \
            else ms_mleaf_##SFX(q, S, d0, n, 0, MS_DOT, gb, v, vn, ra, rb);                      \
        } else if (metric == MS_EUCLIDEAN) {                                                     \
            if (upd) ms_mleaf_##SFX(q, S, d0, n, 1, MS_EUCLIDEAN, gb, v, vn, ra, rb);            \
            else ms_mleaf_##SFX(q, S, d0, n, 0, MS_EUCLIDEAN, gb, v, vn, ra, rb);                \
        } else {                                                                                 \
            if (upd) ms_mleaf_##SFX(q, S, d0, n, 1, MS_MANHATTAN, gb, v, vn, ra, rb);            \
            else ms_mleaf_##SFX(q, S, d0, n, 0, MS_MANHATTAN, gb, v, vn, ra, rb);                \
        }                                                                                        \
        return;                                                                                  \
    }                                                                                            \
    ptrdiff_t half = n / 2;                                                                      \
    half -= half % 8;                                                                            \
    ms_vt_##SFX a1, b1, a2, b2;                                                                  \
    ms_mpairwise_##SFX(q, S, d0, half, upd, metric, gb, v, vn, &a1, &b1);                        \
    ms_mpairwise_##SFX(q, S, d0 + half, n - half, upd, metric, gb, v, vn, &a2, &b2);             \
    *ra = a1 + a2;                                                                               \
    *rb = b1 + b2;                                                                               \
}                                                                                                \
/* max |w - vn| over the features (exact, so in any order: four running maxima). */          \
MS_INLINE ms_vt_##SFX ms_mmax_##SFX(T *restrict q, ptrdiff_t S, ptrdiff_t D, const int upd,    \
                                    ms_vt_##SFX gb, const T *restrict v,                       \
                                    const T *restrict vn) {                                    \
    ms_vt_##SFX m[4] = {{0}, {0}, {0}, {0}}, ta, tb;                                             \
    ptrdiff_t d = 0;                                                                             \
    for (; d + 4 <= D; d += 4) {                                                                 \
        _Pragma("GCC unroll 4")                                                                  \
        for (int j = 0; j < 4; j++) {                                                            \
            ms_mterm_##SFX(q, S, d + j, upd, MS_CHEBYSHEV, gb, v, vn, &ta, &tb);                 \
            m[j] = ms_sel_##SFX(ta > m[j], ta, m[j]);                                            \
        }                                                                                        \
    }                                                                                            \
    for (; d < D; d++) {                                                                         \
        ms_mterm_##SFX(q, S, d, upd, MS_CHEBYSHEV, gb, v, vn, &ta, &tb);                         \
        m[0] = ms_sel_##SFX(ta > m[0], ta, m[0]);                                                \
    }                                                                                            \
    m[0] = ms_sel_##SFX(m[1] > m[0], m[1], m[0]);                                                \
    m[2] = ms_sel_##SFX(m[3] > m[2], m[3], m[2]);                                                \
    return ms_sel_##SFX(m[2] > m[0], m[2], m[0]);                                                \
}                                                                                                \
/* One pass over a panel of nv vectors of nodes: vectors [u0, u1) move towards v by g (if v); \
   if vn, every node's distance to vn goes to dout (the first `valid` lanes; +inf after).      \
   Returns the least distance (+inf without vn). Cosine with a cache wwc (S values, or NULL):  \
   the norms |w| of vectors that do not move are taken from it (bitwise what they would give, \
   their weights unchanged) unless fresh; those that are computed are stored into it. */       \
static T ms_mpass_##SFX(T *p, ptrdiff_t S, ptrdiff_t D, ptrdiff_t nv, ptrdiff_t valid,          \
                        ptrdiff_t u0, ptrdiff_t u1, const T *v, const T *vn, const T *g,         \
                        int metric, double xnorm, T *dout, T *wwc, int fresh) {                  \
    ms_vt_##SFX m = ms_splat_##SFX((T)INFINITY), a, b, zero = {0};                               \
    if (!v) u0 = u1 = 0;                                                                         \
    for (ptrdiff_t jb = 0; jb < nv; jb++) {                                                      \
        T *q = p + jb * (L);                                                                     \
        int upd = jb >= u0 && jb < u1;                                                           \
        ms_vt_##SFX gb = upd ? *(const ms_vt_##SFX *)(g + jb * (L)) : zero;                      \
        if (upd) { /* a vector of nodes none of which moves is only measured */                  \
            upd = 0;                                                                             \
            for (int j = 0; j < (L); j++) upd |= gb[j] != 0;                                     \
        }                                                                                        \
        if (!vn) {                                                                               \
            if (upd)                                                                             \
                for (ptrdiff_t d = 0; d < D; d++) {                                              \
                    ms_vt_##SFX *wp = (ms_vt_##SFX *)(q + d * S), w = *wp;                       \
                    *wp = w + MS_R(gb * (v[d] - w));                                             \
                }                                                                                \
            continue;                                                                            \
        }                                                                                        \
        if (metric == MS_CHEBYSHEV) {                                                            \
            a = upd ? ms_mmax_##SFX(q, S, D, 1, gb, v, vn) : ms_mmax_##SFX(q, S, D, 0, gb, v, vn); \
        } else {                                                                                 \
            if (metric == MS_COSINE && wwc && !upd && !fresh) {                                  \
                ms_mpairwise_##SFX(q, S, 0, D, 0, MS_DOT, gb, v, vn, &a, &b);                    \
                b = *(const ms_vt_##SFX *)(wwc + jb * (L));                                      \
            } else {                                                                             \
                ms_mpairwise_##SFX(q, S, 0, D, upd, metric, gb, v, vn, &a, &b);                  \
                if (metric == MS_COSINE) b = ms_vsqrt_##SFX(b);  /* |w| */                       \
                if (metric == MS_COSINE && wwc) *(ms_vt_##SFX *)(wwc + jb * (L)) = b;            \
            }                                                                                    \
            if (metric == MS_EUCLIDEAN) a = ms_vsqrt_##SFX(a);                                   \
            if (metric == MS_COSINE) {                                                           \
                ms_vt_##SFX den = MS_R(b * (T)xnorm) + (T)1e-8;                                  \
                a = (T)1 - a / den;                                                              \
            }                                                                                    \
        }                                                                                        \
        *(ms_vt_##SFX *)(dout + jb * (L)) = a;                                                   \
    }                                                                                            \
    if (!vn) return (T)INFINITY;                                                                 \
    for (ptrdiff_t j = valid; j < nv * (L); j++) dout[j] = (T)INFINITY;                          \
    for (ptrdiff_t jb = 0; jb < nv; jb++)                                                        \
        m = MS_VMIN_##SFX(*(const ms_vt_##SFX *)(dout + jb * (L)), m);                           \
    return ms_hmin_##SFX(m);                                                                     \
}                                                                                                \
/* First of `valid` distances equal to best (the least). */                                      \
MS_INLINE ptrdiff_t ms_mfirst_##SFX(const T *dout, ptrdiff_t valid, T best) {                   \
    for (ptrdiff_t j = 0; j < valid; j++)                                                        \
        if (dout[j] == best) return j;                                                           \
    return 0;  /* every distance NaN (argmin would also say 0 for a NaN first) */                \
}                                                                                                \
/* Winner of the sample x among the K nodes of the panel wt (one part, stride S): scratch       \
   dout holds S values. */                                                                       \
static ptrdiff_t ms_metric_search_##SFX(const T *wt, ptrdiff_t S, ptrdiff_t D, ptrdiff_t K,     \
                                        const T *x, double xnorm, int metric, T *dout) {        \
    T best = ms_mpass_##SFX((T *)wt, S, D, S / (L), K, 0, 0, NULL, x, NULL, metric, xnorm,       \
                            dout, NULL, 1);                                                      \
    return ms_mfirst_##SFX(dout, K, best);                                                       \
}                                                                                                \
/* Online training (see the kernel contract): returns 0, or -1 when out of memory. */           \
static int ms_train_online_metric_##SFX(T *weights, const T *data, const ms_metric_job *job,    \
                                        int nth) {                                               \
    const ptrdiff_t K = job->K, D = job->D, T_ = job->n_steps;                                         \
    const ptrdiff_t nblk = (K + (B) - 1) / (B);                                                  \
    int parts = nth < 1 ? 1 : nth;                                                               \
    if (parts > nblk) parts = (int)nblk;                                                         \
    if (parts < 1) parts = 1;                                                                    \
    ptrdiff_t *k0 = (ptrdiff_t *)malloc(sizeof(ptrdiff_t) * (size_t)(3 * parts + 1));            \
    if (!k0) return -1;                                                                          \
    ptrdiff_t *stride = k0 + parts + 1, *base = stride + parts;                                  \
    ptrdiff_t total = 0;                                                                         \
    const ptrdiff_t page = 4096 / (ptrdiff_t)sizeof(T);                                          \
    for (int u = 0; u <= parts; u++) k0[u] = (nblk * u / parts) * (B);                           \
    for (int u = 0; u < parts; u++) {                                                            \
        stride[u] = k0[u + 1] - k0[u];                                                           \
        base[u] = total;                                                                         \
        total += ((stride[u] * D + page - 1) / page) * page;                                     \
    }                                                                                            \
    if (k0[parts] > K) k0[parts] = K;                                                            \
    T *wf = (T *)ms_aligned_alloc(sizeof(T) * (size_t)total, 4096);                              \
    T *gb = (T *)ms_aligned_alloc(sizeof(T) * (size_t)(3 * nblk * (B)), 64);                     \
    double *sval = (double *)malloc(sizeof(double) * (size_t)(2 * parts));                       \
    int64_t *sidx = (int64_t *)malloc(sizeof(int64_t) * (size_t)(2 * parts));                    \
    ms_barrier_t *bar = (ms_barrier_t *)ms_aligned_alloc(sizeof(ms_barrier_t), 64);              \
    if (!wf || !gb || !sval || !sidx || !bar) {                                                  \
        free(k0); ms_aligned_free(wf); ms_aligned_free(gb); free(sval); free(sidx);              \
        ms_aligned_free(bar);                                                                    \
        return -1;                                                                               \
    }                                                                                            \
    T *dbuf = gb + nblk * (B), *wwbuf = dbuf + nblk * (B);  /* distances; the cosine's |w| */      \
    /* per vector of L nodes: the range of its xpos; per thread: the column factors */          \
    const ptrdiff_t nvec = nblk * (B) / (L), ny = job->ycode_ld;                                 \
    int64_t *bxlo = (int64_t *)malloc(sizeof(int64_t) * (size_t)(2 * nvec));                     \
    double *ybuf = (double *)malloc(sizeof(double) * (size_t)(parts * ny));                      \
    if (!bxlo || !ybuf) {                                                                        \
        free(k0); ms_aligned_free(wf); ms_aligned_free(gb); free(sval); free(sidx);              \
        ms_aligned_free(bar); free(bxlo); free(ybuf);                                            \
        return -1;                                                                               \
    }                                                                                            \
    int64_t *bxhi = bxlo + nvec;                                                                 \
    for (ptrdiff_t vb = 0; vb < nvec; vb++) {                                                    \
        bxlo[vb] = INT64_MAX; bxhi[vb] = INT64_MIN;                                              \
        for (ptrdiff_t k = vb * (L); k < (vb + 1) * (L) && k < K; k++) {                         \
            if (job->xpos[k] < bxlo[vb]) bxlo[vb] = job->xpos[k];                                \
            if (job->xpos[k] > bxhi[vb]) bxhi[vb] = job->xpos[k];                                \
        }                                                                                        \
    }                                                                                            \
    /* whether every step's row factors are non-increasing in magnitude with the offset */      \
    int mono = 1;                                                                                \
    for (ptrdiff_t t = 0; t < T_ && mono; t++)                                                   \
        for (ptrdiff_t n = 0; n + 1 < job->xtab_ld; n++)                                         \
            if (fabs(job->xtab[t * job->xtab_ld + n + 1]) > fabs(job->xtab[t * job->xtab_ld + n])) { \
                mono = 0;                                                                        \
                break;                                                                           \
            }                                                                                    \
    memset(wf, 0, sizeof(T) * (size_t)total);                                                    \
    memset(gb, 0, sizeof(T) * (size_t)(nblk * (B)));                                             \
    for (int u = 0; u < parts; u++) {                                                            \
        T *p = wf + base[u];                                                                     \
        ptrdiff_t hi = k0[u + 1] < K ? k0[u + 1] : K;                                            \
        for (ptrdiff_t k = k0[u]; k < hi; k++)                                                   \
            for (ptrdiff_t d = 0; d < D; d++) p[d * stride[u] + (k - k0[u])] = weights[k * D + d]; \
    }                                                                                            \
    bar->count = 0;                                                                              \
    bar->sense = 0;                                                                              \
    MS_OMP_PARALLEL                                                                              \
    {                                                                                            \
        int tid = 0, nt = 1, sense = 0;                                                          \
        ms_vt_##SFX zero = {0};                                                                  \
        MS_THREAD_IDS(tid, nt)                                                                   \
        ptrdiff_t b = 0;                                                                         \
        for (ptrdiff_t t = -1; t < T_; t++) {                                                    \
            const T *v = t >= 0 ? data + job->order[t] * D : NULL;                               \
            const T *vn = t + 1 < T_ ? data + job->order[t + 1] * D : NULL;                      \
            double alpha = t >= 0 ? job->alphas[t] : 0.0;                                        \
            ptrdiff_t par = ((t + 1) & 1) * parts;                                               \
            for (int u = tid; u < parts; u += nt) {                                              \
                ptrdiff_t lo = k0[u], hi = k0[u + 1] < K ? k0[u + 1] : K;                        \
                ptrdiff_t first = -1, last = -1;                                                 \
                T *g = gb + lo;                                                                  \
                if (v) {                                                                         \
                    const double *xt = job->xtab + t * job->xtab_ld;                             \
                    const double *yt = job->ytab + t * job->ytab_ld;                             \
                    int64_t xb = job->xpos[b];                                                   \
                    const int64_t *yc = job->ycode + job->ypos[b];                               \
                    double *yf = ybuf + tid * ny, ymax = 0.0;                                    \
                    /* the column factors of this winner, and their largest magnitude */         \
                    for (ptrdiff_t j = 0; j < ny; j++) {                                         \
                        yf[j] = yt[yc[j * job->ycode_ld]];                                       \
                        ymax = fabs(yf[j]) > ymax ? fabs(yf[j]) : ymax;                          \
                    }                                                                            \
                    for (ptrdiff_t kb = lo; kb < hi; kb += (L)) {                                \
                        ptrdiff_t ke = kb + (L) < hi ? kb + (L) : hi, vb = kb / (L);             \
                        if (mono) {                                                              \
                            /* rows' factors fall with the offset: the vector's least offset   \
                               bounds its steps (rounding is monotone), so a bound below thr  \
                               means that none of its nodes moves */                           \
                            int64_t mo = xb < bxlo[vb] ? bxlo[vb] - xb                           \
                                         : (xb > bxhi[vb] ? xb - bxhi[vb] : 0);                  \
                            if (!((fabs(xt[mo]) * ymax) * fabs(alpha) >= job->thr)) {            \
                                *(ms_vt_##SFX *)(g + (kb - lo)) = zero;                          \
                                continue;                                                        \
                            }                                                                    \
                        }                                                                        \
                        for (ptrdiff_t k = kb; k < ke; k++) {                                    \
                            int64_t dx = job->xpos[k] - xb;                                      \
                            double step = (xt[dx < 0 ? -dx : dx] * yf[job->ypos[k]]) * alpha;    \
                            if (fabs(step) >= job->thr) {                                        \
                                g[k - lo] = (T)step;                                             \
                                if (first < 0) first = k - lo;                                   \
                                last = k - lo;                                                   \
                            } else {                                                             \
                                g[k - lo] = 0;                                                   \
                            }                                                                    \
                        }                                                                        \
                    }                                                                            \
                }                                                                                \
                ptrdiff_t u0 = first < 0 ? 0 : first / (L), u1 = first < 0 ? 0 : last / (L) + 1; \
                T best = ms_mpass_##SFX(wf + base[u], stride[u], D, stride[u] / (L), hi - lo,    \
                                        u0, u1, v, vn, g, job->metric,                           \
                                        vn ? job->xnorms[job->order[t + 1]] : 0.0, dbuf + lo,    \
                                        wwbuf + lo, t < 0);                                      \
                if (vn) {                                                                        \
                    sval[par + u] = (double)best;                                                \
                    sidx[par + u] = lo + ms_mfirst_##SFX(dbuf + lo, hi - lo, best);              \
                }                                                                                \
            }                                                                                    \
            if (vn) {                                                                            \
                ms_barrier_wait(bar, &sense, nt);                                                \
                double bv = INFINITY;                                                            \
                b = sidx[par];                                                                   \
                for (int u = 0; u < parts; u++)                                                  \
                    if (sval[par + u] < bv) { bv = sval[par + u]; b = sidx[par + u]; }           \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    for (int u = 0; u < parts; u++) {                                                            \
        const T *p = wf + base[u];                                                               \
        ptrdiff_t hi = k0[u + 1] < K ? k0[u + 1] : K;                                            \
        for (ptrdiff_t k = k0[u]; k < hi; k++)                                                   \
            for (ptrdiff_t d = 0; d < D; d++) weights[k * D + d] = p[d * stride[u] + (k - k0[u])]; \
    }                                                                                            \
    free(k0); ms_aligned_free(wf); ms_aligned_free(gb); free(sval); free(sidx);                  \
    ms_aligned_free(bar); free(bxlo); free(ybuf);                                                \
    return 0;                                                                                    \
}

#ifdef MS_VSQRT_d
#define MS_VSQRT_OR_LANES_d(x) return MS_VSQRT_d(x);
#define MS_VSQRT_OR_LANES_f(x) return MS_VSQRT_f(x);
#else
#define MS_VSQRT_OR_LANES_d(x) for (int j_ = 0; j_ < MS_VBYTES / 8; j_++) x[j_] = sqrt(x[j_]); return x;
#define MS_VSQRT_OR_LANES_f(x) for (int j_ = 0; j_ < MS_VBYTES / 4; j_++) x[j_] = sqrtf(x[j_]); return x;
#endif

/* Without OpenMP the region runs once, on the calling thread (no unknown-pragma warning). */
#ifdef _OPENMP
#define MS_THREAD_IDS(tid, nt) tid = omp_get_thread_num(); nt = omp_get_num_threads();
#define MS_OMP_PARALLEL _Pragma("omp parallel num_threads(parts)")
#else
#define MS_THREAD_IDS(tid, nt)
#define MS_OMP_PARALLEL
#endif

MS_FOR_EACH_TYPE(MS_DISTANCE_KERNELS)

#endif  /* MINISAM_MS_DISTANCE_H */
