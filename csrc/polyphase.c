/* 3x3 stride-2 convolution by polyphase Winograd F(2x2, 2x2), NHWC, forward and backward to the
 * input.
 *
 * Split the (padded) input into its four phases x_ab[i][j] = x[2i + a][2j + b]. Then
 *   y[oy][ox] = sum over a, b in {0, 1} of sum over m, n of x_ab[oy + m][ox + n] w[2m + a][2n + b],
 * four stride-1 convolutions: phase 00 with the 2x2 kernel w[0|2][0|2], phase 01 with the 2x1
 * kernel w[0|2][1], phase 10 with the 1x2 kernel w[1][0|2], phase 11 with w[1][1] alone. Each
 * 2-tap axis runs by Winograd F(2, 2) over 3 points (0, 1, inf):
 *   B^T = [1 -1 0; 0 1 0; 0 -1 1]   G = [1 0; 1 1; 0 1]   A^T = [1 1 0; 0 1 1],
 * one 1-tap axis takes its 2 outputs from 2 inputs as they are. For 2x2 outputs that is 9 + 6 +
 * 6 + 4 = 25 multiplies per (cin, cout) instead of 36, in 16 GEMMs per chunk of tiles: one per
 * transformed kernel plane (9 of phase 00, 3 of 01, 3 of 10, 1 of 11), the planes that serve
 * two or four outputs taking those outputs' inputs as extra rows. The transforms only add and
 * subtract, and the kernel planes are sums of 1, 2 or 4 taps.
 *
 * Backward, each phase of the input gradient is a stride-1 "full" correlation of dout with that
 * phase's flipped kernel: dx_ab[i][j] = sum over m, n of dy[i - m][j - n] w[2m + a][2n + b]. With
 * F(2, 2), flipping a kernel reverses its three points, so the backward pass multiplies by the
 * same planes, transposed, in reverse point order; a tile of 2x2 positions of each phase (4x4
 * input pixels) reads a 3x3 window of dout.
 *
 * The GEMMs run on gemm.c's plain product (the own AVX-512 kernel where it applies), which keeps
 * its speed on the few hundred rows a chunk has; the backward pass multiplies by its own copy of
 * the planes, transposed (polyphase_kernel_transform with `backward`), so both passes are plain
 * products. On OpenBLAS's sgemm this scheme was slower than im2col (forward 0.88-0.96, backward
 * 1.07-1.18: 96-104 GFLOP/s at 128-256 rows against 143 at 512).
 * (DEEPDREAM_GEMM=openblas keeps this scheme, on that slower footing.)
 * As in winograd.c, the tiles are cut into chunks at fixed places (independent of the thread
 * count); threads take whole chunks as they come free, or, when there are fewer chunks than
 * threads, share each chunk's GEMMs. The same GEMMs and transforms for any thread count, so the
 * same results. */
#include "simd.h"
#include "polyphase.h"

#include <stddef.h>
#include <stdatomic.h>
#include <string.h>

#include "gemm.h"
#include "window.h"

#define INLINE static inline __attribute__((always_inline))
#if defined(__GNUC__) && !defined(__clang__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

#define PLANES 16 /* transformed kernel planes, (cin, cout) each */
#define ROWS 25   /* rows of V and M per tile over all planes */
#define SKEW 16   /* floats between planes of V and M beyond their rows (at()) */

/* Plane p: phase 00 points (u, v) at 3u + v (p < 9); phase 01 point u at 9 + u; phase 10 point
 * v at 12 + v; phase 11 at 15. ROWS_PER[p] rows per tile, starting at FIRST[p] * chunk. */
static const int ROWS_PER[PLANES] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 4};
static const int FIRST[PLANES] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 15, 17, 19, 21};
/* the plane a backward GEMM multiplies by: its point reversed */
static const int REVERSED[PLANES] = {8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 10, 9, 14, 13, 12, 15};

int polyphase_supports(int kh, int kw, int sh, int sw) { return kh == 3 && kw == 3 && sh == 2 && sw == 2; }

size_t polyphase_kernel_size(int cin, int cout) { return (size_t)PLANES * cin * cout; }

