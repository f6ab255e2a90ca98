/* 1-D Winograd F(m, r) (Lavin & Gray, 2015, along one axis) for the 1 x r and r x 1 stride-1
 * convolutions, NHWC. A tile is n = m + r - 1 consecutive input pixels along the kernel's axis
 * (along a row for 1 x r, down a column for r x 1) and gives the m outputs there:
 *   U = G g per (cin, cout); V = B^T d per tile and channel;
 *   M[p] = V[p] U[p] as n GEMMs over the tiles (rows = tiles, K = cin, N = cout); Y = A^T M.
 * The matrices are Toom-Cook's for the points listed with each table and infinity, in exact
 * rationals: G (n, r) and A (n, m) evaluate polynomials of degree r-1 and m-1 at the points, B
 * (n, n) is the inverse of that evaluation for degree n-1. Each row of B^T is scaled to integers
 * (exact in float) and the same row of G divided by the factor; G is applied once, in double,
 * when the kernels are prepared.
 *
 * F(5,7) (InceptionV3's 1x7/7x1): 11 multiplies for 5 outputs instead of 35, and a 30-wide map
 * (mixed4..mixed7 of a 512 input) is exactly 6 tiles a line. Its points were picked among
 * candidate sets by the float32 error against float64 on InceptionV3's own weights and
 * activations: about 1e-5 of the largest output, forward and backward, against 3e-7 for direct
 * summation. F(2,3) (1x3/3x1 of mixed9/10): 4 for 2 instead of 6.
 *
 * Threads take contiguous ranges of tiles and run single-threaded sgemms on their rows, as
 * winograd.c does, so a tile's result does not depend on the thread count, given (as there) that
 * OpenBLAS computes a row of a non-transposed sgemm the same whatever the other rows: checked
 * for K = N = 128..384 and M = 1..500. (Its transposed small-matrix kernels do not: one
 * transform serving both passes, with U transposed in the backward GEMMs, broke the thread
 * invariance, and was slower.) */
#include "simd.h"
#include "winograd1d.h"

#include "conv2d.h"

#include <string.h>

#include "gemm.h"

