/* Convolution + bias + ReLU (batch norm folded into kernel and bias), NHWC, one image.
 * Forward: im2col + GEMM with bias and ReLU (gemm.c; 1x1 stride-1 kernels skip im2col: the
 * NHWC buffer is the matrix; 3x3 and 5x5 stride-1 kernels run by Winograd F(4x4, 3x3) and
 * F(4x4, 5x5), winograd.c; 1 x r and r x 1 stride-1 ones by 1-D Winograd along the kernel's axis,
 * winograd1d.c; thin inputs such as the RGB image run direct, below).
 * Backward to the input: ReLU mask on the incoming gradient, sgemm with the transposed kernel,
 * col2im. No weight gradients: DeepDream only needs d loss / d input.
 *
 * Threads: the output pixels are split into one block of rows per thread; each thread runs its
 * own im2col and a single-threaded GEMM on its block (OpenBLAS is kept at one thread, so there
 * is one threading model). col2im is a gather over input pixels, so threads never write the
 * same element and the sums run in the same order for any thread count. */
#include "simd.h"
#include "conv2d.h"

#include <string.h>

#include "blas.h"
#include "gemm.h"
#include "polyphase.h"
#include "winograd.h"
#include "winograd1d.h"

static int is_pointwise(const window *g) {
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1;
}

int conv2d_uses_winograd(const window *g) {
    return g->kh == g->kw && winograd_supports(g->kh) && g->sh == 1 && g->sw == 1;
}

/* ---- thin inputs (the RGB image): at most THIN_TAPS taps per output pixel. A sgemm with so
 * short an inner dimension spends its time packing, and im2col copies rows of 3 floats; instead
 * THIN_PIXELS output pixels at a time multiply their taps, read in place, by the kernel,
 * vectorised over THIN_LANES output channels. Backward, the same product with the kernel
 * transposed gives each pixel's column of taps, vectorised over the taps, which col2im gathers. */
#define THIN_TAPS 32
#define THIN_LANES 32
#define THIN_PIXELS 8

static int is_thin(const window *g, int cin) {
    return !is_pointwise(g) && !conv2d_uses_winograd(g) && !conv2d_uses_winograd1d(g) &&
           g->kh * g->kw * cin <= THIN_TAPS;
}

int conv2d_uses_polyphase(const window *g, int cin) {
    return polyphase_supports(g->kh, g->kw, g->sh, g->sw) && g->kh * g->kw * cin > THIN_TAPS;
}

/* Floats of the kernel panels: ceil(cout / THIN_LANES) panels of (k, THIN_LANES) forward, one of
 * (cout, THIN_LANES) backward, both within this for k <= THIN_TAPS. */
static size_t thin_panels_size(int cout) {
    return (size_t)(cout + THIN_LANES - 1) / THIN_LANES * THIN_LANES * THIN_TAPS;
}

/* Backward, each thread takes its input rows THIN_BAND at a time: the col rows of the output
 * rows under a band (those on its edges computed by both bands) stay in cache for col2im. */
#define THIN_BAND 32

/* Floats of col for the output rows under one band */
static size_t thin_band_size(const window *g, int cin) {
    return (size_t)((THIN_BAND + g->kh - 2) / g->sh + 1) * g->wo * g->kh * g->kw * cin;
}

#define THIN_VECS (THIN_LANES / 16)

static const int thin_identity[THIN_TAPS] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                             11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                             22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

/* c[q][j] += sum over t < n of rows[q][at[t]] * panel[t][j], in order of t; the panel's rows
 * THIN_LANES floats apart. The sums stay in registers: acc is only indexed by constants. */
static inline void thin_madd(float c[THIN_PIXELS][THIN_LANES], const float *rows[THIN_PIXELS],
                             const int *at, const float *panel, int n) {
    floatx16 acc[THIN_PIXELS][THIN_VECS];
    memcpy(acc, c, sizeof(acc));
    for (int t = 0; t < n; t++) {
        floatx16 b[THIN_VECS];
        for (int v = 0; v < THIN_VECS; v++)
            b[v] = floatx16_load(panel + (size_t)t * THIN_LANES + 16 * v);
        for (int q = 0; q < THIN_PIXELS; q++)
            for (int v = 0; v < THIN_VECS; v++) acc[q][v] += rows[q][at[t]] * b[v];
    }
    memcpy(c, acc, sizeof(acc));
}