void polyphase_kernel_transform(float *u, const float *kernel, int cin, int cout, int backward) {
    const size_t plane = (size_t)cin * cout;
    for (size_t e = 0; e < plane; e++) { /* e = ci * cout + co, as in the kernel's taps */
        float f[PLANES];
        double w[3][3];
        for (int k = 0; k < 9; k++) w[k / 3][k % 3] = kernel[(size_t)k * plane + e];
        double g[2][3]; /* G along the columns of phase 00's taps w[2m][2n] */
        for (int m = 0; m < 2; m++) {
            g[m][0] = w[2 * m][0];
            g[m][1] = w[2 * m][0] + w[2 * m][2];
            g[m][2] = w[2 * m][2];
        }
        for (int v = 0; v < 3; v++) { /* then along the rows */
            f[0 + v] = (float)g[0][v];
            f[3 + v] = (float)(g[0][v] + g[1][v]);
            f[6 + v] = (float)g[1][v];
        }
        f[9] = (float)w[0][1];
        f[10] = (float)(w[0][1] + w[2][1]);
        f[11] = (float)w[2][1];
        f[12] = (float)w[1][0];
        f[13] = (float)(w[1][0] + w[1][2]);
        f[14] = (float)w[1][2];
        f[15] = (float)w[1][1];
        /* backward: plane p is the transpose, (cout, cin), of the plane of the reversed point */
        const size_t ci = e / cout, co = e % cout, at = backward ? co * cin + ci : e;
        for (int p = 0; p < PLANES; p++) u[p * plane + at] = f[backward ? REVERSED[p] : p];
    }
}

/* Tiles of a pass: forward, 2x2 outputs each; backward, 4x4 input pixels each */
static int tiles_y(int backward, int h, int pad_top, int ho) {
    return backward ? (h + pad_top + 3) / 4 : (ho + 1) / 2;
}

/* Most tiles per chunk: V and M of a chunk (ROWS x chunk x (cin + cout) floats) near 1 MB, but
 * at least 64 tiles, so that the GEMMs keep 64 rows or more (as in winograd.c). The same both
 * ways (the two passes swap cin and cout). */
static int chunk_max(int cin, int cout) {
    int chunk = 262144 / (ROWS * (cin + cout));
    return chunk < 64 ? 64 : chunk;
}

/* One stage per thread: an input window (25 x c) or an output tile (16 x c), c = cin + cout */
#define STAGE(cin, cout) ((size_t)ROWS * ((size_t)(cin) + (cout)))

static size_t per_thread(int cin, int cout) {
    return (size_t)ROWS * chunk_max(cin, cout) * ((size_t)cin + cout) + 2 * PLANES * SKEW +
           STAGE(cin, cout);
}

size_t polyphase_scratch_size(int cin, int cout, int threads) {
    return (size_t)threads * per_thread(cin, cout);
}

/* ---- transforms: each loop over channels runs vectorised ---- */

/* Offset of row r of plane p for tile tl of a chunk of `chunk` tiles, `ld` floats per row. The
 * planes start one cache line (SKEW floats) further apart than their rows need: a tile's
 * transform touches all 16, and planes a multiple of 1 KB apart (64 tiles x 288 channels, say)
 * fall on few sets of the L1 cache. Measured in the network (benchmarks/ab.py, 512 step, 2
 * threads, 30 steps, three runs): the stride-2 convs' forward passes 0.94, 0.98 and 0.99,
 * backward 0.99-1.01. */
INLINE size_t at(int p, int chunk, int tl, int r, int ld) {
    return ((size_t)FIRST[p] * chunk + (size_t)tl * ROWS_PER[p] + r) * ld + (size_t)p * SKEW;
}

/* V of one tile from the four grids of its window: E[i][j] = x[i R + j C] (phase 00) and that
 * grid moved by one column (cs: phase 01), one row (rs: phase 10) or both (phase 11). Forward: x
 * the tile's 5x5 input window, R = 2 rs and C = 2 cs (every other pixel); backward: x the 3x3
 * window of dout around the tile's first position i of every phase (rows and columns i - 1 ..
 * i + 1), R = rs and C = cs. */
