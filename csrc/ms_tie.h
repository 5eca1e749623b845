/* The winner rule of minisam's kernels: nodes whose squared distances round to the same
   Euclidean distance are tied, as np.argmin(np.linalg.norm(v - w, axis=1)) sees them. */
#ifndef MINISAM_MS_TIE_H
#define MINISAM_MS_TIE_H

#include <math.h>

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

#endif  /* MINISAM_MS_TIE_H */
