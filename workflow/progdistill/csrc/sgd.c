/* Online SGD (batch size 1) for R stacked one-hidden-layer ReLU MLPs; the compiled backend of engine.py.
 *
 * Semantics are exactly those of engine.TorchBackend.run_steps (see there); per run r and step t:
 *   pre = b1 + W1 x,  h = relu(pre),  logits = W2 h + b2,  g = softmax(logits) - Q[t]
 *   dh  = (W2^T g) * (pre > 0)        (W2 before its update)
 *   W2 -= lr[t] g h^T,  b2 -= lr[t] g,  W1 -= lr[t] dh x^T,  b1 -= lr[t] dh
 * Layout (row-major, float32): W1t (R,n,m), b1 (R,m), W2 (R,C,m), b2 (R,C), X (R,K,n) int8,
 * Q (R,K,C), lr (R,K): one learning rate per run and step (a schedule may change it within a call).
 *
 * Runs are independent, so OpenMP splits runs across threads (static schedule, no per-step barrier) and
 * each thread walks the K steps of its run with that run's weights hot in cache. The W1 update of step t
 * is fused with the forward pass of step t+1, so W1 is read and written once per step. The loop over the
 * hidden units is tiled so the pre/dh slices stay in L1 while the rows of W1 stream past.
 *
 * Determinism: every floating-point operation on a given element happens in a fixed order that does
 * not depend on the thread count, the other runs, pointer alignment or how the K steps are split into
 * calls (the dot products use a fixed 16-lane split rather than a compiler reduction). Results are
 * therefore bit-identical across chunkings and run groupings. Do not build with -ffast-math.
 *
 * progdistill_sgd_hidden is the first phase of curriculum extraction (engine.run_hidden_steps): the squared
 * loss between the hidden layer and a target Z (R,K,m), first layer only.
 *
 * Build variants (kernel.py picks the flags):
 *   -DPD_DOUBLE        every float of the contract is a double (tests: exact comparisons with float64 torch)
 *   -DPD_PORTABLE_EXP  exp from a fixed polynomial instead of libm's expf, whose CPU-specific variants (FMA or
 *                      not) can round differently; with -ffp-contract=off the results then depend on neither
 *                      the vector width nor the CPU (the portable build)
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TILE 512 /* hidden units per tile of the fused W1 pass: pre+dh tiles = 4 KiB in L1 */
#define LANES 16 /* independent partial sums of a dot product (one AVX-512 vector, two AVX2) */

#ifdef PD_DOUBLE
typedef double real;
#define PD_ABI 6 /* 5, 6: + progdistill_sgd_hidden; 3, 4: per-step lr (R,K); 1, 2 had one lr per run */
#else
typedef float real;
#define PD_ABI 5
#endif

#ifdef PD_PORTABLE_EXP
/* e^x for x <= 0 (max-subtracted logits): x = k ln2 + r, |r| <= ln2/2, degree-13 Taylor polynomial of e^r in
 * double (relative error < 1e-16 before the final rounding), scaled by 2^k. Plain IEEE operations only. */
static real pd_exp(real xr) {
    const double x = (double)xr;
    if (x != x) return xr; /* NaN passes through, as in expf */
    if (x < -745.0) return (real)0;
    const double k = nearbyint(x * 1.4426950408889634);
    const double r = (x - k * 0.693145751953125) - k * 1.4286068203094172321e-06;
    double p = 1.0 / 6227020800.0;
    static const double c[13] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
                                 1.0 / 6.0, 0.5, 1.0, 1.0};
    for (int i = 0; i < 13; i++) p = p * r + c[i];
    return (real)ldexp(p, (int)k);
}
#define EXP pd_exp
#elif defined(PD_DOUBLE)
#define EXP exp
#else
#define EXP expf
#endif

int progdistill_sgd_abi(void) { return PD_ABI; }

/* sum_j a[j] * b[j] with a fixed summation order (vectorisable without -ffast-math). */
static real dot(const real *restrict a, const real *restrict b, int64_t m) {
    real acc[LANES];
    for (int k = 0; k < LANES; k++) acc[k] = 0.0f;
    int64_t j = 0;
    for (; j + LANES <= m; j += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += a[j + k] * b[j + k];
    real tail = 0.0f;
    for (; j < m; j++) tail += a[j] * b[j];
    for (int w = LANES / 2; w > 0; w >>= 1)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0] + tail;
}

