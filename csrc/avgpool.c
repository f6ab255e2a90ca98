/* Average pool (InceptionV3: 3x3, stride 1, SAME), NHWC. Like TensorFlow, each window is
 * divided by the number of valid (non-padding) elements it covers, not by kh * kw. The backward
 * pass gathers, per input pixel, the share of every window that covers it.
 * With a bias, the pool also ends a 1x1 convolution: InceptionV3's pool branches compute
 * relu(conv1x1(avgpool(x)) + b), which equals relu(avgpool(conv1x1(x)) + b) (both linear, the
 * 1x1 acts per pixel, the pool per channel), and the second order pools the conv's 32-192
 * channels instead of its 192-768 inputs; the pool then adds the bias and applies the ReLU. */
#include "simd.h"
#include "avgpool.h"

#include <stddef.h>
#include <string.h>

/* Input pixels of the window whose first row and column are y0, x0 */
static int valid_count(const window *g, int y0, int x0) {
    int ny = (y0 + g->kh < g->h ? y0 + g->kh : g->h) - (y0 > 0 ? y0 : 0);
    int nx = (x0 + g->kw < g->w ? x0 + g->kw : g->w) - (x0 > 0 ? x0 : 0);
    return ny * nx;
}

/* in (h, w, c) contiguous, out (ho, wo, c) with out_ld floats per pixel: the average, or
 * relu(average + bias) with a bias (c). Each output sums its window in (ky, kx) order, 16
 * channels at a time in a register. */
DD_VECTORIZED
void avgpool_forward(float *out, int out_ld, const float *in, const window *g, int c,
                     const float *bias, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int oy = 0; oy < g->ho; oy++) {
        for (int ox = 0; ox < g->wo; ox++) {
            int y0 = oy * g->sh - g->pad_top, x0 = ox * g->sw - g->pad_left;
            int ky0 = y0 < 0 ? -y0 : 0, ky1 = g->h - y0 < g->kh ? g->h - y0 : g->kh;
            int kx0 = x0 < 0 ? -x0 : 0, kx1 = g->w - x0 < g->kw ? g->w - x0 : g->kw;
            const float inv = 1.0f / (float)((ky1 - ky0) * (kx1 - kx0));
            const float *win = in + ((ptrdiff_t)y0 * g->w + x0) * c;
            float *o = out + ((size_t)oy * g->wo + ox) * out_ld;
            int ch = 0;
            for (; ch + 16 <= c; ch += 16) {
                floatx16 sum = {0};
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++)
                        sum += floatx16_load(win + ((ptrdiff_t)ky * g->w + kx) * c + ch);
                floatx16 avg = sum * inv;
                if (bias) {
                    avg += floatx16_load(bias + ch);
                    avg = (floatx16)((intx16)avg & (intx16)(avg > 0.0f)); /* relu */
                }
                floatx16_store(o + ch, avg);
            }
            for (; ch < c; ch++) {
                float sum = 0.0f;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++)
                        sum += win[((ptrdiff_t)ky * g->w + kx) * c + ch];
                float avg = sum * inv;
                if (bias) avg = avg + bias[ch] > 0.0f ? avg + bias[ch] : 0.0f;
                o[ch] = avg;
            }
        }
    }
}

/* Taps a backward gather collects before it passes over the channels (any window has room:
 * a larger one takes several passes). */
#define POOL_TAPS 16

/* dst[ch] = (fresh ? 0 : dst[ch]) + sum over t < n of d[t][ch] * inv[t], in order of t, 16
 * channels at a time in a register */
static inline void add_scaled_taps(float *dst, const float *const *d, const float *inv, int n,
                                   int c, int fresh) {
    int ch = 0;
    for (; ch + 64 <= c; ch += 64) { /* four independent sums in flight */
        floatx16 acc[4] = {{0}};
        for (int v = 0; v < 4 && !fresh; v++) acc[v] = floatx16_load(dst + ch + 16 * v);
        for (int t = 0; t < n; t++)
            for (int v = 0; v < 4; v++) acc[v] += floatx16_load(d[t] + ch + 16 * v) * inv[t];
        for (int v = 0; v < 4; v++) floatx16_store(dst + ch + 16 * v, acc[v]);
    }
    for (; ch + 16 <= c; ch += 16) {
        floatx16 acc = {0};
        if (!fresh) acc = floatx16_load(dst + ch);
        for (int t = 0; t < n; t++) acc += floatx16_load(d[t] + ch) * inv[t];
        floatx16_store(dst + ch, acc);
    }
    for (; ch < c; ch++) {
        float acc = fresh ? 0.0f : dst[ch];
        for (int t = 0; t < n; t++) acc += d[t][ch] * inv[t];
        dst[ch] = acc;
    }
}

/* din (h, w, c) contiguous, added to (accumulate) or written; dout (ho, wo, c) with out_ld floats
 * per pixel. With `out` (the forward output of a pool with a bias, dout's layout), dout is first
 * masked in place by its ReLU (out > 0). Each input pixel adds the share of every window over it,
 * in (ky, kx) order. */
DD_VECTORIZED
void avgpool_backward(float *din, float *dout, int out_ld, const float *out, const window *g, int c,
                      int accumulate, int threads) {
    if (out) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int p = 0; p < g->ho * g->wo; p++) {
            float *restrict d = dout + (size_t)p * out_ld;
            const float *restrict o = out + (size_t)p * out_ld;
            for (int ch = 0; ch < c; ch++) d[ch] = o[ch] > 0.0f ? d[ch] : 0.0f;
        }
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int iy = 0; iy < g->h; iy++) {
        for (int ix = 0; ix < g->w; ix++) {
            float *dst = din + ((size_t)iy * g->w + ix) * c;
            const float *d[POOL_TAPS];
            float inv[POOL_TAPS];
            int n = 0, fresh = !accumulate;
            for (int ky = 0; ky < g->kh; ky++) {
                int oy = window_tap_output(iy, ky, g->pad_top, g->sh, g->ho);
                if (oy < 0) continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ox = window_tap_output(ix, kx, g->pad_left, g->sw, g->wo);
                    if (ox < 0) continue;
                    d[n] = dout + ((size_t)oy * g->wo + ox) * out_ld;
                    inv[n] = 1.0f / (float)valid_count(g, oy * g->sh - g->pad_top,
                                                       ox * g->sw - g->pad_left);
                    if (++n == POOL_TAPS) {
                        add_scaled_taps(dst, d, inv, n, c, fresh);
                        n = fresh = 0;
                    }
                }
            }
            if (n || fresh) add_scaled_taps(dst, d, inv, n, c, fresh);
        }
    }
}