INLINE void input_tile(float *restrict v, int chunk, int tl, const float *restrict x, size_t R,
                       size_t C, size_t rs, size_t cs, int c) {
    IVDEP for (int ch = 0; ch < c; ch++) {
        float e[3][3], oc[3][2], orr[2][3], orc[2][2];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) e[i][j] = x[i * R + j * C + ch];
        for (int i = 0; i < 3; i++)
            for (int q = 0; q < 2; q++) oc[i][q] = x[i * R + q * C + cs + ch];
        for (int p = 0; p < 2; p++)
            for (int j = 0; j < 3; j++) orr[p][j] = x[p * R + j * C + rs + ch];
        for (int p = 0; p < 2; p++)
            for (int q = 0; q < 2; q++) orc[p][q] = x[p * R + q * C + rs + cs + ch];
        float s[3][3]; /* phase 00: B^T along the columns, then the rows */
        for (int i = 0; i < 3; i++) {
            s[i][0] = e[i][0] - e[i][1];
            s[i][1] = e[i][1];
            s[i][2] = e[i][2] - e[i][1];
        }
        for (int j = 0; j < 3; j++) {
            v[at(0 + j, chunk, tl, 0, c) + ch] = s[0][j] - s[1][j];
            v[at(3 + j, chunk, tl, 0, c) + ch] = s[1][j];
            v[at(6 + j, chunk, tl, 0, c) + ch] = s[2][j] - s[1][j];
        }
        for (int q = 0; q < 2; q++) { /* phase 01: B^T along its rows */
            v[at(9, chunk, tl, q, c) + ch] = oc[0][q] - oc[1][q];
            v[at(10, chunk, tl, q, c) + ch] = oc[1][q];
            v[at(11, chunk, tl, q, c) + ch] = oc[2][q] - oc[1][q];
        }
        for (int p = 0; p < 2; p++) { /* phase 10: along its columns */
            v[at(12, chunk, tl, p, c) + ch] = orr[p][0] - orr[p][1];
            v[at(13, chunk, tl, p, c) + ch] = orr[p][1];
            v[at(14, chunk, tl, p, c) + ch] = orr[p][2] - orr[p][1];
        }
        for (int k = 0; k < 4; k++) v[at(15, chunk, tl, k, c) + ch] = orc[k / 2][k % 2]; /* phase 11 */
    }
}

/* The four phases' 2x2 results of one tile and channel from M: y[a][b][p][q]. */
INLINE void phase_outputs(float y[2][2][2][2], const float *restrict m, int chunk, int tl, int c, int ch) {
    float t[2][3]; /* phase 00: A^T along the rows, then the columns */
    for (int v = 0; v < 3; v++) {
        t[0][v] = m[at(0 + v, chunk, tl, 0, c) + ch] + m[at(3 + v, chunk, tl, 0, c) + ch];
        t[1][v] = m[at(3 + v, chunk, tl, 0, c) + ch] + m[at(6 + v, chunk, tl, 0, c) + ch];
    }
    for (int p = 0; p < 2; p++) {
        y[0][0][p][0] = t[p][0] + t[p][1];
        y[0][0][p][1] = t[p][1] + t[p][2];
    }
    for (int q = 0; q < 2; q++) {
        float m0 = m[at(9, chunk, tl, q, c) + ch], m1 = m[at(10, chunk, tl, q, c) + ch],
              m2 = m[at(11, chunk, tl, q, c) + ch];
        y[0][1][0][q] = m0 + m1;
        y[0][1][1][q] = m1 + m2;
    }
    for (int p = 0; p < 2; p++) {
        float m0 = m[at(12, chunk, tl, p, c) + ch], m1 = m[at(13, chunk, tl, p, c) + ch],
              m2 = m[at(14, chunk, tl, p, c) + ch];
        y[1][0][p][0] = m0 + m1;
        y[1][0][p][1] = m1 + m2;
    }
    for (int k = 0; k < 4; k++) y[1][1][k / 2][k % 2] = m[at(15, chunk, tl, k, c) + ch];
}

/* Forward: the tile's 2x2 outputs, relu(sum of the phases + bias) (the sum alone without a bias),
 * into o + p * rs + q * cs. */
INLINE void forward_output_tile(float *restrict o, size_t rs, size_t cs, const float *restrict bias,
                                const float *m, int chunk, int tl, int cout) {
    IVDEP for (int co = 0; co < cout; co++) {
        float y[2][2][2][2];
        phase_outputs(y, m, chunk, tl, cout, co);
        for (int p = 0; p < 2; p++)
            for (int q = 0; q < 2; q++) {
                float s = ((y[0][0][p][q] + y[0][1][p][q]) + y[1][0][p][q]) + y[1][1][p][q];
                if (bias) {
                    s += bias[co];
                    s = s > 0.0f ? s : 0.0f;
                }
                o[p * rs + q * cs + co] = s;
            }
    }
}

/* Backward: the tile's 4x4 input gradients, phase (a, b) position (p, q) at pixel
 * (2p + a, 2q + b) of o (o + row * rs + column * cs): = or += (add, a constant where inlined). */
INLINE void backward_output_tile(float *restrict o, size_t rs, size_t cs, const float *m, int chunk,
                                 int tl, int cin, const int add) {
    IVDEP for (int ci = 0; ci < cin; ci++) {
        float y[2][2][2][2];
        phase_outputs(y, m, chunk, tl, cin, ci);
        for (int k = 0; k < 16; k++) {
            int a = k >> 3 & 1, b = k >> 2 & 1, p = k >> 1 & 1, q = k & 1;
            float *d = o + (2 * p + a) * rs + (2 * q + b) * cs + ci;
            if (add) *d += y[a][b][p][q];
            else *d = y[a][b][p][q];
        }
    }
}

