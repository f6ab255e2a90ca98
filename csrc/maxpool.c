/* Max pool (InceptionV3: 3x3, stride 2, VALID), NHWC. The forward pass keeps, for every output
 * element, where in its window the maximum was (the first in row-major window order, as
 * TensorFlow's CPU kernel); the backward pass adds the gradient there, gathered per input pixel
 * so threads never write the same element. */
#include "simd.h"
#include "maxpool.h"

#include <stddef.h>
#include <string.h>

/* in (h, w, c) contiguous; out (ho, wo, c) with out_ld floats per pixel; argmax (ho*wo*c): for
 * each output element, the position ky * kw + kx of its maximum within the window. The window is
 * scanned in (ky, kx) order, 16 channels at a time in registers. With relu_input (in is the
 * output of a ReLU, >= 0), a window whose maximum is 0 gets position -1: the backward pass then
 * sends it no gradient, which is what the ReLU's backward would do to it (so that one can skip
 * its mask). */
DD_VECTORIZED
void maxpool_forward(float *out, int out_ld, int *argmax, const float *in, const window *g, int c,
                     int relu_input, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int oy = 0; oy < g->ho; oy++) {
        for (int ox = 0; ox < g->wo; ox++) {
            size_t p = (size_t)oy * g->wo + ox;
            float *restrict o = out + p * out_ld;
            int *restrict am = argmax + p * c;
            int y0 = oy * g->sh - g->pad_top, x0 = ox * g->sw - g->pad_left;
            int ky0 = y0 < 0 ? -y0 : 0, ky1 = g->h - y0 < g->kh ? g->h - y0 : g->kh;
            int kx0 = x0 < 0 ? -x0 : 0, kx1 = g->w - x0 < g->kw ? g->w - x0 : g->kw;
            const float *win = in + ((ptrdiff_t)y0 * g->w + x0) * c;
            const float *first = win + ((ptrdiff_t)ky0 * g->w + kx0) * c;
            int ch = 0;
            for (; ch + 16 <= c; ch += 16) {
                floatx16 m = floatx16_load(first + ch);
                intx16 k = (intx16){0} + ky0 * g->kw + kx0;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = ky == ky0 ? kx0 + 1 : kx0; kx < kx1; kx++) {
                        floatx16 v = floatx16_load(win + ((ptrdiff_t)ky * g->w + kx) * c + ch);
                        intx16 take = v > m; /* all ones or zero: selects without a branch */
                        m = (floatx16)(((intx16)v & take) | ((intx16)m & ~take));
                        k = ((ky * g->kw + kx) & take) | (k & ~take);
                    }
                if (relu_input) k |= ~(intx16)(m > 0.0f); /* -1 where the maximum is 0 */
                floatx16_store(o + ch, m);
                intx16_store(am + ch, k);
            }
            for (; ch < c; ch++) {
                float m = first[ch];
                int k = ky0 * g->kw + kx0;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = ky == ky0 ? kx0 + 1 : kx0; kx < kx1; kx++) {
                        float v = win[((ptrdiff_t)ky * g->w + kx) * c + ch];
                        if (v > m) {
                            m = v;
                            k = ky * g->kw + kx;
                        }
                    }
                o[ch] = m;
                am[ch] = relu_input && !(m > 0.0f) ? -1 : k;
            }
        }
    }
}

/* Taps a backward gather collects before it passes over the channels (any window has room:
 * a larger one takes several passes). */
#define POOL_TAPS 16

/* dst[ch] = (fresh ? 0 : dst[ch]) + sum over t < n of (argmax[t][ch] == k[t]) * d[t][ch], in
 * order of t, 16 channels at a time in a register */
static inline void add_argmax_taps(float *dst, const float *const *d, const int *const *argmax,
                                   const int *k, int n, int c, int fresh) {
    int ch = 0;
    for (; ch + 64 <= c; ch += 64) { /* a tap's 64 channels at once: one stretch of memory */
        floatx16 acc[4] = {{0}};
        for (int v = 0; v < 4 && !fresh; v++) acc[v] = floatx16_load(dst + ch + 16 * v);
        for (int t = 0; t < n; t++)
            for (int v = 0; v < 4; v++) {
                intx16 hit = -(intx16_load(argmax[t] + ch + 16 * v) == k[t]); /* 1 or 0 */
                acc[v] += __builtin_convertvector(hit, floatx16) * floatx16_load(d[t] + ch + 16 * v);
            }
        for (int v = 0; v < 4; v++) floatx16_store(dst + ch + 16 * v, acc[v]);
    }
    for (; ch + 16 <= c; ch += 16) {
        floatx16 acc = {0};
        if (!fresh) acc = floatx16_load(dst + ch);
        for (int t = 0; t < n; t++) {
            intx16 hit = -(intx16_load(argmax[t] + ch) == k[t]); /* 1 or 0 */
            acc += __builtin_convertvector(hit, floatx16) * floatx16_load(d[t] + ch);
        }
        floatx16_store(dst + ch, acc);
    }
    for (; ch < c; ch++) {
        float acc = fresh ? 0.0f : dst[ch];
        for (int t = 0; t < n; t++) acc += (float)(argmax[t][ch] == k[t]) * d[t][ch];
        dst[ch] = acc;
    }
}

/* din (h, w, c) contiguous, added to (accumulate) or written; dout (ho, wo, c) with out_ld
 * floats per pixel. Each input pixel adds the gradient of every window whose maximum it was, in
 * (ky, kx) order. */
DD_VECTORIZED
void maxpool_backward(float *din, const float *dout, int out_ld, const int *argmax, const window *g,
                      int c, int accumulate, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int iy = 0; iy < g->h; iy++) {
        for (int ix = 0; ix < g->w; ix++) {
            float *dst = din + ((size_t)iy * g->w + ix) * c;
            const float *d[POOL_TAPS];
            const int *am[POOL_TAPS];
            int k[POOL_TAPS], n = 0, fresh = !accumulate;
            for (int ky = 0; ky < g->kh; ky++) {
                int oy = window_tap_output(iy, ky, g->pad_top, g->sh, g->ho);
                if (oy < 0) continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ox = window_tap_output(ix, kx, g->pad_left, g->sw, g->wo);
                    if (ox < 0) continue;
                    const size_t p = (size_t)oy * g->wo + ox;
                    d[n] = dout + p * out_ld;
                    am[n] = argmax + p * c;
                    k[n] = ky * g->kw + kx;
                    if (++n == POOL_TAPS) {
                        add_argmax_taps(dst, d, am, k, n, c, fresh);
                        n = fresh = 0;
                    }
                }
            }
            if (n || fresh) add_argmax_taps(dst, d, am, k, n, c, fresh);
        }
    }
}