/* F(5,7): points 1, -1, 2, -2, 1/2, -1/2, 1/4, -1/4, 5/4, -5/4 and infinity. */
static const float f5_7_bt[11][11] = {
    {100.0f, 100.0f, -2089.0f, -2089.0f, 8196.0f, 8196.0f, -6016.0f, -6016.0f, 1024.0f, 1024.0f, 0.0f},
    {100.0f, -100.0f, -2089.0f, 2089.0f, 8196.0f, -8196.0f, -6016.0f, 6016.0f, 1024.0f, -1024.0f, 0.0f},
    {50.0f, 25.0f, -1082.0f, -541.0f, 4872.0f, 2436.0f, -5888.0f, -2944.0f, 2048.0f, 1024.0f, 0.0f},
    {50.0f, -25.0f, -1082.0f, 541.0f, 4872.0f, -2436.0f, -5888.0f, 2944.0f, 2048.0f, -1024.0f, 0.0f},
    {-100.0f, -200.0f, 1789.0f, 3578.0f, -3129.0f, -6258.0f, 1696.0f, 3392.0f, -256.0f, -512.0f, 0.0f},
    {-100.0f, 200.0f, 1789.0f, -3578.0f, -3129.0f, 6258.0f, 1696.0f, -3392.0f, -256.0f, 512.0f, 0.0f},
    {100.0f, 400.0f, -589.0f, -2356.0f, 861.0f, 3444.0f, -436.0f, -1744.0f, 64.0f, 256.0f, 0.0f},
    {100.0f, -400.0f, -589.0f, 2356.0f, 861.0f, -3444.0f, -436.0f, 1744.0f, 64.0f, -256.0f, 0.0f},
    {-20.0f, -16.0f, 425.0f, 340.0f, -1785.0f, -1428.0f, 1700.0f, 1360.0f, -320.0f, -256.0f, 0.0f},
    {-20.0f, 16.0f, 425.0f, -340.0f, -1785.0f, 1428.0f, 1700.0f, -1360.0f, -320.0f, 256.0f, 0.0f},
    {-100.0f, 0.0f, 2189.0f, 0.0f, -10285.0f, 0.0f, 14212.0f, 0.0f, -7040.0f, 0.0f, 1024.0f},
};
static const float f5_7_at[5][11] = {
    {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f},
    {1.0f, -1.0f, 2.0f, -2.0f, 0.5f, -0.5f, 0.25f, -0.25f, 1.25f, -1.25f, 0.0f},
    {1.0f, 1.0f, 4.0f, 4.0f, 0.25f, 0.25f, 0.0625f, 0.0625f, 1.5625f, 1.5625f, 0.0f},
    {1.0f, -1.0f, 8.0f, -8.0f, 0.125f, -0.125f, 0.015625f, -0.015625f, 1.953125f, -1.953125f, 0.0f},
    {1.0f, 1.0f, 16.0f, 16.0f, 0.0625f, 0.0625f, 0.00390625f, 0.00390625f, 2.44140625f, 2.44140625f, 1.0f},
};
static const double f5_7_g[11][7] = {
    {1.0 / 2430, 1.0 / 2430, 1.0 / 2430, 1.0 / 2430, 1.0 / 2430, 1.0 / 2430, 1.0 / 2430},
    {1.0 / 2430, -1.0 / 2430, 1.0 / 2430, -1.0 / 2430, 1.0 / 2430, -1.0 / 2430, 1.0 / 2430},
    {1.0 / 442260, 1.0 / 221130, 1.0 / 110565, 2.0 / 110565, 4.0 / 110565, 8.0 / 110565, 16.0 / 110565},
    {1.0 / 442260, -1.0 / 221130, 1.0 / 110565, -2.0 / 110565, 4.0 / 110565, -8.0 / 110565, 16.0 / 110565},
    {8.0 / 2835, 4.0 / 2835, 2.0 / 2835, 1.0 / 2835, 1.0 / 5670, 1.0 / 11340, 1.0 / 22680},
    {8.0 / 2835, -4.0 / 2835, 2.0 / 2835, -1.0 / 2835, 1.0 / 5670, -1.0 / 11340, 1.0 / 22680},
    {64.0 / 8505, 16.0 / 8505, 4.0 / 8505, 1.0 / 8505, 1.0 / 34020, 1.0 / 136080, 1.0 / 544320},
    {64.0 / 8505, -16.0 / 8505, 4.0 / 8505, -1.0 / 8505, 1.0 / 34020, -1.0 / 136080, 1.0 / 544320},
    {64.0 / 110565, 16.0 / 22113, 20.0 / 22113, 25.0 / 22113, 125.0 / 88452, 625.0 / 353808, 3125.0 / 1415232},
    {64.0 / 110565, -16.0 / 22113, 20.0 / 22113, -25.0 / 22113, 125.0 / 88452, -625.0 / 353808, 3125.0 / 1415232},
    {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0 / 1024},
};
/* F(2,3): points 0, 1, -1 and infinity. */
static const float f2_3_bt[4][4] = {
    {1.0f, 0.0f, -1.0f, 0.0f},
    {0.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, -1.0f, 1.0f, 0.0f},
    {0.0f, -1.0f, 0.0f, 1.0f},
};
static const float f2_3_at[2][4] = {
    {1.0f, 1.0f, 1.0f, 0.0f},
    {0.0f, 1.0f, -1.0f, 1.0f},
};
static const double f2_3_g[4][3] = {
    {1.0, 0.0, 0.0},
    {1.0 / 2, 1.0 / 2, 1.0 / 2},
    {1.0 / 2, -1.0 / 2, 1.0 / 2},
    {0.0, 0.0, 1.0},
};

#define MAX_POINTS 11

/* The geometry of one call: along the kernel's axis (a "line": a row for 1 x r, a column for
 * r x 1) and across it. */
typedef struct {
    int vertical;             /* r x 1 */
    int in_len, out_len, pad; /* along a line */
    int tiles_line;           /* tiles per line */
    int lines;                /* output lines: oh for 1 x r, ow for r x 1 */
    int in_w, out_w, in_ld, out_ld;
    size_t in_step, out_step; /* floats from one pixel to the next along a line */
} geom;

/* Tile t: its line and the first output along it. For r x 1, neighbouring tiles are
 * neighbouring columns, so the transforms read and write pixels in memory order. */
static inline void tile_pos(const geom *q, int m, int t, int *line, int *o0) {
    if (q->vertical) {
        *line = t % q->lines;
        *o0 = (t / q->lines) * m;
    } else {
        *line = t / q->tiles_line;
        *o0 = (t % q->tiles_line) * m;
    }
}

static inline size_t line_offset(const geom *q, int line, int w, int ld) {
    return q->vertical ? (size_t)line * ld : (size_t)line * w * ld;
}