/* ---- the passes ---- */

typedef struct {
    int backward;
    float *out;       /* forward: y (ho, wo, cout); backward: dx (h, w, cin) */
    int out_ld;       /* floats per pixel of out */
    const float *in;  /* forward: x (h, w, cin); backward: dy (ho, wo, cout) */
    int in_ld;        /* floats per pixel of in */
    const float *bias; /* forward: bias or NULL */
    int accumulate;   /* backward: add to dx */
    int h, w, pad_top, pad_left, ho, wo, cin, cout;
    const float *u;   /* polyphase_kernel_transform's planes, forward or backward */
    int tiles_x;
} pass;

/* V for tiles [t0, t1) of the chunk that starts at tile c0 into v; stage: room for one window */
DD_VECTORIZED
static void input_transform(const pass *ps, float *v, float *stage, int n, int c0, int t0, int t1) {
    const int side = ps->backward ? 3 : 5, c = ps->backward ? ps->cout : ps->cin;
    const int ih = ps->backward ? ps->ho : ps->h, iw = ps->backward ? ps->wo : ps->w;
    for (int t = t0; t < t1; t++) {
        int ty = t / ps->tiles_x, tx = t % ps->tiles_x, y0, x0;
        if (ps->backward) { /* dy rows and columns i - 1 .. i + 1, i = the tile's first position */
            y0 = 2 * ty - 1;
            x0 = 2 * tx - 1;
        } else { /* x rows and columns 2 oy - pad .. + 4, oy = the tile's first output */
            y0 = 4 * ty - ps->pad_top;
            x0 = 4 * tx - ps->pad_left;
        }
        size_t rs, cs;
        const float *d = window_pixels(ps->in, ih, iw, ps->in_ld, c, y0, x0, side, stage, &rs, &cs);
        if (ps->backward) input_tile(v, n, t - c0, d, rs, cs, rs, cs, c);
        else input_tile(v, n, t - c0, d, 2 * rs, 2 * cs, rs, cs, c);
    }
}

/* Outputs of tiles [t0, t1) of the chunk that starts at tile c0 from m; tiles that cross an edge
 * go through stage. */
DD_VECTORIZED
static void output_transform(const pass *ps, const float *m, float *stage, int n, int c0, int t0,
                             int t1) {
    const int side = ps->backward ? 4 : 2, c = ps->backward ? ps->cin : ps->cout;
    const int oh = ps->backward ? ps->h : ps->ho, ow = ps->backward ? ps->w : ps->wo;
    const size_t rs = (size_t)ow * ps->out_ld, cs = ps->out_ld, bytes = (size_t)c * sizeof(float);
    const int add = ps->backward && ps->accumulate;
    for (int t = t0; t < t1; t++) {
        int ty = t / ps->tiles_x, tx = t % ps->tiles_x, y0 = side * ty, x0 = side * tx;
        if (ps->backward) { /* dx pixels 4 i - pad .. + 3 */
            y0 -= ps->pad_top;
            x0 -= ps->pad_left;
        }
        int inside = y0 >= 0 && x0 >= 0 && y0 + side <= oh && x0 + side <= ow;
        float *o = inside ? ps->out + ((ptrdiff_t)y0 * ow + x0) * ps->out_ld : stage;
        size_t o_rs = inside ? rs : (size_t)side * c, o_cs = inside ? cs : (size_t)c;
        if (!inside && add) /* what to add to, zeros past the edges */
            for (int k = 0; k < side * side; k++) {
                int oy = y0 + k / side, ox = x0 + k % side;
                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) memset(stage + (size_t)k * c, 0, bytes);
                else memcpy(stage + (size_t)k * c, ps->out + ((size_t)oy * ow + ox) * ps->out_ld, bytes);
            }
        if (!ps->backward) forward_output_tile(o, o_rs, o_cs, ps->bias, m, n, t - c0, c);
        else if (add) backward_output_tile(o, o_rs, o_cs, m, n, t - c0, c, 1);
        else backward_output_tile(o, o_rs, o_cs, m, n, t - c0, c, 0);
        for (int k = 0; !inside && k < side * side; k++) {
            int oy = y0 + k / side, ox = x0 + k % side;
            if (oy >= 0 && oy < oh && ox >= 0 && ox < ow)
                memcpy(ps->out + ((size_t)oy * ow + ox) * ps->out_ld, stage + (size_t)k * c, bytes);
        }
    }
}

