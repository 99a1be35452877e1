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
 * each thread walks the K steps of its run with that run's weights hot in cache. For the call, a run's
 * W1t, b1 and W2 are copied into scratch rows padded with zeros to a multiple of UNIT floats (copied back at
 * the end), so every element-wise loop runs over whole vectors; the padding lanes stay zero (or carry a
 * diverged run's NaN) and never reach a real lane. The W1 update of step t is fused with the forward pass of
 * step t+1 and blocked over the hidden units: a block's pre-activations and dh stay in registers while the
 * n rows of W1 stream past, so W1 is read and written once per step and nothing else touches memory.
 *
 * Determinism: every floating-point operation on a given element happens in a fixed order that does
 * not depend on the thread count, the other runs, pointer alignment, the vector width or how the K steps
 * are split into calls (the dot products use a fixed 16-lane split rather than a compiler reduction).
 * Results are therefore bit-identical across chunkings and run groupings. Fused multiply-adds are written
 * out (FMA below) and the file is built with -ffp-contract=off, so the compiler never decides which
 * products are fused: on a CPU with hardware FMA every a*b+c of the update is fused, as GCC's default
 * contraction fused them in the kernel before this one, except the dot product's scalar tail, which that
 * kernel computed unfused (an in-order vectorised reduction) and this one does too. Do not build with
 * -ffast-math.
 *
 * progdistill_sgd_hidden is the first phase of curriculum extraction (engine.run_hidden_steps): the squared
 * loss between the hidden layer and a target Z (R,K,m), first layer only.
 *
 * Build variants (kernel.py picks the flags):
 *   -DPD_DOUBLE        every float of the contract is a double (tests: exact comparisons with float64 torch)
 *   -DPD_NO_FMA        no fused multiply-add anywhere (the portable build: every a*b+c rounds twice)
 *   -DPD_PORTABLE_EXP  exp from a fixed polynomial instead of libm's expf, whose CPU-specific variants (FMA or
 *                      not) can round differently; with -DPD_NO_FMA the results then depend on neither the
 *                      vector width nor the CPU (the portable build)
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16 /* independent partial sums of a dot product (one AVX-512 vector, two AVX2) */
#define UNIT 16  /* scratch rows are padded to a multiple of this many elements */

#ifdef PD_DOUBLE
typedef double real;
#define PD_ABI 6 /* 5, 6: + progdistill_sgd_hidden; 3, 4: per-step lr (R,K); 1, 2 had one lr per run */
#if defined(__FP_FAST_FMA) && !defined(PD_NO_FMA)
#define FMA(a, b, c) fma((a), (b), (c)) /* a*b+c rounded once, where the CPU fuses it */
#define PD_FUSED 1
#endif
#else
typedef float real;
#define PD_ABI 5
#if defined(__FP_FAST_FMAF) && !defined(PD_NO_FMA)
#define FMA(a, b, c) fmaf((a), (b), (c))
#define PD_FUSED 1
#endif
#endif
#ifndef FMA
#define FMA(a, b, c) ((a) * (b) + (c)) /* rounded twice (the file is built with -ffp-contract=off) */
#endif

#define INLINE static inline __attribute__((always_inline))

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

#if defined(PD_FUSED) && (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))) || \
    !defined(PD_FUSED) && (defined(__AVX512F__) || defined(__AVX__))
#define PD_VECTOR 1
#include <immintrin.h>
#endif

#ifdef PD_VECTOR
/* The loops of a step with explicit vectors of VW lanes (the compiler would neither keep a block of the
 * W1 pass in registers nor reduce a dot product's lanes in them). VFMA is fused exactly where FMA is. */