/* pre[j0:j0+len] = b1 + sum_i x[i] * W1t[i, j0:j0+len]   (i ascending) */
static void forward_tile(real *restrict p, const real *restrict b1, const real *restrict W1t,
                         const int8_t *restrict x, int64_t n, int64_t m, int64_t len) {
    for (int64_t j = 0; j < len; j++) p[j] = b1[j];
    for (int64_t i = 0; i < n; i++) {
        const real s = (real)x[i];
        const real *restrict w = W1t + i * m;
        for (int64_t j = 0; j < len; j++) p[j] += s * w[j];
    }
}

/* W1t[i, tile] += (-lr * x[i]) * dh[tile] for all i; if xn, also pre[tile] = b1 + sum_i xn[i] * W1t_new[i]
 * in the same pass (same operation order as forward_tile, so a chunk boundary changes nothing). */
static void update_tile(real *restrict W1t, real *restrict p, const real *restrict d,
                        const real *restrict b1, const int8_t *restrict x, const int8_t *restrict xn,
                        real neg_lr, int64_t n, int64_t m, int64_t len) {
    if (xn) {
        for (int64_t j = 0; j < len; j++) p[j] = b1[j];
        for (int64_t i = 0; i < n; i++) {
            const real c = (real)x[i] * neg_lr;
            const real s = (real)xn[i];
            real *restrict w = W1t + i * m;
            for (int64_t j = 0; j < len; j++) {
                const real v = w[j] + c * d[j];
                w[j] = v;
                p[j] += s * v;
            }
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            const real c = (real)x[i] * neg_lr;
            real *restrict w = W1t + i * m;
            for (int64_t j = 0; j < len; j++) {
                const real v = w[j] + c * d[j];
                w[j] = v;
            }
        }
    }
}

/* K steps of one run. ws: 3*m + C floats of scratch. */
static void run_one(real *restrict W1t, real *restrict b1, real *restrict W2, real *restrict b2,
                    const int8_t *restrict X, const real *restrict Q, const real *restrict lr, int64_t K,
                    int64_t n, int64_t m, int64_t C, real *restrict ws) {
    real *restrict pre = ws;
    real *restrict h = ws + m;
    real *restrict dh = ws + 2 * m;
    real *restrict g = ws + 3 * m;

    for (int64_t j0 = 0; j0 < m; j0 += TILE) {
        const int64_t len = m - j0 < TILE ? m - j0 : TILE;
        forward_tile(pre + j0, b1 + j0, W1t + j0, X, n, m, len);
    }

    for (int64_t t = 0; t < K; t++) {
        const int8_t *restrict x = X + t * n;
        const real *restrict q = Q + t * C;
        const real neg_lr = -lr[t];

        /* relu; NaN passes through as in torch.relu */
        for (int64_t j = 0; j < m; j++) h[j] = pre[j] < 0.0f ? 0.0f : pre[j];

        /* logits and softmax (max-subtracted), g = softmax - q */
        real mx = -INFINITY;
        for (int64_t c = 0; c < C; c++) {
            g[c] = b2[c] + dot(W2 + c * m, h, m);
            if (g[c] > mx) mx = g[c];
        }
        real sum = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            g[c] = EXP(g[c] - mx);
            sum += g[c];
        }
        for (int64_t c = 0; c < C; c++) g[c] = g[c] / sum - q[c];

        /* dh = W2^T g with the old W2, then W2 -= lr g h^T, in one pass per class */
        for (int64_t c = 0; c < C; c++) {
            const real gc = g[c];
            const real a = gc * neg_lr;
            real *restrict w = W2 + c * m;
            if (c == 0) {
                for (int64_t j = 0; j < m; j++) {
                    dh[j] = gc * w[j];
                    w[j] += a * h[j];
                }
            } else {
                for (int64_t j = 0; j < m; j++) {
                    dh[j] += gc * w[j];
                    w[j] += a * h[j];
                }
            }
        }
        /* multiply by the mask (not select) so inf/NaN behave as in torch */
        for (int64_t j = 0; j < m; j++) dh[j] *= pre[j] > 0.0f ? 1.0f : 0.0f;
        for (int64_t c = 0; c < C; c++) b2[c] += g[c] * neg_lr;
        for (int64_t j = 0; j < m; j++) b1[j] += dh[j] * neg_lr;

        /* W1 update of step t fused with the forward pass of step t+1 */
        const int8_t *xn = t + 1 < K ? X + (t + 1) * n : NULL;
        for (int64_t j0 = 0; j0 < m; j0 += TILE) {
            const int64_t len = m - j0 < TILE ? m - j0 : TILE;
            update_tile(W1t + j0, pre + j0, dh + j0, b1 + j0, x, xn, neg_lr, n, m, len);
        }
    }
}