/* Block b of n over [0, len): [*lo, *hi). */
static void block_range(int len, int b, int n, int *lo, int *hi) {
    *lo = (int)((long long)len * b / n);
    *hi = (int)((long long)len * (b + 1) / n);
}

/* The planes by falling rows per tile: when threads share a chunk's GEMMs, the large come first */
static const int BY_SIZE[PLANES] = {15, 9, 10, 11, 12, 13, 14, 0, 1, 2, 3, 4, 5, 6, 7, 8};

/* Tiles [c0, c1) of one chunk: input transform, the 16 GEMMs (over gemm_threads threads), output
 * transform; v, m and stage are the chunk's scratch. */
static void run_chunk(const pass *ps, float *v, float *m, float *stage, int c0, int c1,
                      int gemm_threads) {
    const int n = c1 - c0, k = ps->backward ? ps->cout : ps->cin, nc = ps->backward ? ps->cin : ps->cout;
    const size_t plane = (size_t)ps->cin * ps->cout;
    input_transform(ps, v, stage, n, c0, c0, c1);
#pragma omp parallel for num_threads(gemm_threads) schedule(dynamic, 1) if (gemm_threads > 1)
    for (int j = 0; j < PLANES; j++) {
        const int p = BY_SIZE[j];
        gemm_bias_relu(n * ROWS_PER[p], nc, k, v + at(p, n, 0, 0, k), k, ps->u + p * plane, nc,
                       m + at(p, n, 0, 0, nc), nc, NULL);
    }
    output_transform(ps, m, stage, n, c0, c0, c1);
}

/* Chunks cut at fixed places, each of at most chunk_max tiles; threads take them as they come
 * free, or all threads share each chunk's GEMMs when there are fewer chunks than threads. */
static void run(pass *ps, float *scratch, int threads) {
    ps->tiles_x = tiles_y(ps->backward, ps->w, ps->pad_left, ps->wo);
    const int n_tiles = tiles_y(ps->backward, ps->h, ps->pad_top, ps->ho) * ps->tiles_x;
    const int most = chunk_max(ps->cin, ps->cout), n_chunks = (n_tiles + most - 1) / most;
    const size_t vm = (size_t)ROWS * most * (ps->backward ? ps->cout : ps->cin) + PLANES * SKEW;
    const size_t mm = (size_t)ROWS * most * (ps->backward ? ps->cin : ps->cout) + PLANES * SKEW;
    if (threads > 1 && n_chunks < threads) {
        for (int c = 0; c < n_chunks; c++) {
            int c0, c1;
            block_range(n_tiles, c, n_chunks, &c0, &c1);
            run_chunk(ps, scratch, scratch + vm, scratch + vm + mm, c0, c1, threads);
        }
        return;
    }
    if (threads > n_chunks) threads = n_chunks;
    atomic_int next = 0; /* chunks handed out one at a time: a thread slowed by the machine takes fewer */
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int b = 0; b < threads; b++) {
        float *v = scratch + (size_t)b * per_thread(ps->cin, ps->cout);
        for (int c; (c = atomic_fetch_add(&next, 1)) < n_chunks;) {
            int c0, c1;
            block_range(n_tiles, c, n_chunks, &c0, &c1);
            run_chunk(ps, v, v + vm, v + vm + mm, c0, c1, 1);
        }
    }
}

void polyphase_forward(float *out, int out_ld, const float *bias, const float *in, int h, int w,
                       int pad_top, int pad_left, int ho, int wo, const float *u, int cin, int cout,
                       float *scratch, int threads) {
    pass ps = {.backward = 0, .out = out, .out_ld = out_ld, .in = in, .in_ld = cin, .bias = bias,
               .h = h, .w = w, .pad_top = pad_top, .pad_left = pad_left, .ho = ho, .wo = wo,
               .cin = cin, .cout = cout, .u = u};
    run(&ps, scratch, threads);
}

void polyphase_backward(float *din, int accumulate, const float *dout, int dout_ld, int h, int w,
                        int pad_top, int pad_left, int ho, int wo, const float *u, int cin, int cout,
                        float *scratch, int threads) {
    pass ps = {.backward = 1, .out = din, .out_ld = cin, .in = dout, .in_ld = dout_ld,
               .accumulate = accumulate, .h = h, .w = w, .pad_top = pad_top, .pad_left = pad_left,
               .ho = ho, .wo = wo, .cin = cin, .cout = cout, .u = u};
    run(&ps, scratch, threads);
}