#if defined(__AVX512F__) && defined(PD_DOUBLE)
typedef __m512d V;
#define VW 8
#define VLD _mm512_load_pd
#define VST _mm512_store_pd
#define VSET1 _mm512_set1_pd
#define VMUL _mm512_mul_pd
#define VADD _mm512_add_pd
#define VFMADD _mm512_fmadd_pd
#define VLT(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_LT_OQ)
#define VGT(a, b) _mm512_cmp_pd_mask((a), (b), _CMP_GT_OQ)
#define VBLEND(k, a, b) _mm512_mask_blend_pd((k), (a), (b)) /* b where k, else a */
#elif defined(__AVX512F__)
typedef __m512 V;
#define VW 16
#define VLD _mm512_load_ps
#define VST _mm512_store_ps
#define VSET1 _mm512_set1_ps
#define VMUL _mm512_mul_ps
#define VADD _mm512_add_ps
#define VFMADD _mm512_fmadd_ps
#define VLT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define VGT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define VBLEND(k, a, b) _mm512_mask_blend_ps((k), (a), (b))
#elif defined(PD_DOUBLE)
typedef __m256d V;
#define VW 4
#define VLD _mm256_load_pd
#define VST _mm256_store_pd
#define VSET1 _mm256_set1_pd
#define VMUL _mm256_mul_pd
#define VADD _mm256_add_pd
#define VFMADD _mm256_fmadd_pd
#define VLT(a, b) _mm256_cmp_pd((a), (b), _CMP_LT_OQ)
#define VGT(a, b) _mm256_cmp_pd((a), (b), _CMP_GT_OQ)
#define VBLEND(k, a, b) _mm256_blendv_pd((a), (b), (k))
#else
typedef __m256 V;
#define VW 8
#define VLD _mm256_load_ps
#define VST _mm256_store_ps
#define VSET1 _mm256_set1_ps
#define VMUL _mm256_mul_ps
#define VADD _mm256_add_ps
#define VFMADD _mm256_fmadd_ps
#define VLT(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define VGT(a, b) _mm256_cmp_ps((a), (b), _CMP_GT_OQ)
#define VBLEND(k, a, b) _mm256_blendv_ps((a), (b), (k))
#endif
#ifdef PD_FUSED
#define VFMA(a, b, c) VFMADD((a), (b), (c))
#else
#define VFMA(a, b, c) VADD(VMUL((a), (b)), (c))
#endif
#if defined(__AVX512F__)
#define NVMAX 8 /* 32 vector registers: 8 of pre-activations, 8 of dh */
#else
#define NVMAX 6 /* 16 vector registers */
#endif

/* One register block of NV vectors of hidden units (columns of W from the block's first, row stride mp):
 *   update (x):  W[i, blk] = FMA(x[i] * -lr, dh[blk], W[i, blk])     for i ascending
 *   forward (xn): pre[blk] = b1[blk], then pre = FMA(xn[i], W[i, blk], pre) (updated W, i ascending)
 * x NULL: forward only (the first step of a call); xn NULL: update only (the last). These are the
 * per-element operations, in the same order, of a plain loop over i and j. */
INLINE void w1_block(real *restrict W, real *restrict pre, const real *restrict dh, const real *restrict b1,
                     const int8_t *restrict x, const int8_t *restrict xn, real neg_lr, int64_t n, int64_t mp,
                     const int NV) {
    V acc[NVMAX], d[NVMAX];
    for (int u = 0; u < NV; u++) {
        acc[u] = xn ? VLD(b1 + u * VW) : VSET1(0);
        d[u] = x ? VLD(dh + u * VW) : VSET1(0);
    }
    for (int64_t i = 0; i < n; i++) {
        real *restrict w = W + i * mp;
        const V c = VSET1(x ? (real)x[i] * neg_lr : 0);
        const V s = VSET1(xn ? (real)xn[i] : 0);
        for (int u = 0; u < NV; u++) {
            V v = VLD(w + u * VW);
            if (x) {
                v = VFMA(c, d[u], v);
                VST(w + u * VW, v);
            }
            if (xn) acc[u] = VFMA(s, v, acc[u]);
        }
    }
    if (xn)
        for (int u = 0; u < NV; u++) VST(pre + u * VW, acc[u]);
}

