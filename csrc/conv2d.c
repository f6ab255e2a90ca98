/* Convolution + bias + ReLU (batch norm folded into kernel and bias), NHWC, one image.
 * Forward: im2col + one sgemm (1x1 stride-1 kernels skip im2col: the NHWC buffer is the matrix).
 * Backward to the input: ReLU mask on the incoming gradient, sgemm with the transposed kernel,
 * col2im. No weight gradients: DeepDream only needs d loss / d input. */
#include "conv2d.h"

#include <string.h>

#include "blas.h"

static int is_pointwise(const window *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1;
}

size_t conv2d_col_size(const window *g, int cin) {
    if (is_pointwise(g)) return 0;
    return (size_t)g->ho * g->wo * g->kh * g->kw * cin;
}

/* col (ho*wo, kh*kw*cin) <- in (h, w, cin); padding reads as zero. */
static void im2col(float *col, const float *in, const window *g, int cin) {
    const size_t row = (size_t)cin * sizeof(float);
    for (int oy = 0; oy < g->ho; oy++) {
        for (int ox = 0; ox < g->wo; ox++) {
            float *dst = col + ((size_t)oy * g->wo + ox) * g->kh * g->kw * cin;
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
}

/* din (h, w, cin) += col (ho*wo, kh*kw*cin), the adjoint of im2col. */
static void col2im_add(float *din, const float *col, const window *g, int cin) {
    for (int oy = 0; oy < g->ho; oy++) {
        for (int ox = 0; ox < g->wo; ox++) {
            const float *src = col + ((size_t)oy * g->wo + ox) * g->kh * g->kw * cin;
            for (int ky = 0; ky < g->kh; ky++) {
                int iy = oy * g->sh - g->pad_top + ky;
                for (int kx = 0; kx < g->kw; kx++, src += cin) {
                    int ix = ox * g->sw - g->pad_left + kx;
                    if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
                    float *dst = din + ((size_t)iy * g->w + ix) * cin;
                    for (int c = 0; c < cin; c++) dst[c] += src[c];
                }
            }
        }
    }
}

/* in (h, w, cin) contiguous; kernel (kh, kw, cin, cout) HWIO; bias (cout);
 * out (ho, wo, cout) with out_ld floats from one pixel to the next (a channel slice of a
 * concatenated block output); col: conv2d_col_size() floats of scratch. */
void conv2d_forward(float *out, int out_ld, float *col, const float *in, const float *kernel,
                    const float *bias, const window *g, int cin, int cout) {
    const int npix = g->ho * g->wo;
    const int k = g->kh * g->kw * cin;
    const float *a = in;
    if (!is_pointwise(g)) {
        im2col(col, in, g, cin);
        a = col;
    }
    for (int p = 0; p < npix; p++) memcpy(out + (size_t)p * out_ld, bias, (size_t)cout * sizeof(float));
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, npix, cout, k, 1.0f, a, k, kernel, cout,
               1.0f, out, out_ld);
    for (int p = 0; p < npix; p++) {
        float *o = out + (size_t)p * out_ld;
        for (int c = 0; c < cout; c++) o[c] = o[c] > 0.0f ? o[c] : 0.0f;
    }
}

/* dout (ho, wo, cout), row stride out_ld: gradient w.r.t. this conv's output; masked in place
 * by the ReLU (out > 0). din (h, w, cin) contiguous: the gradient is added to it.
 * out: the forward output (same layout as dout); kernel (kh, kw, cin, cout). */
void conv2d_backward(float *din, float *dout, int out_ld, float *col, const float *out,
                     const float *kernel, const window *g, int cin, int cout) {
    const int npix = g->ho * g->wo;
    const int k = g->kh * g->kw * cin;
    for (int p = 0; p < npix; p++) {
        float *d = dout + (size_t)p * out_ld;
        const float *o = out + (size_t)p * out_ld;
        for (int c = 0; c < cout; c++) d[c] = o[c] > 0.0f ? d[c] : 0.0f;
    }
    if (is_pointwise(g)) {
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, npix, cin, cout, 1.0f, dout, out_ld,
                   kernel, cout, 1.0f, din, cin);
        return;
    }
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, npix, k, cout, 1.0f, dout, out_ld, kernel,
               cout, 0.0f, col, k);
    col2im_add(din, col, g, cin);
}
