/* Convolution + bias + ReLU (batch norm folded into kernel and bias), NHWC, one image.
 * Forward: im2col + sgemm (1x1 stride-1 kernels skip im2col: the NHWC buffer is the matrix;
 * 3x3 stride-1 kernels run by Winograd F(2x2, 3x3), winograd.c; 1 x r and r x 1 stride-1 ones
 * by 1-D Winograd along the kernel's axis, winograd1d.c).
 * Backward to the input: ReLU mask on the incoming gradient, sgemm with the transposed kernel,
 * col2im. No weight gradients: DeepDream only needs d loss / d input.
 *
 * Threads: the output pixels are split into one block of rows per thread; each thread runs its
 * own im2col and a single-threaded sgemm on its block (OpenBLAS is kept at one thread, so there
 * is one threading model). col2im is a gather over input pixels, so threads never write the
 * same element and the sums run in the same order for any thread count. */
#include "simd.h"
#include "conv2d.h"

#include <string.h>

#include "blas.h"
#include "winograd.h"
#include "winograd1d.h"

static int is_pointwise(const window *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1;
}

int conv2d_uses_winograd(const window *g) {
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1;
}

int conv2d_winograd1d_length(int kh, int kw, int stride) {
    int r = kh == 1 && kw > 1 ? kw : kw == 1 && kh > 1 ? kh : 0;
    return stride == 1 && r && winograd1d_supports(r) ? r : 0;
}

/* 3-tap kernels only on maps of 64 outputs or more: below that (mixed9/10 of inputs under 299
 * pixels), fewer than ~32 GEMM rows per point and the 4/3 larger kernel make F(2,3) slower than
 * im2col (measured 10-30% at 5x5 and 6x6; 7-10% faster at 8x8, 15-25% at 14x14). The choice
 * depends on the geometry only, never on the thread count. */
int conv2d_uses_winograd1d(const window *g) {
    int r = g->sh == g->sw ? conv2d_winograd1d_length(g->kh, g->kw, g->sh) : 0;
    return r == 7 || (r && g->ho * g->wo >= 64);
}

/* The 1-D Winograd call of a geometry that conv2d_uses_winograd1d: along the kernel's axis,
 * with that axis' padding. Forward: out = relu(bias + in * kernel). Backward (bias NULL): din
 * (+)= dout * the flipped, transposed kernel, padded so that it lands on the input
 * (pad' = r - 1 - pad); the roles of (h, w) and (ho, wo) swap. */
static void winograd1d_run(float *out, int out_ld, const float *bias, int accumulate,
                           const float *in, int in_ld, const float *u, const window *g, int cin,
                           int cout, float *scratch, int threads) {
    const int vertical = g->kw == 1, r = vertical ? g->kh : g->kw;
    const int pad = vertical ? g->pad_top : g->pad_left;
    if (bias)
        winograd1d_conv(out, out_ld, bias, 0, in, in_ld, g->h, g->w, vertical, pad, g->ho, g->wo, u,
                        r, cin, cout, scratch, threads);
    else
        winograd1d_conv(out, out_ld, NULL, accumulate, in, in_ld, g->ho, g->wo, vertical,
                        r - 1 - pad, g->h, g->w, u, r, cout, cin, scratch, threads);
}

size_t conv2d_scratch_size(const window *g, int cin, int cout, int threads) {
    if (is_pointwise(g)) return 0;
    if (conv2d_uses_winograd1d(g)) {
        int r = conv2d_winograd1d_length(g->kh, g->kw, g->sh);
        size_t fwd = winograd1d_scratch_size(r, cin, cout, threads);
        size_t bwd = winograd1d_scratch_size(r, cout, cin, threads);
        return fwd > bwd ? fwd : bwd;
    }
    if (conv2d_uses_winograd(g)) {
        size_t fwd = winograd_scratch_size(g->ho, g->wo, cin, cout, threads);
        size_t bwd = winograd_scratch_size(g->h, g->w, cout, cin, threads);
        return fwd > bwd ? fwd : bwd;
    }
    return (size_t)g->ho * g->wo * g->kh * g->kw * cin;
}

