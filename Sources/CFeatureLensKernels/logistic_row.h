// The per-row loss and logit gradient of the logistic objective, shared by its double data term
// (narrow_gemm.c, fl_logistic_rows) and its mixed-precision one (logistic32.c,
// fl_logistic32_rows), so both compute the same expressions in the same order. Private to the
// kernels target; included after `#pragma STDC FP_CONTRACT OFF`.
#ifndef FEATURELENS_LOGISTIC_ROW_H
#define FEATURELENS_LOGISTIC_ROW_H

#include <math.h>

// Loss and logit gradient of one row from its logits z[m] (before b, m ≥ 1), in double:
// m = 1 is the binary model (one logit v = z + b, y ∈ {0, 1}): returns log(1 + e^v) − y·v and
// sets d[0] = σ(v) − y; m ≥ 2 is the softmax: adds b to z, returns the cross-entropy of class y
// and sets d = softmax(z) − onehot(y).
static inline double logistic_row(long m, double *z, const double *b, long y, double *d) {
    if (m == 1) {
        const double v = z[0] + b[0];
        const double lse = v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));
        const double sig = v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
        d[0] = sig - (y == 1 ? 1 : 0);
        return lse - (y == 1 ? v : 0);
    }
    double mx = -INFINITY;
    for (long k = 0; k < m; k++) { z[k] += b[k]; mx = z[k] >= mx ? z[k] : mx; }
    double sum = 0;
    for (long k = 0; k < m; k++) { const double e = exp(z[k] - mx); d[k] = e; sum += e; }
    const double l = mx + log(sum) - z[y];
    for (long k = 0; k < m; k++) d[k] /= sum;
    d[y] -= 1;
    return l;
}

#endif