/* V[:, t, :] for tiles [t0, t1): n planes of (rows, cin), tile t0 as row 0. zero: cin zeros,
 * read for the padding. bt is a constant table and the loops over it are unrolled, so its zero
 * entries cost nothing. `paired`: the finite points come in pairs (a, -a), so row 2i+1 of B^T is
 * row 2i with the odd entries negated: both come from the even and odd half-sums of row 2i. */
static inline __attribute__((always_inline)) void input_transform(
    const geom *q, float *v, size_t plane, const float *in, int cin, const float *zero, int t0,
    int t1, const int m, const int n, const float *bt, const int paired) {
    for (int t = t0; t < t1; t++) {
        int line, o0;
        tile_pos(q, m, t, &line, &o0);
        const float *base = in + line_offset(q, line, q->in_w, q->in_ld);
        const float *d[MAX_POINTS];
        float *o[MAX_POINTS];
        for (int k = 0; k < n; k++) {
            int i = o0 - q->pad + k;
            d[k] = i < 0 || i >= q->in_len ? zero : base + (size_t)i * q->in_step;
            o[k] = v + (size_t)k * plane + (size_t)(t - t0) * cin;
        }
#pragma omp simd
        for (int ch = 0; ch < cin; ch++) {
            float x[MAX_POINTS];
#pragma GCC unroll 16
            for (int k = 0; k < n; k++) x[k] = d[k][ch];
#pragma GCC unroll 16
            for (int p = 0; p < n; p++) {
                if (paired && p < n - 1) {
                    if (p % 2) continue; /* written with row p - 1 */
                    float even = 0.0f, odd = 0.0f;
#pragma GCC unroll 16
                    for (int k = 0; k < n; k++) {
                        if (bt[p * n + k] == 0.0f) continue;
                        if (k % 2)
                            odd += bt[p * n + k] * x[k];
                        else
                            even += bt[p * n + k] * x[k];
                    }
                    o[p][ch] = even + odd;
                    o[p + 1][ch] = even - odd;
                } else {
                    float s = 0.0f;
#pragma GCC unroll 16
                    for (int k = 0; k < n; k++)
                        if (bt[p * n + k] != 0.0f) s += bt[p * n + k] * x[k];
                    o[p][ch] = s;
                }
            }
        }
    }
}

enum { OUT_BIAS_RELU, OUT_SET, OUT_ADD };

/* Y = A^T M of one tile into its m outputs o[j] (channels [0, cout)); x[p]: the tile's row of
 * M[p]. `mode` is a constant in each caller, so the loop has no branch. `paired`: column 2i+1 of
 * A^T is column 2i times (-1)^j, so y_j sums at[j][2i] times the sum (j even) or the difference
 * (j odd) of M[2i] and M[2i+1]. */
static inline __attribute__((always_inline)) void output_tile(float *const *o, const float *const *x,
                                                             const float *bias, int cout,
                                                             const int mode, const int m,
                                                             const int n, const float *at,
                                                             const int paired) {
#pragma omp simd
    for (int co = 0; co < cout; co++) {
        float xv[MAX_POINTS], sum[MAX_POINTS / 2], diff[MAX_POINTS / 2];
#pragma GCC unroll 16
        for (int k = 0; k < n; k++) xv[k] = x[k][co];
        if (paired) {
#pragma GCC unroll 16
            for (int i = 0; i < (n - 1) / 2; i++) {
                sum[i] = xv[2 * i] + xv[2 * i + 1];
                diff[i] = xv[2 * i] - xv[2 * i + 1];
            }
        }
#pragma GCC unroll 16
        for (int j = 0; j < m; j++) {
            float s = 0.0f;
            if (paired) {
#pragma GCC unroll 16
                for (int i = 0; i < (n - 1) / 2; i++)
                    if (at[j * n + 2 * i] != 0.0f) s += at[j * n + 2 * i] * (j % 2 ? diff[i] : sum[i]);
                if (at[j * n + n - 1] != 0.0f) s += at[j * n + n - 1] * xv[n - 1];
            } else {
#pragma GCC unroll 16
                for (int k = 0; k < n; k++)
                    if (at[j * n + k] != 0.0f) s += at[j * n + k] * xv[k];
            }
            if (mode == OUT_BIAS_RELU) {
                float b = s + bias[co];
                o[j][co] = b > 0.0f ? b : 0.0f;
            } else if (mode == OUT_SET) {
                o[j][co] = s;
            } else {
                o[j][co] += s;
            }
        }
    }
}