/* Rows [p0, p1) of col (ho*wo, kh*kw*cin) <- in (h, w, cin); padding reads as zero. */
DD_VECTORIZED
static void im2col(float *col, const float *in, const window *g, int cin, int p0, int p1) {
    const size_t row = (size_t)cin * sizeof(float);
    for (int p = p0; p < p1; p++) {
        int oy = p / g->wo, ox = p % g->wo;
        float *dst = col + (size_t)p * g->kh * g->kw * cin;
        for (int ky = 0; ky < g->kh; ky++) {
            int iy = oy * g->sh - g->pad_top + ky;
            for (int kx = 0; kx < g->kw; kx++, dst += cin) {
                int ix = ox * g->sw - g->pad_left + kx;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                    memset(dst, 0, row);
                else
                    memcpy(dst, in + ((size_t)iy * g->w + ix) * cin, row);
            }
        }
    }
}

/* Input rows [y0, y1) of din (h, w, cin) += (or =, unless accumulate) the col (ho*wo, kh*kw*cin)
 * entries that im2col read from them: the adjoint of im2col, as a gather in a fixed (ky, kx) order. */
DD_VECTORIZED
static void col2im_add(float *din, const float *col, const window *g, int cin, int y0, int y1,
                       int accumulate) {
    const size_t k = (size_t)g->kh * g->kw * cin;
    if (g->sh == 1 && g->sw == 1) { /* the common case, without divisions */
        for (int iy = y0; iy < y1; iy++) {
            for (int ix = 0; ix < g->w; ix++) {
                float *restrict dst = din + ((size_t)iy * g->w + ix) * cin;
                if (!accumulate) memset(dst, 0, (size_t)cin * sizeof(float));
                for (int ky = 0; ky < g->kh; ky++) {
                    int oy = iy + g->pad_top - ky;
                    if (oy < 0 || oy >= g->ho) continue;
                    for (int kx = 0; kx < g->kw; kx++) {
                        int ox = ix + g->pad_left - kx;
                        if (ox < 0 || ox >= g->wo) continue;
                        const float *restrict src =
                            col + ((size_t)oy * g->wo + ox) * k + (size_t)(ky * g->kw + kx) * cin;
                        for (int c = 0; c < cin; c++) dst[c] += src[c];
                    }
                }
            }
        }
        return;
    }
    for (int iy = y0; iy < y1; iy++) {
        for (int ix = 0; ix < g->w; ix++) {
            float *dst = din + ((size_t)iy * g->w + ix) * cin;
            if (!accumulate) memset(dst, 0, (size_t)cin * sizeof(float));
            for (int ky = 0; ky < g->kh; ky++) {
                int oy = window_tap_output(iy, ky, g->pad_top, g->sh, g->ho);
                if (oy < 0) continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ox = window_tap_output(ix, kx, g->pad_left, g->sw, g->wo);
                    if (ox < 0) continue;
                    const float *src = col + ((size_t)oy * g->wo + ox) * k + (size_t)(ky * g->kw + kx) * cin;
                    for (int c = 0; c < cin; c++) dst[c] += src[c];
                }
            }
        }
    }
}

/* Block b of n over [0, len): [*lo, *hi). */
static void block_range(int len, int b, int n, int *lo, int *hi) {
    *lo = (int)((long long)len * b / n);
    *hi = (int)((long long)len * (b + 1) / n);
}

/* in (h, w, cin) contiguous; kernel (kh, kw, cin, cout) HWIO; bias (cout);
 * out (ho, wo, cout) with out_ld floats from one pixel to the next (a channel slice of a
 * concatenated block output); col: conv2d_scratch_size() floats of scratch. */
