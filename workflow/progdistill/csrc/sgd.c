/* Online SGD (batch size 1) for R stacked one-hidden-layer ReLU MLPs; the compiled backend of engine.py.
 *
 * Semantics are exactly those of engine.TorchBackend.run_steps (see there); per run r and step t:
 *   pre = b1 + W1 x,  h = relu(pre),  logits = W2 h + b2,  g = softmax(logits) - Q[t]
 *   dh  = (W2^T g) * (pre > 0)        (W2 before its update)
 *   W2 -= lr g h^T,  b2 -= lr g,  W1 -= lr dh x^T,  b1 -= lr dh
 * Layout (row-major, float32): W1t (R,n,m), b1 (R,m), W2 (R,C,m), b2 (R,C), X (R,K,n) int8,
 * Q (R,K,C), lr (R).
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
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TILE 512 /* hidden units per tile of the fused W1 pass: pre+dh tiles = 4 KiB in L1 */
#define LANES 16 /* independent partial sums of a dot product (one AVX-512 vector, two AVX2) */

int progdistill_sgd_abi(void) { return 1; }

/* sum_j a[j] * b[j] with a fixed summation order (vectorisable without -ffast-math). */
static float dot(const float *restrict a, const float *restrict b, int64_t m) {
    float acc[LANES];
    for (int k = 0; k < LANES; k++) acc[k] = 0.0f;
    int64_t j = 0;
    for (; j + LANES <= m; j += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += a[j + k] * b[j + k];
    float tail = 0.0f;
    for (; j < m; j++) tail += a[j] * b[j];
    for (int w = LANES / 2; w > 0; w >>= 1)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0] + tail;
}

/* pre[j0:j0+len] = b1 + sum_i x[i] * W1t[i, j0:j0+len]   (i ascending) */
static void forward_tile(float *restrict p, const float *restrict b1, const float *restrict W1t,
                         const int8_t *restrict x, int64_t n, int64_t m, int64_t len) {
    for (int64_t j = 0; j < len; j++) p[j] = b1[j];
    for (int64_t i = 0; i < n; i++) {
        const float s = (float)x[i];
        const float *restrict w = W1t + i * m;
        for (int64_t j = 0; j < len; j++) p[j] += s * w[j];
    }
}

/* W1t[i, tile] += (-lr * x[i]) * dh[tile] for all i; if xn, also pre[tile] = b1 + sum_i xn[i] * W1t_new[i]
 * in the same pass (same operation order as forward_tile, so a chunk boundary changes nothing). */
static void update_tile(float *restrict W1t, float *restrict p, const float *restrict d,
                        const float *restrict b1, const int8_t *restrict x, const int8_t *restrict xn,
                        float neg_lr, int64_t n, int64_t m, int64_t len) {
    if (xn) {
        for (int64_t j = 0; j < len; j++) p[j] = b1[j];
        for (int64_t i = 0; i < n; i++) {
            const float c = (float)x[i] * neg_lr;
            const float s = (float)xn[i];
            float *restrict w = W1t + i * m;
            for (int64_t j = 0; j < len; j++) {
                const float v = w[j] + c * d[j];
                w[j] = v;
                p[j] += s * v;
            }
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            const float c = (float)x[i] * neg_lr;
            float *restrict w = W1t + i * m;
            for (int64_t j = 0; j < len; j++) {
                const float v = w[j] + c * d[j];
                w[j] = v;
            }
        }
    }
}

/* K steps of one run. ws: 3*m + C floats of scratch. */
static void run_one(float *restrict W1t, float *restrict b1, float *restrict W2, float *restrict b2,
                    const int8_t *restrict X, const float *restrict Q, float lr, int64_t K, int64_t n,
                    int64_t m, int64_t C, float *restrict ws) {
    float *restrict pre = ws;
    float *restrict h = ws + m;
    float *restrict dh = ws + 2 * m;
    float *restrict g = ws + 3 * m;
    const float neg_lr = -lr;

    for (int64_t j0 = 0; j0 < m; j0 += TILE) {
        const int64_t len = m - j0 < TILE ? m - j0 : TILE;
        forward_tile(pre + j0, b1 + j0, W1t + j0, X, n, m, len);
    }

    for (int64_t t = 0; t < K; t++) {
        const int8_t *restrict x = X + t * n;
        const float *restrict q = Q + t * C;

        /* relu; NaN passes through as in torch.relu */
        for (int64_t j = 0; j < m; j++) h[j] = pre[j] < 0.0f ? 0.0f : pre[j];

        /* logits and softmax (max-subtracted), g = softmax - q */
        float mx = -INFINITY;
        for (int64_t c = 0; c < C; c++) {
            g[c] = b2[c] + dot(W2 + c * m, h, m);
            if (g[c] > mx) mx = g[c];
        }
        float sum = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            g[c] = expf(g[c] - mx);
            sum += g[c];
        }
        for (int64_t c = 0; c < C; c++) g[c] = g[c] / sum - q[c];

        /* dh = W2^T g with the old W2, then W2 -= lr g h^T, in one pass per class */
        for (int64_t c = 0; c < C; c++) {
            const float gc = g[c];
            const float a = gc * neg_lr;
            float *restrict w = W2 + c * m;
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
int progdistill_sgd(float *W1t, float *b1, float *W2, float *b2, const int8_t *X, const float *Q,
                    const float *lr, int64_t R, int64_t K, int64_t n, int64_t m, int64_t C, int threads) {
    int err = 0;
    if (R <= 0 || K <= 0) return 0;
    if (threads < 1) threads = 1;
    if (threads > R) threads = (int)R;
    const size_t ws_bytes = ((size_t)(3 * m + C) * sizeof(float) + 63) / 64 * 64;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : err)
    for (int64_t r = 0; r < R; r++) {
        float *ws = aligned_alloc(64, ws_bytes);
        if (!ws) {
            err |= 1;
            continue;
        }
        run_one(W1t + r * n * m, b1 + r * m, W2 + r * C * m, b2 + r * C, X + r * K * n, Q + r * K * C, lr[r],
                K, n, m, C, ws);
        free(ws);
    }
    return err;
}