/* The outputs of tiles [t0, t1) from M (n planes of (rows, cout), tile t0 as row 0): bias +
 * ReLU, or (no bias) = or += into out. Outputs past the end of a line go to `spare`. */
static inline __attribute__((always_inline)) void output_transform(
    const geom *q, float *out, const float *bias, int accumulate, const float *mm, size_t plane,
    int cout, float *spare, int t0, int t1, const int m, const int n, const float *at,
    const int paired) {
    for (int t = t0; t < t1; t++) {
        int line, o0;
        tile_pos(q, m, t, &line, &o0);
        float *base = out + line_offset(q, line, q->out_w, q->out_ld);
        const float *x[MAX_POINTS];
        float *o[MAX_POINTS];
        for (int k = 0; k < n; k++) x[k] = mm + (size_t)k * plane + (size_t)(t - t0) * cout;
        for (int j = 0; j < m; j++)
            o[j] = o0 + j < q->out_len ? base + (size_t)(o0 + j) * q->out_step : spare;
        if (bias)
            output_tile(o, x, bias, cout, OUT_BIAS_RELU, m, n, at, paired);
        else if (!accumulate)
            output_tile(o, x, bias, cout, OUT_SET, m, n, at, paired);
        else
            output_tile(o, x, bias, cout, OUT_ADD, m, n, at, paired);
    }
}

typedef void (*input_fn)(const geom *, float *, size_t, const float *, int, const float *, int,
                         int);
typedef void (*output_fn)(const geom *, float *, const float *, int, const float *, size_t, int,
                          float *, int, int);

/* The transforms of F(M, R), each compiled for its tables (and cloned per ISA); PAIRED: its
 * finite points are (a, -a) pairs, infinity last. */