/* panels[c0 / THIN_LANES] (k, THIN_LANES) <- kernel (k, cout) columns [c0, c0 + THIN_LANES),
 * zero past cout */
static void thin_pack_forward(float *panels, const float *kernel, int k, int cout) {
    for (int c0 = 0; c0 < cout; c0 += THIN_LANES)
        for (int t = 0; t < k; t++)
            for (int j = 0; j < THIN_LANES; j++)
                *panels++ = c0 + j < cout ? kernel[(size_t)t * cout + c0 + j] : 0.0f;
}

/* panel (cout, THIN_LANES) <- kernel (k, cout) transposed, zero past k */
static void thin_pack_backward(float *panel, const float *kernel, int k, int cout) {
    for (int c = 0; c < cout; c++)
        for (int t = 0; t < THIN_LANES; t++) *panel++ = t < k ? kernel[(size_t)t * cout + c] : 0.0f;
}

/* a[t] <- the input under tap t = (ky * kw + kx) * cin + ci of output pixel p; zero over padding */
static void thin_gather(float *a, const float *in, const window *g, int cin, int p) {
    int oy = p / g->wo, ox = p % g->wo;
    for (int ky = 0; ky < g->kh; ky++) {
        int iy = oy * g->sh - g->pad_top + ky;
        for (int kx = 0; kx < g->kw; kx++, a += cin) {
            int ix = ox * g->sw - g->pad_left + kx;
            if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                memset(a, 0, (size_t)cin * sizeof(float));
            else
                memcpy(a, in + ((size_t)iy * g->w + ix) * cin, (size_t)cin * sizeof(float));
        }
    }
}

/* Output pixels [p0, p1) of relu(conv + bias), from the panels of thin_pack_forward. */
DD_VECTORIZED
static void thin_forward(float *out, int out_ld, const float *panels, const float *in,
                         const float *bias, const window *g, int cin, int cout, int p0, int p1) {
    const int k = g->kh * g->kw * cin;
    int taps[THIN_TAPS]; /* where tap t lies from the window's first input */
    for (int ky = 0, t = 0; ky < g->kh; ky++)
        for (int kx = 0; kx < g->kw; kx++)
            for (int c = 0; c < cin; c++) taps[t++] = (ky * g->w + kx) * cin + c;
    for (int p = p0; p < p1; p += THIN_PIXELS) {
        const int n = p1 - p < THIN_PIXELS ? p1 - p : THIN_PIXELS;
        const float *rows[THIN_PIXELS];
        const int *at = taps;
        for (int q = 0; q < THIN_PIXELS; q++) { /* past n: a copy of the first pixel, not stored */
            int pq = p + (q < n ? q : 0);
            int y0 = pq / g->wo * g->sh - g->pad_top, x0 = pq % g->wo * g->sw - g->pad_left;
            if (y0 < 0 || y0 + g->kh > g->h || x0 < 0 || x0 + g->kw > g->w) at = thin_identity;
            else rows[q] = in + ((size_t)y0 * g->w + x0) * cin;
        }
        float a[THIN_PIXELS][THIN_TAPS];
        if (at == thin_identity) /* a window over the padding: its taps gathered, zeros there */
            for (int q = 0; q < THIN_PIXELS; q++) {
                thin_gather(a[q], in, g, cin, p + (q < n ? q : 0));
                rows[q] = a[q];
            }
        for (int c0 = 0; c0 < cout; c0 += THIN_LANES) {
            float acc[THIN_PIXELS][THIN_LANES] = {{0}};
            thin_madd(acc, rows, at, panels + (size_t)c0 * k, k);
            const int m = cout - c0 < THIN_LANES ? cout - c0 : THIN_LANES;
            for (int q = 0; q < n; q++) {
                float *restrict o = out + (size_t)(p + q) * out_ld + c0;
                if (!bias) {
                    memcpy(o, acc[q], (size_t)m * sizeof(float));
                    continue;
                }
                const float *b = bias + c0;
                for (int j = 0; j < m; j++) {
                    float v = acc[q][j] + b[j];
                    o[j] = v > 0.0f ? v : 0.0f;
                }
            }
        }
    }
}