INLINE void w1_mode(real *restrict W1, real *restrict pre, const real *restrict dh, const real *restrict b1,
                    const int8_t *restrict x, const int8_t *restrict xn, real neg_lr, int64_t n, int64_t mp) {
    for (int64_t j0 = 0; j0 < mp; j0 += NVMAX * VW) {
        const int64_t left = (mp - j0) / VW;
        real *W = W1 + j0;
        real *p = pre + j0;
        const real *d = dh + j0, *b = b1 + j0;
        switch (left < NVMAX ? left : NVMAX) {
        case 1: w1_block(W, p, d, b, x, xn, neg_lr, n, mp, 1); break;
        case 2: w1_block(W, p, d, b, x, xn, neg_lr, n, mp, 2); break;
        case 3: w1_block(W, p, d, b, x, xn, neg_lr, n, mp, 3); break;
        case 4: w1_block(W, p, d, b, x, xn, neg_lr, n, mp, 4); break;
        case 5: w1_block(W, p, d, b, x, xn, neg_lr, n, mp, 5); break;
        case 6: w1_block(W, p, d, b, x, xn, neg_lr, n, mp, 6); break;
#if NVMAX > 6
        case 7: w1_block(W, p, d, b, x, xn, neg_lr, n, mp, 7); break;
        case 8: w1_block(W, p, d, b, x, xn, neg_lr, n, mp, 8); break;
#endif
        }
    }
}

/* relu (pre < 0 ? 0 : pre, so NaN passes through as in torch.relu) over whole vectors. */
static void relu_pass(real *restrict h, const real *restrict pre, int64_t mp) {
    const V zero = VSET1(0);
    for (int64_t j = 0; j < mp; j += VW) {
        const V p = VLD(pre + j);
        VST(h + j, VBLEND(VLT(p, zero), p, zero));
    }
}

/* The plain dot_pass below with vectors: the same lanes (LANES / VW vectors), the same unfused scalar
 * tail, the same tree. */
static real dot_pass(const real *restrict a, const real *restrict b, int64_t m) {
    V acc[LANES / VW];
    for (int u = 0; u < LANES / VW; u++) acc[u] = VSET1(0);
    int64_t j = 0;
    for (; j + LANES <= m; j += LANES)
        for (int u = 0; u < LANES / VW; u++) acc[u] = VFMA(VLD(a + j + u * VW), VLD(b + j + u * VW), acc[u]);
    real tail = 0.0f;
    for (; j < m; j++) tail += a[j] * b[j];
#if defined(__AVX512F__) && !defined(PD_DOUBLE)
    /* lanes k += k + 8, k += k + 4, k += k + 2, k += k + 1: the tree below, in registers */
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(acc[0]),
                                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[0]), 1)));
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
    return _mm_cvtss_f32(s1) + tail;
#else
    real lane[LANES] __attribute__((aligned(64)));
    for (int u = 0; u < LANES / VW; u++) VST(lane + u * VW, acc[u]);
    for (int w = LANES / 2; w > 0; w >>= 1)
        for (int k = 0; k < w; k++) lane[k] += lane[k + w];
    return lane[0] + tail;
#endif
}

/* dh = W2^T g (old W2, classes in order), W2 += (g * -lr) h^T, then dh *= (pre > 0), b1 += dh * -lr, one
 * vector of hidden units at a time (dh stays in a register across the classes). */