#define TRANSFORMS(M, R, PAIRED)                                                                  \
    DD_VECTORIZED static void input_##M##_##R(const geom *q, float *v, size_t plane,             \
                                              const float *in, int cin, const float *zero,        \
                                              int t0, int t1) {                                   \
        input_transform(q, v, plane, in, cin, zero, t0, t1, M, M + R - 1, &f##M##_##R##_bt[0][0], \
                        PAIRED);                                                                   \
    }                                                                                              \
    DD_VECTORIZED static void output_##M##_##R(const geom *q, float *out, const float *bias,     \
                                               int accumulate, const float *mm, size_t plane,     \
                                               int cout, float *spare, int t0, int t1) {           \
        output_transform(q, out, bias, accumulate, mm, plane, cout, spare, t0, t1, M, M + R - 1, \
                         &f##M##_##R##_at[0][0], PAIRED);                                         \
    }

TRANSFORMS(5, 7, 1)
TRANSFORMS(2, 3, 0)

typedef struct {
    int m, r;
    const double *g; /* (n, r) */
    input_fn input;
    output_fn output;
} variant;

#define VARIANT(M, R) {M, R, &f##M##_##R##_g[0][0], input_##M##_##R, output_##M##_##R}

static const variant variants[] = {VARIANT(5, 7), VARIANT(2, 3)};

static const variant *variant_of(int r) {
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
        if (variants[i].r == r) return &variants[i];
    return NULL;
}

int winograd1d_supports(int r) { return variant_of(r) != NULL; }

static int points(const variant *v) { return v->m + v->r - 1; }

size_t winograd1d_kernel_size(int r, int cin, int cout) {
    return (size_t)points(variant_of(r)) * cin * cout;
}

/* In 16 x 16 tiles of (cin, cout), all n points at once: the tile's kernel values are read once,
 * and the backward kernel's transposed rows are written 16 floats at a time. */
DD_VECTORIZED
void winograd1d_kernel_transform(float *u, const float *kernel, int r, int cin, int cout,
                                 int backward) {
    const variant *v = variant_of(r);
    const int n = points(v);
    const size_t plane = (size_t)cin * cout;
    enum { T = 16 };
    for (int i0 = 0; i0 < cin; i0 += T) {
        const int ni = cin - i0 < T ? cin - i0 : T;
        for (int o0 = 0; o0 < cout; o0 += T) {
            const int no = cout - o0 < T ? cout - o0 : T;
            double s[MAX_POINTS][T][T] = {{{0.0}}};
            for (int k = 0; k < r; k++) { /* taps in order: the same sums as one at a time */
                const int tap = backward ? r - 1 - k : k;
                for (int a = 0; a < ni; a++) {
                    const float *row = kernel + ((size_t)tap * cin + i0 + a) * cout + o0;
                    for (int p = 0; p < n; p++) {
                        const double gk = v->g[p * r + k];
                        for (int b = 0; b < no; b++) s[p][a][b] += gk * row[b];
                    }
                }
            }
            for (int p = 0; p < n; p++) {
                float *dst = u + (size_t)p * plane;
                if (backward) /* (cout, cin) */
                    for (int b = 0; b < no; b++)
                        for (int a = 0; a < ni; a++)
                            dst[(size_t)(o0 + b) * cin + i0 + a] = (float)s[p][a][b];
                else
                    for (int a = 0; a < ni; a++)
                        for (int b = 0; b < no; b++)
                            dst[(size_t)(i0 + a) * cout + o0 + b] = (float)s[p][a][b];
            }
        }
    }
}

/* At most this many tiles per chunk: V and M of a chunk (n x chunk x (cin + cout) floats) stay
 * near 2 MB, the L2 of a core here; a thread's range is cut into equal chunks below that. */
static int max_chunk(int n, int cin, int cout) {
    int chunk = 524288 / (n * (cin + cout));
    return chunk < 32 ? 32 : chunk;
}

/* Per thread: V and M of one chunk, a row of zeros (padding) and a spare output row; a multiple
 * of 64 bytes, so that every thread's buffers have the same alignment. */
static size_t thread_floats(int n, int cap, int cin, int cout) {
    return (((size_t)n * cap + 2) * ((size_t)cin + cout) + 15) & ~(size_t)15;
}

size_t winograd1d_scratch_size(int r, int cin, int cout, int threads) {
    const int n = points(variant_of(r));
    return (size_t)threads * thread_floats(n, max_chunk(n, cin, cout), cin, cout);
}

/* winograd1d_conv with chunks of at most `cap` tiles. */
static void conv_chunked(const variant *var, int cap, float *out, int out_ld, const float *bias,
                         int accumulate, const float *in, int in_ld, int h, int w, int vertical,
                         int pad, int oh, int ow, const float *u, int cin, int cout, float *scratch,
                         int threads) {
    const int m = var->m, n = points(var);
    geom q;
    q.vertical = vertical;
    q.in_len = vertical ? h : w;
    q.out_len = vertical ? oh : ow;
    q.pad = pad;
    q.tiles_line = (q.out_len + m - 1) / m;
    q.lines = vertical ? ow : oh;
    q.in_w = w;
    q.out_w = ow;
    q.in_ld = in_ld;
    q.out_ld = out_ld;
    q.in_step = vertical ? (size_t)w * in_ld : (size_t)in_ld;
    q.out_step = vertical ? (size_t)ow * out_ld : (size_t)out_ld;
    const int n_tiles = q.tiles_line * q.lines;
    const size_t v_plane = (size_t)cap * cin, m_plane = (size_t)cap * cout;
    const size_t per_thread = thread_floats(n, cap, cin, cout);
    threads = conv2d_gemm_threads(n_tiles, threads); /* no chunk of a handful of rows */
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int b = 0; b < threads; b++) {
        int t0 = (int)((long long)n_tiles * b / threads);
        int t1 = (int)((long long)n_tiles * (b + 1) / threads);
        float *v = scratch + (size_t)b * per_thread, *mm = v + n * v_plane;
        float *zero = mm + n * m_plane, *spare = zero + cin;
        memset(zero, 0, (size_t)cin * sizeof(float));
        int chunks = (t1 - t0 + cap - 1) / cap;
        for (int c = 0; c < chunks; c++) {
            int c0 = t0 + (int)((long long)(t1 - t0) * c / chunks);
            int c1 = t0 + (int)((long long)(t1 - t0) * (c + 1) / chunks);
            var->input(&q, v, v_plane, in, cin, zero, c0, c1);
            for (int k = 0; k < n; k++)
                gemm_bias_relu(c1 - c0, cout, cin, v + k * v_plane, cin, u + (size_t)k * cin * cout,
                               cout, mm + k * m_plane, cout, NULL);
            var->output(&q, out, bias, accumulate, mm, m_plane, cout, spare, c0, c1);
        }
    }
}

void winograd1d_conv(float *out, int out_ld, const float *bias, int accumulate, const float *in,
                     int in_ld, int h, int w, int vertical, int pad, int oh, int ow, const float *u,
                     int r, int cin, int cout, float *scratch, int threads) {
    const variant *var = variant_of(r);
    conv_chunked(var, max_chunk(points(var), cin, cout), out, out_ld, bias, accumulate, in, in_ld,
                 h, w, vertical, pad, oh, ow, u, cin, cout, scratch, threads);
}