/* Returns 0 on success, 1 if scratch memory could not be allocated (that run is left untouched). */
int progdistill_sgd(real *W1t, real *b1, real *W2, real *b2, const int8_t *X, const real *Q,
                    const real *lr, int64_t R, int64_t K, int64_t n, int64_t m, int64_t C, int threads) {
    int err = 0;
    if (R <= 0 || K <= 0) return 0;
    if (threads < 1) threads = 1;
    if (threads > R) threads = (int)R;
    const size_t ws_bytes = ((size_t)(3 * m + C) * sizeof(real) + 63) / 64 * 64;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : err)
    for (int64_t r = 0; r < R; r++) {
        real *ws = aligned_alloc(64, ws_bytes);
        if (!ws) {
            err |= 1;
            continue;
        }
        run_one(W1t + r * n * m, b1 + r * m, W2 + r * C * m, b2 + r * C, X + r * K * n, Q + r * K * C,
                lr + r * K, K, n, m, C, ws);
        free(ws);
    }
    return err;
}

/* Phase 1 of curriculum extraction (strategies.Extraction): K steps of one run on the squared loss
 *   L = scale/2 * sum_j (h_j - z_j)^2,  h = relu(b1 + W1 x)
 * between the hidden layer and a target z[t] (a fixed random projection of the teacher's hidden layer);
 * only the first layer learns:  d = scale * (h - z) * (pre > 0),  W1 -= lr[t] d x^T,  b1 -= lr[t] d.
 * The W1 update of step t is fused with the forward pass of step t+1, in the operation order of run_one.
 * ws: m floats of scratch (pre), then m (d). */
static void run_one_hidden(real *restrict W1t, real *restrict b1, const int8_t *restrict X,
                           const real *restrict Z, const real *restrict lr, real scale, int64_t K,
                           int64_t n, int64_t m, real *restrict ws) {
    real *restrict pre = ws;
    real *restrict d = ws + m;
    for (int64_t j0 = 0; j0 < m; j0 += TILE) {
        const int64_t len = m - j0 < TILE ? m - j0 : TILE;
        forward_tile(pre + j0, b1 + j0, W1t + j0, X, n, m, len);
    }
    for (int64_t t = 0; t < K; t++) {
        const int8_t *restrict x = X + t * n;
        const real *restrict z = Z + t * m;
        const real neg_lr = -lr[t];
        /* relu as in run_one (NaN passes through); multiply by the mask so inf/NaN behave as in torch */
        for (int64_t j = 0; j < m; j++) {
            const real h = pre[j] < 0.0f ? 0.0f : pre[j];
            d[j] = (scale * (h - z[j])) * (pre[j] > 0.0f ? 1.0f : 0.0f);
        }
        for (int64_t j = 0; j < m; j++) b1[j] += d[j] * neg_lr;
        const int8_t *xn = t + 1 < K ? X + (t + 1) * n : NULL;
        for (int64_t j0 = 0; j0 < m; j0 += TILE) {
            const int64_t len = m - j0 < TILE ? m - j0 : TILE;
            update_tile(W1t + j0, pre + j0, d + j0, b1 + j0, x, xn, neg_lr, n, m, len);
        }
    }
}

/* Returns 0 on success, 1 if scratch memory could not be allocated (that run is left untouched). */
int progdistill_sgd_hidden(real *W1t, real *b1, const int8_t *X, const real *Z, const real *lr, real scale,
                           int64_t R, int64_t K, int64_t n, int64_t m, int threads) {
    int err = 0;
    if (R <= 0 || K <= 0) return 0;
    if (threads < 1) threads = 1;
    if (threads > R) threads = (int)R;
    const size_t ws_bytes = ((size_t)(2 * m) * sizeof(real) + 63) / 64 * 64;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : err)
    for (int64_t r = 0; r < R; r++) {
        real *ws = aligned_alloc(64, ws_bytes);
        if (!ws) {
            err |= 1;
            continue;
        }
        run_one_hidden(W1t + r * n * m, b1 + r * m, X + r * K * n, Z + r * K * m, lr + r * K, scale, K, n, m,
                       ws);
        free(ws);
    }
    return err;
}