static void w2_pass(real *restrict W2, real *restrict dh, real *restrict b1, const real *restrict h,
                    const real *restrict pre, const real *restrict g, real neg_lr, int64_t C, int64_t mp) {
    const V zero = VSET1(0), one = VSET1(1), nl = VSET1(neg_lr);
    for (int64_t j = 0; j < mp; j += VW) {
        const V hj = VLD(h + j);
        V d = zero;
        for (int64_t c = 0; c < C; c++) {
            real *restrict w = W2 + c * mp + j;
            const V wc = VLD(w);
            const V gc = VSET1(g[c]);
            d = c == 0 ? VMUL(gc, wc) : VFMA(gc, wc, d);
            VST(w, VFMA(VSET1(g[c] * neg_lr), hj, wc));
        }
        /* multiply by the mask (not select) so inf/NaN behave as in torch */
        d = VMUL(d, VBLEND(VGT(VLD(pre + j), zero), zero, one));
        VST(dh + j, d);
        VST(b1 + j, VFMA(d, nl, VLD(b1 + j)));
    }
}
#else
/* Without vector instructions: the same operations as plain loops. */
static void relu_pass(real *restrict h, const real *restrict pre, int64_t mp) {
    for (int64_t j = 0; j < mp; j++) h[j] = pre[j] < 0.0f ? 0.0f : pre[j];
}

/* sum_j a[j] * b[j] with a fixed summation order (vectorisable without -ffast-math): lane k sums the
 * products of elements k, k+16, ... (fused), the tail's products are rounded, then added in order. */
static real dot_pass(const real *restrict a, const real *restrict b, int64_t m) {
    real acc[LANES];
    for (int k = 0; k < LANES; k++) acc[k] = 0.0f;
    int64_t j = 0;
    for (; j + LANES <= m; j += LANES)
        for (int k = 0; k < LANES; k++) acc[k] = FMA(a[j + k], b[j + k], acc[k]);
    real tail = 0.0f;
    for (; j < m; j++) tail += a[j] * b[j];
    for (int w = LANES / 2; w > 0; w >>= 1)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0] + tail;
}

static void w2_pass(real *restrict W2, real *restrict dh, real *restrict b1, const real *restrict h,
                    const real *restrict pre, const real *restrict g, real neg_lr, int64_t C, int64_t mp) {
    for (int64_t c = 0; c < C; c++) {
        const real gc = g[c];
        const real a = gc * neg_lr;
        real *restrict w = W2 + c * mp;
        if (c == 0) {
            for (int64_t j = 0; j < mp; j++) {
                dh[j] = gc * w[j];
                w[j] = FMA(a, h[j], w[j]);
            }
        } else {
            for (int64_t j = 0; j < mp; j++) {
                dh[j] = FMA(gc, w[j], dh[j]);
                w[j] = FMA(a, h[j], w[j]);
            }
        }
    }
    /* multiply by the mask (not select) so inf/NaN behave as in torch */
    for (int64_t j = 0; j < mp; j++) dh[j] *= pre[j] > 0.0f ? 1.0f : 0.0f;
    for (int64_t j = 0; j < mp; j++) b1[j] = FMA(dh[j], neg_lr, b1[j]);
}

INLINE void w1_mode(real *restrict W1, real *restrict pre, const real *restrict dh, const real *restrict b1,
                    const int8_t *restrict x, const int8_t *restrict xn, real neg_lr, int64_t n, int64_t mp) {
    if (xn)
        for (int64_t j = 0; j < mp; j++) pre[j] = b1[j];
    for (int64_t i = 0; i < n; i++) {
        real *restrict w = W1 + i * mp;
        const real c = x ? (real)x[i] * neg_lr : 0;
        const real s = xn ? (real)xn[i] : 0;
        for (int64_t j = 0; j < mp; j++) {
            real v = w[j];
            if (x) w[j] = v = FMA(c, dh[j], v);
            if (xn) pre[j] = FMA(s, v, pre[j]);
        }
    }
}
#endif

/* The W1 pass in its three modes, each specialised (x and xn known non-NULL or NULL). */
static void w1_pass(real *restrict W1, real *restrict pre, const real *restrict dh, const real *restrict b1,
                    const int8_t *restrict x, const int8_t *restrict xn, real neg_lr, int64_t n, int64_t mp) {
    if (x && xn)
        w1_mode(W1, pre, dh, b1, x, xn, neg_lr, n, mp);
    else if (x)
        w1_mode(W1, pre, dh, b1, x, NULL, neg_lr, n, mp);
    else
        w1_mode(W1, pre, dh, b1, NULL, xn, neg_lr, n, mp);
}