/* col (p1 - p0, k) <- rows [p0, p1) of dout masked by the ReLU (out > 0; none if out is NULL)
 * times the kernel transposed (the panel of thin_pack_backward). */
DD_VECTORIZED
static void thin_backward_col(float *col, const float *dout, const float *out, int out_ld,
                              const float *panel, int k, int cout, int p0, int p1) {
    for (int p = p0; p < p1; p += THIN_PIXELS) {
        const int n = p1 - p < THIN_PIXELS ? p1 - p : THIN_PIXELS;
        float acc[THIN_PIXELS][THIN_LANES] = {{0}};
        for (int c0 = 0; c0 < cout; c0 += THIN_TAPS) {
            const int m = cout - c0 < THIN_TAPS ? cout - c0 : THIN_TAPS;
            float a[THIN_PIXELS][THIN_TAPS];
            const float *rows[THIN_PIXELS];
            for (int q = 0; q < THIN_PIXELS; q++) { /* past n: a copy of the first pixel */
                const size_t at = (size_t)(p + (q < n ? q : 0)) * out_ld + c0;
                if (out)
                    for (int j = 0; j < m; j++) a[q][j] = out[at + j] > 0.0f ? dout[at + j] : 0.0f;
                else
                    memcpy(a[q], dout + at, (size_t)m * sizeof(float));
                rows[q] = a[q];
            }
            thin_madd(acc, rows, thin_identity, panel + (size_t)c0 * THIN_LANES, m);
        }
        for (int q = 0; q < n; q++)
            for (int j = 0; j < k; j++) col[(size_t)(p - p0 + q) * k + j] = acc[q][j];
    }
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
    if (is_thin(g, cin)) return thin_panels_size(cout) + (size_t)threads * thin_band_size(g, cin);
    if (conv2d_uses_polyphase(g, cin)) return polyphase_scratch_size(cin, cout, threads);
    if (conv2d_uses_winograd(g)) {
        return winograd_scratch_size(g->kh, cin, cout, threads); /* the same backward */
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

/* Input rows [y0, y1) of din (h, w, cin) += (or =, unless accumulate) the col entries that
 * im2col read from them: the adjoint of im2col, as a gather. col (.., wo, kh*kw*cin) holds the
 * output rows from oy0 on. Each input element adds its taps in a fixed order (ky, then kx, or
 * for the RGB image's windows ky, then the even output pixels before the odd ones); a row of din
 * takes them tap by tap (or 9 floats at a time), so the window arithmetic runs once per row and
 * tap, not once per pixel. The 9-float adds measured conv2d_1's backward at 0.868 and 0.849 of
 * its time (ab.py --each, 512, 2 threads, 30 steps; the gradient 1.6e-8 apart in relative L2:
 * the order of the sums). */
DD_VECTORIZED
static void col2im_add(float *din, const float *col, int oy0, const window *g, int cin, int y0,
                       int y1, int accumulate) {
    const size_t k = (size_t)g->kh * g->kw * cin;
    for (int iy = y0; iy < y1; iy++) {
        float *restrict row = din + (size_t)iy * g->w * cin;
        if (!accumulate) memset(row, 0, (size_t)g->w * cin * sizeof(float));
        for (int ky = 0; ky < g->kh; ky++) {
            int oy = window_tap_output(iy, ky, g->pad_top, g->sh, g->ho);
            if (oy < 0) continue;
            const float *taps = col + (size_t)(oy - oy0) * g->wo * k + (size_t)ky * g->kw * cin;
            /* The RGB image's 3x3 stride-2 windows: an output pixel's taps of this row are 9
             * floats side by side in din, added at once, every other pixel per pass (the rows
             * of neighbours overlap). Elsewhere, and at the edges, tap by tap. */
            int full0 = 0, full1 = 0;
            if (g->kw == 3 && cin == 3 && g->sw == 2 && g->w - 3 + g->pad_left >= 0) {
                full0 = (g->pad_left + 1) / 2; /* the first whose 3 taps are inside */
                full1 = (g->w - 3 + g->pad_left) / 2 + 1;
                if (full1 > g->wo) full1 = g->wo;
                if (full1 < full0) full1 = full0;
                for (int pass = 0; pass < 2; pass++)
                    for (int ox = full0 + pass; ox < full1; ox += 2) {
                        const float *restrict src = taps + (size_t)ox * k;
                        float *restrict dst = row + (size_t)(2 * ox - g->pad_left) * 3;
                        for (int j = 0; j < 9; j++) dst[j] += src[j];
                    }
            }
            for (int kx = 0; kx < g->kw; kx++) {
                int ox0, ox1;
                window_tap_outputs(g->w, kx, g->pad_left, g->sw, g->wo, &ox0, &ox1);
                for (int ox = ox0; ox < ox1; ox++) {
                    if (ox >= full0 && ox < full1) continue; /* added above */
                    const float *restrict src = taps + (size_t)ox * k + (size_t)kx * cin;
                    float *restrict dst = row + (size_t)(ox * g->sw - g->pad_left + kx) * cin;
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

/* Input rows [y0, y1) of the thin backward, band by band; col: thin_band_size() floats. */
static void thin_backward(float *din, const float *dout, const float *out, int out_ld,
                          const float *panel, float *col, const window *g, int cin, int cout,
                          int y0, int y1, int accumulate) {
    const int k = g->kh * g->kw * cin;
    for (int ya = y0; ya < y1; ya += THIN_BAND) {
        const int yb = y1 - ya < THIN_BAND ? y1 : ya + THIN_BAND;
        /* the output rows oy with oy * sh within [ya + pad - (kh - 1), yb - 1 + pad] */
        const int lo = ya + g->pad_top - (g->kh - 1), hi = yb - 1 + g->pad_top;
        const int oy0 = lo > 0 ? (lo + g->sh - 1) / g->sh : 0;
        const int oy1 = hi / g->sh + 1 < g->ho ? hi / g->sh + 1 : g->ho;
        if (oy1 > oy0)
            thin_backward_col(col, dout, out, out_ld, panel, k, cout, oy0 * g->wo, oy1 * g->wo);
        col2im_add(din, col, oy0, g, cin, ya, yb, accumulate);
    }
}

/* Threads for a split of `rows` GEMM rows: each gets at least GEMM_MIN_ROWS rows, or one thread
 * takes all. OpenBLAS computes a row of C differently when it is called with very few rows
 * (measured: M <= 6 at K = 768, N = 192), so a split that left a thread a handful of rows would
 * make results depend on the thread count; with this floor no call has fewer than GEMM_MIN_ROWS
 * rows unless the whole product has, for every thread count alike. */
#define GEMM_MIN_ROWS 32

int conv2d_gemm_threads(int rows, int threads) {
    int most = rows / GEMM_MIN_ROWS;
    return threads < most ? threads : most > 1 ? most : 1;
}

/* Output pixels per GEMM call of a 1x1 conv: the mask pass (backward) then runs over rows the
 * GEMM is about to read, in cache, and the 1x1 convs that read the same input (forward) or add to
 * its gradient (backward) take turns on each block, which stays in cache for all of them. (Other
 * convs take a thread's pixels at once: each OpenBLAS call packs the kernel again, and theirs
 * are large.) */
#define CONV_BLOCK 1024

/* n rows of dout <- dout where the ReLU passed (out > 0), else 0; both out_ld floats apart */
static inline void relu_mask(float *dout, const float *out, int out_ld, int n, int cout) {
    for (int p = 0; p < n; p++) {
        float *restrict d = dout + (size_t)p * out_ld;
        const float *restrict o = out + (size_t)p * out_ld;
        for (int c = 0; c < cout; c++) d[c] = o[c] > 0.0f ? d[c] : 0.0f;
    }
}

/* in (h, w, cin) contiguous; kernel (kh, kw, cin, cout) HWIO; bias (cout), or NULL for the
 * convolution alone (no bias, no ReLU); out (ho, wo, cout) with out_ld floats from one pixel to
 * the next (a channel slice of a concatenated block output); col: conv2d_scratch_size() floats of
 * scratch. */
DD_VECTORIZED
void conv2d_forward(float *out, int out_ld, float *col, const float *in, const float *kernel,
                    const float *wino, const float *bias, const window *g, int cin, int cout,
                    int threads) {
    if (conv2d_uses_winograd(g)) {
        winograd_conv(out, out_ld, bias, NULL, 0, in, cin, g->h, g->w, g->pad_top, g->pad_left, g->ho,
                      g->wo, g->kh, wino, cin, cout, col, threads);
        return;
    }
    if (conv2d_uses_winograd1d(g)) {
        winograd1d_run(out, out_ld, bias, 0, in, cin, wino, g, cin, cout, col, threads);
        return;
    }
    if (conv2d_uses_polyphase(g, cin)) {
        polyphase_forward(out, out_ld, bias, in, g->h, g->w, g->pad_top, g->pad_left, g->ho, g->wo,
                          wino, cin, cout, col, threads);
        return;
    }
    const int npix = g->ho * g->wo;
    const int k = g->kh * g->kw * cin;
    if (is_pointwise(g)) {
        const conv2d_pointwise c = {out, out_ld, NULL, kernel, bias, cout};
        conv2d_forward_pointwise(&c, 1, in, npix, cin, threads);
        return;
    }
    const int thin = is_thin(g, cin);
    threads = conv2d_gemm_threads(npix, threads);
    if (thin) thin_pack_forward(col, kernel, k, cout);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int b = 0; b < threads; b++) {
        int p0, p1;
        block_range(npix, b, threads, &p0, &p1);
        if (thin) {
            thin_forward(out, out_ld, col, in, bias, g, cin, cout, p0, p1);
        } else {
            im2col(col, in, g, cin, p0, p1);
            gemm_bias_relu(p1 - p0, cout, k, col + (size_t)p0 * k, k, kernel, cout,
                           out + (size_t)p0 * out_ld, out_ld, bias);
        }
    }
}

/* Both passes of 1x1 convs that share their input (pixels, cin): forward (din NULL) from in,
 * backward into din. Each thread takes its rows CONV_BLOCK or fewer at a time (equal blocks,
 * none of a handful of rows), and every conv works on a block before the next block. */
DD_VECTORIZED
static void pointwise_pass(float *din, int accumulate, const conv2d_pointwise *convs, int n,
                           const float *in, int pixels, int cin, int threads) {
    threads = conv2d_gemm_threads(pixels, threads);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int b = 0; b < threads; b++) {
        int p0, p1;
        block_range(pixels, b, threads, &p0, &p1);
        const int blocks = (p1 - p0 + CONV_BLOCK - 1) / CONV_BLOCK;
        for (int j = 0; j < blocks; j++) {
            int q0, q1;
            block_range(p1 - p0, j, blocks, &q0, &q1);
            q0 += p0;
            q1 += p0;
            for (int i = 0; i < n; i++) {
                const conv2d_pointwise *c = &convs[i];
                float *o = c->out + (size_t)q0 * c->out_ld;
                if (!din) {
                    gemm_bias_relu(q1 - q0, c->cout, cin, in + (size_t)q0 * cin, cin, c->kernel,
                                   c->cout, o, c->out_ld, c->bias);
                    continue;
                }
                if (c->act) relu_mask(o, c->act + (size_t)q0 * c->out_ld, c->out_ld, q1 - q0, c->cout);
                blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, q1 - q0, cin, c->cout, 1.0f, o,
                           c->out_ld, c->kernel, c->cout, accumulate || i ? 1.0f : 0.0f,
                           din + (size_t)q0 * cin, cin);
            }
        }
    }
}

void conv2d_forward_pointwise(const conv2d_pointwise *convs, int n, const float *in, int pixels,
                              int cin, int threads) {
    pointwise_pass(NULL, 0, convs, n, in, pixels, cin, threads);
}

void conv2d_backward_pointwise(float *din, int accumulate, const conv2d_pointwise *convs, int n,
                               int pixels, int cin, int threads) {
    pointwise_pass(din, accumulate, convs, n, NULL, pixels, cin, threads);
}

/* dout (ho, wo, cout), row stride out_ld: gradient w.r.t. this conv's output; masked in place
 * by the ReLU (out > 0), except on the thin path, and not at all when dout_masked says that was
 * done already. din (h, w, cin) contiguous: the gradient is added to it (accumulate), or written
 * over it (the first contribution, which saves zeroing it first); din_mask: NULL, or, for a
 * 2-D Winograd conv (conv2d_uses_winograd) without accumulate, the forward input (h, w, cin): din
 * is then written only where din_mask > 0 and 0 elsewhere, the ReLU mask of the op that made the
 * input, applied by the output transform as it writes (that op's backward can skip its own).
 * out: the forward output (same layout as dout); kernel (kh, kw, cin, cout). */
DD_VECTORIZED
void conv2d_backward(float *din, float *dout, int out_ld, float *col, const float *out,
                     const float *kernel, const float *wino_back, const window *g, int cin, int cout,
                     int accumulate, int dout_masked, const float *din_mask, int threads) {
    const int npix = g->ho * g->wo;
    const int k = g->kh * g->kw * cin;
    if (is_pointwise(g)) {
        const conv2d_pointwise c = {dout, out_ld, dout_masked ? NULL : out, kernel, NULL, cout};
        conv2d_backward_pointwise(din, accumulate, &c, 1, npix, cin, threads);
        return;
    }
    threads = conv2d_gemm_threads(npix, threads);
    if (conv2d_uses_winograd1d(g) || conv2d_uses_winograd(g) || conv2d_uses_polyphase(g, cin)) {
        /* d in = d out (ReLU-masked) convolved with the flipped, transposed kernel, padded so
         * that it lands on the input: pad' = k - 1 - pad (stride 1; polyphase.c for stride 2) */
        if (!dout_masked) {
#pragma omp parallel for num_threads(threads) schedule(static, 1)
            for (int b = 0; b < threads; b++) {
                int p0, p1;
                block_range(npix, b, threads, &p0, &p1);
                relu_mask(dout + (size_t)p0 * out_ld, out + (size_t)p0 * out_ld, out_ld, p1 - p0,
                          cout);
            }
        }
        if (conv2d_uses_winograd1d(g))
            winograd1d_run(din, cin, NULL, accumulate, dout, out_ld, wino_back, g, cin, cout, col,
                           threads);
        else if (conv2d_uses_polyphase(g, cin))
            polyphase_backward(din, accumulate, dout, out_ld, g->h, g->w, g->pad_top, g->pad_left,
                               g->ho, g->wo, wino_back, cin, cout, col, threads);
        else
            winograd_conv(din, cin, NULL, din_mask, accumulate, dout, out_ld, g->ho, g->wo,
                          g->kh - 1 - g->pad_top, g->kw - 1 - g->pad_left, g->h, g->w, g->kh,
                          wino_back, cout, cin, col, threads);
        return;
    }
    if (is_thin(g, cin)) {
        float *panel = col;
        thin_pack_backward(panel, kernel, k, cout);
        col += thin_panels_size(cout);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int b = 0; b < threads; b++) {
            int y0, y1;
            block_range(g->h, b, threads, &y0, &y1);
            thin_backward(din, dout, dout_masked ? NULL : out, out_ld, panel,
                          col + b * thin_band_size(g, cin), g, cin, cout, y0, y1, accumulate);
        }
        return;
    }
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static, 1)
        for (int b = 0; b < threads; b++) {
            int p0, p1;
            block_range(npix, b, threads, &p0, &p1);
            float *d = dout + (size_t)p0 * out_ld;
            if (!dout_masked) relu_mask(d, out + (size_t)p0 * out_ld, out_ld, p1 - p0, cout);
            blas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p1 - p0, k, cout, 1.0f, d, out_ld,
                       kernel, cout, 0.0f, col + (size_t)p0 * k, k);
        }
#pragma omp for schedule(static, 1)
        for (int b = 0; b < threads; b++) {
            int y0, y1;
            block_range(g->h, b, threads, &y0, &y1);
            col2im_add(din, col, 0, g, cin, y0, y1, accumulate);
        }
    }
}