DD_VECTORIZED
void conv2d_forward(float *out, int out_ld, float *col, const float *in, const float *kernel,
                    const float *wino, const float *bias, const window *g, int cin, int cout,
                    int threads) {
    if (conv2d_uses_winograd(g)) {
        winograd_conv3x3(out, out_ld, bias, 0, in, cin, g->h, g->w, g->pad_top, g->pad_left, g->ho,
                         g->wo, wino, cin, cout, col, threads);
        return;
    }
    if (conv2d_uses_winograd1d(g)) {
        winograd1d_run(out, out_ld, bias, 0, in, cin, wino, g, cin, cout, col, threads);
        return;
    }
    const int npix = g->ho * g->wo;
    const int k = g->kh * g->kw * cin;
    const int pointwise = is_pointwise(g);
    if (threads > npix) threads = npix > 0 ? npix : 1;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int b = 0; b < threads; b++) {
        int p0, p1;
        block_range(npix, b, threads, &p0, &p1);
        if (p1 <= p0) continue;
        const float *a = in + (size_t)p0 * cin;
        if (!pointwise) {
            im2col(col, in, g, cin, p0, p1);
            a = col + (size_t)p0 * k;
        }
        float *o = out + (size_t)p0 * out_ld;
        for (int p = 0; p < p1 - p0; p++) memcpy(o + (size_t)p * out_ld, bias, (size_t)cout * sizeof(float));
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p1 - p0, cout, k, 1.0f, a, k, kernel,
                   cout, 1.0f, o, out_ld);
        for (int p = 0; p < p1 - p0; p++) {
            float *r = o + (size_t)p * out_ld;
            for (int c = 0; c < cout; c++) r[c] = r[c] > 0.0f ? r[c] : 0.0f;
        }
    }
}

/* dout (ho, wo, cout), row stride out_ld: gradient w.r.t. this conv's output; masked in place
 * by the ReLU (out > 0). din (h, w, cin) contiguous: the gradient is added to it (accumulate),
 * or written over it (the first contribution, which saves zeroing it first).
 * out: the forward output (same layout as dout); kernel (kh, kw, cin, cout). */
DD_VECTORIZED
void conv2d_backward(float *din, float *dout, int out_ld, float *col, const float *out,
                     const float *kernel, const float *wino_back, const window *g, int cin, int cout,
                     int accumulate, int threads) {
    const int npix = g->ho * g->wo;
    const int k = g->kh * g->kw * cin;
    const int pointwise = is_pointwise(g);
    if (threads > npix) threads = npix > 0 ? npix : 1;
    if (conv2d_uses_winograd1d(g)) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int p = 0; p < npix; p++) { /* the ReLU mask */
            float *d = dout + (size_t)p * out_ld;
            const float *o = out + (size_t)p * out_ld;
            for (int c = 0; c < cout; c++) d[c] = o[c] > 0.0f ? d[c] : 0.0f;
        }
        winograd1d_run(din, cin, NULL, accumulate, dout, out_ld, wino_back, g, cin, cout, col,
                       threads);
        return;
    }
    if (conv2d_uses_winograd(g)) {
        /* d in = d out (ReLU-masked) convolved with the flipped, transposed kernel, padded so
         * that it lands on the input: pad' = 2 - pad */
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int p = 0; p < npix; p++) {
            float *d = dout + (size_t)p * out_ld;
            const float *o = out + (size_t)p * out_ld;
            for (int c = 0; c < cout; c++) d[c] = o[c] > 0.0f ? d[c] : 0.0f;
        }
        winograd_conv3x3(din, cin, NULL, accumulate, dout, out_ld, g->ho, g->wo, 2 - g->pad_top,
                         2 - g->pad_left, g->h, g->w, wino_back, cout, cin, col, threads);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static, 1)
        for (int b = 0; b < threads; b++) {
            int p0, p1;
            block_range(npix, b, threads, &p0, &p1);
            if (p1 <= p0) continue;
            for (int p = p0; p < p1; p++) {
                float *d = dout + (size_t)p * out_ld;
                const float *o = out + (size_t)p * out_ld;
                for (int c = 0; c < cout; c++) d[c] = o[c] > 0.0f ? d[c] : 0.0f;
            }
            const float *d = dout + (size_t)p0 * out_ld;
            if (pointwise)
                blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p1 - p0, cin, cout, 1.0f, d, out_ld,
                           kernel, cout, accumulate ? 1.0f : 0.0f, din + (size_t)p0 * cin, cin);
            else
                blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p1 - p0, k, cout, 1.0f, d, out_ld,
                           kernel, cout, 0.0f, col + (size_t)p0 * k, k);
        }
        if (!pointwise) {
#pragma omp for schedule(static, 1)
            for (int b = 0; b < threads; b++) {
                int y0, y1;
                block_range(g->h, b, threads, &y0, &y1);
                col2im_add(din, col, g, cin, y0, y1, accumulate);
            }
        }
    }
}