/* K steps of one run on padded scratch: W1 (n, mp), b1 (mp), W2 (C, mp), pre, h, dh (mp), g (C). */
static void run_one(real *restrict W1, real *restrict b1, real *restrict W2, real *restrict b2,
                    const int8_t *restrict X, const real *restrict Q, const real *restrict lr, int64_t K,
                    int64_t n, int64_t m, int64_t mp, int64_t C, real *restrict pre, real *restrict h,
                    real *restrict dh, real *restrict g) {
    w1_pass(W1, pre, dh, b1, NULL, X, 0.0f, n, mp);

    for (int64_t t = 0; t < K; t++) {
        const int8_t *restrict x = X + t * n;
        const real *restrict q = Q + t * C;
        const real neg_lr = -lr[t];

        /* relu; NaN passes through as in torch.relu */
        relu_pass(h, pre, mp);

        /* logits and softmax (max-subtracted), g = softmax - q */
        real mx = -INFINITY;
        for (int64_t c = 0; c < C; c++) {
            g[c] = b2[c] + dot_pass(W2 + c * mp, h, m);
            if (g[c] > mx) mx = g[c];
        }
        real sum = 0.0f;
        for (int64_t c = 0; c < C; c++) {
            g[c] = EXP(g[c] - mx);
            sum += g[c];
        }
        for (int64_t c = 0; c < C; c++) g[c] = g[c] / sum - q[c];

        w2_pass(W2, dh, b1, h, pre, g, neg_lr, C, mp);
        for (int64_t c = 0; c < C; c++) b2[c] = FMA(g[c], neg_lr, b2[c]);

        /* W1 update of step t fused with the forward pass of step t+1 */
        w1_pass(W1, pre, dh, b1, x, t + 1 < K ? X + (t + 1) * n : NULL, neg_lr, n, mp);
    }
}

/* Copies rows of length m into rows of length mp (zero padding), or back. */
static void pad_rows(real *restrict dst, const real *restrict src, int64_t rows, int64_t m, int64_t mp) {
    for (int64_t i = 0; i < rows; i++) {
        memcpy(dst + i * mp, src + i * m, (size_t)m * sizeof(real));
        memset(dst + i * mp + m, 0, (size_t)(mp - m) * sizeof(real));
    }
}

static void unpad_rows(real *restrict dst, const real *restrict src, int64_t rows, int64_t m, int64_t mp) {
    for (int64_t i = 0; i < rows; i++) memcpy(dst + i * m, src + i * mp, (size_t)m * sizeof(real));
}

/* Returns 0 on success, 1 if scratch memory could not be allocated (that run is left untouched). */
int progdistill_sgd(real *W1t, real *b1, real *W2, real *b2, const int8_t *X, const real *Q,
                    const real *lr, int64_t R, int64_t K, int64_t n, int64_t m, int64_t C, int threads) {
    int err = 0;
    if (R <= 0 || K <= 0) return 0;
    if (threads < 1) threads = 1;
    if (threads > R) threads = (int)R;
    const int64_t mp = (m + UNIT - 1) / UNIT * UNIT;
    const size_t ws_bytes = ((size_t)((n + C + 4) * mp + C) * sizeof(real) + 63) / 64 * 64;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : err)
    for (int64_t r = 0; r < R; r++) {
        real *ws = aligned_alloc(64, ws_bytes);
        if (!ws) {
            err |= 1;
            continue;
        }
        real *sW1 = ws, *sW2 = ws + n * mp, *sb1 = sW2 + C * mp, *pre = sb1 + mp, *h = pre + mp;
        real *dh = h + mp, *g = dh + mp;
        pad_rows(sW1, W1t + r * n * m, n, m, mp);
        pad_rows(sW2, W2 + r * C * m, C, m, mp);
        pad_rows(sb1, b1 + r * m, 1, m, mp);
        run_one(sW1, sb1, sW2, b2 + r * C, X + r * K * n, Q + r * K * C, lr + r * K, K, n, m, mp, C, pre, h,
                dh, g);
        unpad_rows(W1t + r * n * m, sW1, n, m, mp);
        unpad_rows(W2 + r * C * m, sW2, C, m, mp);
        unpad_rows(b1 + r * m, sb1, 1, m, mp);
        free(ws);
    }
    return err;
}

/* Phase 1 of curriculum extraction (strategies.Extraction): K steps of one run on the squared loss
 *   L = scale/2 * sum_j (h_j - z_j)^2,  h = relu(b1 + W1 x)
 * between the hidden layer and a target z[t] (a fixed random projection of the teacher's hidden layer);
 * only the first layer learns:  d = scale * (h - z) * (pre > 0),  b1 += d * -lr[t],  W1 += (x * -lr[t]) d^T,
 * on padded scratch like run_one (the padding lanes have pre = h = z = d = 0), the W1 update of step t fused
 * with the forward pass of step t+1 (w1_pass). */
static void run_one_hidden(real *restrict W1, real *restrict b1, const int8_t *restrict X,
                           const real *restrict Z, const real *restrict lr, real scale, int64_t K, int64_t n,
                           int64_t m, int64_t mp, real *restrict pre, real *restrict h, real *restrict d) {
    w1_pass(W1, pre, d, b1, NULL, X, 0.0f, n, mp);
    for (int64_t j = m; j < mp; j++) d[j] = 0.0f;
    for (int64_t t = 0; t < K; t++) {
        const int8_t *restrict x = X + t * n;
        const real *restrict z = Z + t * m;
        const real neg_lr = -lr[t];
        relu_pass(h, pre, mp); /* NaN passes through as in torch.relu */
        /* multiply by the mask (not select) so inf/NaN behave as in torch */
        for (int64_t j = 0; j < m; j++) d[j] = (scale * (h[j] - z[j])) * (pre[j] > 0.0f ? 1.0f : 0.0f);
        for (int64_t j = 0; j < mp; j++) b1[j] = FMA(d[j], neg_lr, b1[j]);
        w1_pass(W1, pre, d, b1, x, t + 1 < K ? X + (t + 1) * n : NULL, neg_lr, n, mp);
    }
}

/* Returns 0 on success, 1 if scratch memory could not be allocated (that run is left untouched). */
int progdistill_sgd_hidden(real *W1t, real *b1, const int8_t *X, const real *Z, const real *lr, real scale,
                           int64_t R, int64_t K, int64_t n, int64_t m, int threads) {
    int err = 0;
    if (R <= 0 || K <= 0) return 0;
    if (threads < 1) threads = 1;
    if (threads > R) threads = (int)R;
    const int64_t mp = (m + UNIT - 1) / UNIT * UNIT;
    const size_t ws_bytes = ((size_t)((n + 4) * mp) * sizeof(real) + 63) / 64 * 64;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : err)
    for (int64_t r = 0; r < R; r++) {
        real *ws = aligned_alloc(64, ws_bytes);
        if (!ws) {
            err |= 1;
            continue;
        }
        real *sW1 = ws, *sb1 = ws + n * mp, *pre = sb1 + mp, *h = pre + mp, *d = h + mp;
        pad_rows(sW1, W1t + r * n * m, n, m, mp);
        pad_rows(sb1, b1 + r * m, 1, m, mp);
        run_one_hidden(sW1, sb1, X + r * K * n, Z + r * K * m, lr + r * K, scale, K, n, m, mp, pre, h, d);
        unpad_rows(W1t + r * n * m, sW1, n, m, mp);
        unpad_rows(b1 + r * m, sb1, 1, m, mp);
        free(ws);
    }
    return err;
}
