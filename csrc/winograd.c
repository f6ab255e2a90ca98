/* Winograd convolution (Lavin & Gray, 2015), NHWC, 4x4 output tiles:
 *   F(4x4, 3x3) over 6x6 tiles, points 0, +-1, +-2, inf (36 multiplies per 16 outputs, not 144);
 *   F(4x4, 5x5) over 8x8 tiles, points 0, +-1, +-2, +-1/2, inf (64 per 16 outputs, not 400).
 *   V = B^T d B per input tile and channel; U = G g G^T per (cin, cout), computed in double;
 *   M[xi] = V[xi] U[xi] as one GEMM per tile point xi over a chunk of tiles; Y = A^T M A.
 * 6x6:  B^T = [4  0 -5  0 1 0]   G3 = [ 1/4     0    0]   A^T = [1 1  1 1  1 0]
 *             [0 -4 -4  1 1 0]        [-1/6  -1/6 -1/6]         [0 1 -1 2 -2 0]
 *             [0  4 -4 -1 1 0]        [-1/6   1/6 -1/6]         [0 1  1 4  4 0]
 *             [0 -2 -1  2 1 0]        [1/24  1/12  1/6]         [0 1 -1 8 -8 1]
 *             [0  2 -1 -2 1 0]        [1/24 -1/12  1/6]
 *             [0  4  0 -5 0 1]        [   0     0    1]
 * 8x8:  B^T = [1    0 -21/4     0  21/4     0 -1 0]   G5 = [    1      0     0     0     0]
 *             [0    1     1 -17/4 -17/4     1  1 0]        [ -2/9   -2/9  -2/9  -2/9  -2/9]
 *             [0   -1     1  17/4 -17/4    -1  1 0]        [ -2/9    2/9  -2/9   2/9  -2/9]
 *             [0  1/2   1/4  -5/2  -5/4     2  1 0]        [ 1/90   1/45  2/45  4/45  8/45]
 *             [0 -1/2   1/4   5/2  -5/4    -2  1 0]        [ 1/90  -1/45  2/45 -4/45  8/45]
 *             [0    2     4  -5/2    -5   1/2  1 0]        [32/45  16/45  8/45  4/45  2/45]
 *             [0   -2     4   5/2    -5  -1/2  1 0]        [32/45 -16/45  8/45 -4/45  2/45]
 *             [0   -1     0  21/4     0 -21/4  0 1]        [    0      0     0     0     1]
 *       A^T = [1 1  1 1  1   1    1 0; 0 1 -1 2 -2 1/2 -1/2 0; 0 1 1 4 4 1/4 1/4 0;
 *              0 1 -1 8 -8 1/8 -1/8 1]
 * 5x5 kernels used 6x6 tiles too (F(2x2, 5x5), 36 multiplies per 4 outputs): the 8x8 tiles
 * measured 30-40% faster for them with about twice the rounding (~4e-6 of the largest output at
 * 192 channels). For 3x3 kernels, 8x8 tiles (F(6x6, 3x3)) measured ~10% slower in the forward
 * pass: their transforms cost more than the 21% of multiplies they save.
 * The tiles are cut into chunks at fixed places (independent of the thread count); threads take
 * whole chunks as they come free, or, when there are fewer chunks than threads, share each
 * chunk's GEMMs. Either way every output comes from the same GEMMs (same sizes, same data) and
 * the same transforms, so the results are the same for any number of threads. */
#include "simd.h"
#include "winograd.h"

#include <stdatomic.h>
#include <string.h>

#include "gemm.h"
#include "window.h"

#define M_OUT 4      /* output tile side */
#define ALPHA_MAX 8  /* input tile side: 6 for 3x3 kernels, 8 for 5x5 */

static int tile_side(int k) { return k + M_OUT - 1; }

/* The transforms' small loops and helpers are unrolled and inlined into the loop over channels,
 * which the compiler then vectorises. */
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")
#if defined(__GNUC__) && !defined(__clang__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

static const double G3[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};
static const double G5[8][5] = {{1, 0, 0, 0, 0},
                                {-2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9},
                                {-2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9},
                                {1.0 / 90, 1.0 / 45, 2.0 / 45, 4.0 / 45, 8.0 / 45},
                                {1.0 / 90, -1.0 / 45, 2.0 / 45, -4.0 / 45, 8.0 / 45},
                                {32.0 / 45, 16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45},
                                {32.0 / 45, -16.0 / 45, 8.0 / 45, -4.0 / 45, 2.0 / 45},
                                {0, 0, 0, 0, 1}};

int winograd_supports(int k) { return k == 3 || k == 5; }

size_t winograd_kernel_size(int k, int cin, int cout) {
    return (size_t)tile_side(k) * tile_side(k) * cin * cout;
}

void winograd_kernel_transform(float *u, const float *kernel, int k, int cin, int cout, int backward) {
    /* k is 3 or 5 (winograd_supports) */
    const int rows = backward ? cout : cin, cols = backward ? cin : cout, alpha = tile_side(k);
    const double *gm = k == 3 ? &G3[0][0] : &G5[0][0]; /* (alpha, k) */
    for (int i = 0; i < cin; i++) {
        for (int o = 0; o < cout; o++) {
            double g[5][5], t[ALPHA_MAX][5];
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int sy = backward ? k - 1 - ky : ky, sx = backward ? k - 1 - kx : kx;
                    g[ky][kx] = kernel[((size_t)(sy * k + sx) * cin + i) * cout + o];
                }
            for (int r = 0; r < alpha; r++) /* t = G g */
                for (int c = 0; c < k; c++) {
                    double s = 0.0;
                    for (int j = 0; j < k; j++) s += gm[r * k + j] * g[j][c];
                    t[r][c] = s;
                }
            size_t at = backward ? (size_t)o * cols + i : (size_t)i * cols + o;
            for (int r = 0; r < alpha; r++) /* u = t G^T */
                for (int c = 0; c < alpha; c++) {
                    double s = 0.0;
                    for (int j = 0; j < k; j++) s += t[r][j] * gm[c * k + j];
                    u[(size_t)(r * alpha + c) * rows * cols + at] = (float)s;
                }
        }
    }
}

/* Tiles per chunk: V and M of a chunk (nxi x chunk x (cin + cout) floats) stay near 1 MB, so the
 * transforms and the GEMMs work in cache, but GEMMs keep at least 64 rows. */
static int chunk_tiles(int nxi, int cin, int cout) {
    int chunk = 262144 / (nxi * (cin + cout));
    return chunk < 64 ? 64 : chunk;
}

/* Per thread: V and M of one chunk, and a tile for the edges (nxi x cin, or 16 x cout). */
static size_t per_thread(int alpha, int cin, int cout) {
    const int nxi = alpha * alpha, chunk = chunk_tiles(nxi, cin, cout);
    return (size_t)nxi * chunk * ((size_t)cin + cout) +
           (size_t)nxi * ((size_t)cin + cout);
}

size_t winograd_scratch_size(int k, int cin, int cout, int threads) {
    return (size_t)threads * per_thread(tile_side(k), cin, cout);
}

/* y (6) = B^T x (6) of the 6x6 tiles; the rows of B^T share their sums. */
INLINE void apply_bt6(float *y, const float *x) {
    float a = x[4] - 4.0f * x[2], b = x[3] - 4.0f * x[1], p = x[4] - x[2], q = 2.0f * (x[3] - x[1]);
    y[0] = (4.0f * x[0] - 5.0f * x[2]) + x[4];
    y[1] = a + b;
    y[2] = a - b;
    y[3] = p + q;
    y[4] = p - q;
    y[5] = (4.0f * x[1] - 5.0f * x[3]) + x[5];
}

/* y (8) = B^T x (8) of the 8x8 tiles; the rows of B^T share their sums in pairs. */
INLINE void apply_bt8(float *y, const float *x) {
    y[0] = (x[0] - x[6]) + 5.25f * (x[4] - x[2]);
    y[7] = (x[7] - x[1]) + 5.25f * (x[3] - x[5]);
    float p = (x[2] + x[6]) - 4.25f * x[4], q = (x[1] + x[5]) - 4.25f * x[3];
    y[1] = p + q;
    y[2] = p - q;
    p = (x[6] + 0.25f * x[2]) - 1.25f * x[4];
    q = (0.5f * x[1] - 2.5f * x[3]) + 2.0f * x[5];
    y[3] = p + q;
    y[4] = p - q;
    p = x[6] + 4.0f * (x[2] - 1.25f * x[4]);
    q = (2.0f * x[1] - 2.5f * x[3]) + 0.5f * x[5];
    y[5] = p + q;
    y[6] = p - q;
}

INLINE void apply_bt(float *y, const float *x, const int alpha) {
    if (alpha == 6) apply_bt6(y, x);
    else apply_bt8(y, x);
}

/* v[k * v_ld + ch] (k = alpha y + x) <- (B^T d B)[y][x] of one tile of channels, d[y][x][ch] at
 * d[y * rs + x * cs + ch]. alpha (6 or 8) is a constant where this is inlined. */
INLINE void input_tile(float *restrict v, size_t v_ld, const float *restrict d, size_t rs, size_t cs,
                       int cin, const int alpha) {
    IVDEP for (int ch = 0; ch < cin; ch++) {
        float s[ALPHA_MAX][ALPHA_MAX], x[ALPHA_MAX], y[ALPHA_MAX];
        UNROLL for (int c = 0; c < alpha; c++) { /* s = B^T d, column by column */
            UNROLL for (int j = 0; j < alpha; j++) x[j] = d[j * rs + c * cs + ch];
            apply_bt(y, x, alpha);
            UNROLL for (int j = 0; j < alpha; j++) s[j][c] = y[j];
        }
        UNROLL for (int r = 0; r < alpha; r++) { /* V = s B */
            apply_bt(y, s[r], alpha);
            UNROLL for (int c = 0; c < alpha; c++) v[(r * alpha + c) * v_ld + ch] = y[c];
        }
    }
}

/* V for tiles [t0, t1) (an alpha x alpha input window every 4 pixels) into v, tile by tile:
 * a tile's alpha^2 rows of cin side by side (the GEMM of point xi reads rows xi, xi + alpha^2,
 * ...), so a tile's stores go to one stretch of memory, not to alpha^2 planes. Measured: the
 * transform alone (C harness, one thread, 3x3 shapes of the network) 0.70-0.89 of its time with
 * one plane per point, the GEMMs no slower with the rows strided (0.99-1.02); in the network
 * (benchmarks/ab.py, 512 step, 2 threads, 30 steps, bit-identical) 3x3/1 forward 0.939, backward
 * 0.929, 5x5 0.95-0.97, step 0.987. Tiles that overlap the padding are copied into stage
 * (alpha^2 x cin floats) with zeros first. */
DD_VECTORIZED
static void input_transform(float *v, const float *in, int in_ld, int h, int w,
                            int pad_top, int pad_left, int alpha, int tiles_x, int cin, float *stage,
                            int t0, int t1) {
    for (int t = t0; t < t1; t++) {
        int y0 = (t / tiles_x) * M_OUT - pad_top, x0 = (t % tiles_x) * M_OUT - pad_left;
        float *vt = v + (size_t)(t - t0) * alpha * alpha * cin;
        size_t rs, cs;
        const float *d = window_pixels(in, h, w, in_ld, cin, y0, x0, alpha, stage, &rs, &cs);
        if (alpha == 6) input_tile(vt, cin, d, rs, cs, cin, 6); /* each compiled with its size */
        else input_tile(vt, cin, d, rs, cs, cin, 8);
    }
}

/* y (4) = A^T x (alpha): the rows of A^T share their sums. */
INLINE void apply_at(float *y, const float *x, const int alpha) {
    float a = x[1] + x[2], b = x[1] - x[2], c = x[3] + x[4], d = x[3] - x[4];
    if (alpha == 6) {
        y[0] = x[0] + a + c;
        y[1] = b + 2.0f * d;
        y[2] = a + 4.0f * c;
        y[3] = (b + 8.0f * d) + x[5];
    } else {
        float e = x[5] + x[6], f = x[5] - x[6];
        y[0] = (x[0] + a) + (c + e);
        y[1] = b + (2.0f * d + 0.5f * f);
        y[2] = a + (4.0f * c + 0.25f * e);
        y[3] = (b + (8.0f * d + 0.125f * f)) + x[7];
    }
}

/* What an output tile does to the output: = Y, += Y, = relu(Y + bias), or = Y where the mask
 * (an array of the output's layout) is > 0 and 0 elsewhere. */
enum { SET, ADD, BIAS_RELU, SET_MASKED };

/* One 4x4 tile of Y = A^T M A, M[k][co] at x[k * x_ld + co], into o[r * rs + c * cs + co]
 * as `mode` says (mask read at the same offsets from mk). alpha and mode are constants where
 * this is inlined. */
INLINE void output_tile(float *restrict o, size_t rs, size_t cs, const float *restrict bias,
                        const float *restrict mk, const float *restrict x, size_t x_ld, int cout,
                        const int alpha, const int mode) {
    IVDEP for (int co = 0; co < cout; co++) {
        float s[M_OUT][ALPHA_MAX], col[ALPHA_MAX], y[M_OUT];
        UNROLL for (int c = 0; c < alpha; c++) { /* s = A^T x, column by column */
            UNROLL for (int j = 0; j < alpha; j++) col[j] = x[(j * alpha + c) * x_ld + co];
            apply_at(y, col, alpha);
            UNROLL for (int j = 0; j < M_OUT; j++) s[j][c] = y[j];
        }
        UNROLL for (int r = 0; r < M_OUT; r++) { /* y = s A */
            apply_at(y, s[r], alpha);
            UNROLL for (int c = 0; c < M_OUT; c++) {
                float *p = o + r * rs + c * cs + co;
                if (mode == BIAS_RELU) {
                    float val = y[c] + bias[co];
                    *p = val > 0.0f ? val : 0.0f;
                } else if (mode == ADD) {
                    *p += y[c];
                } else if (mode == SET) {
                    *p = y[c];
                } else {
                    *p = mk[r * rs + c * cs + co] > 0.0f ? y[c] : 0.0f;
                }
            }
        }
    }
}

/* Y for tiles [t0, t1) from rows 0.. of the alpha^2 planes of mm into out (output_tile; mask:
 * the layout of out, for SET_MASKED). Tiles that cross the bottom or right edge go
 * through stage (4 x 4 x cout floats) unmasked, and the mask applies as they are copied out. */
DD_VECTORIZED
static void output_transform(float *out, int out_ld, const float *bias, const float *mask, int mode,
                             const float *mm, size_t plane, int oh, int ow, int alpha, int tiles_x,
                             int cout, float *stage, int t0, int t1) {
    const size_t row = (size_t)cout * sizeof(float);
    const int m = M_OUT;
    for (int t = t0; t < t1; t++) {
        int oy = (t / tiles_x) * m, ox = (t % tiles_x) * m;
        const float *x = mm + (size_t)(t - t0) * cout;
        const size_t rs = (size_t)ow * out_ld, cs = out_ld; /* pixel strides in out */
        const size_t at = (size_t)oy * rs + (size_t)ox * cs;
        float *dst = out + at, *o = dst;
        const float *mk = mask ? mask + at : NULL;
        size_t o_rs = rs, o_cs = cs;
        int inside = oy + m <= oh && ox + m <= ow, tile_mode = mode;
        if (!inside) {
            o = stage;
            o_rs = (size_t)m * cout;
            o_cs = cout;
            tile_mode = mode == SET_MASKED ? SET : mode;
            for (int k = 0; mode == ADD && k < m * m; k++) /* what to add to; zeros past the edge */
                if (oy + k / m < oh && ox + k % m < ow)
                    memcpy(o + (size_t)k * cout, dst + (k / m) * rs + (k % m) * cs, row);
                else
                    memset(o + (size_t)k * cout, 0, row);
        }
        /* each case compiled with its constants */
#define OUTPUT_TILE(A, MODE) output_tile(o, o_rs, o_cs, bias, mk, x, plane, cout, A, MODE)
        if (alpha == 6 && tile_mode == BIAS_RELU) OUTPUT_TILE(6, BIAS_RELU);
        else if (alpha == 6 && tile_mode == ADD) OUTPUT_TILE(6, ADD);
        else if (alpha == 6 && tile_mode == SET) OUTPUT_TILE(6, SET);
        else if (alpha == 6) OUTPUT_TILE(6, SET_MASKED);
        else if (tile_mode == BIAS_RELU) OUTPUT_TILE(8, BIAS_RELU);
        else if (tile_mode == ADD) OUTPUT_TILE(8, ADD);
        else if (tile_mode == SET) OUTPUT_TILE(8, SET);
        else OUTPUT_TILE(8, SET_MASKED);
#undef OUTPUT_TILE
        for (int k = 0; !inside && k < m * m; k++) {
            if (oy + k / m >= oh || ox + k % m >= ow) continue;
            const size_t off = (k / m) * rs + (k % m) * cs;
            float *restrict d = dst + off;
            const float *restrict s = o + (size_t)k * cout;
            if (!mask) {
                memcpy(d, s, row);
                continue;
            }
            const float *restrict mr = mk + off;
            for (int co = 0; co < cout; co++) d[co] = mr[co] > 0.0f ? s[co] : 0.0f;
        }
    }
}

/* Tiles [c0, c1) of one chunk: input transform, the alpha^2 GEMMs (over gemm_threads threads),
 * output transform; v, mm and stage are the chunk's scratch. */
static void run_chunk(float *out, int out_ld, const float *bias, const float *mask, int mode,
                      const float *in, int in_ld, int h, int w, int pad_top, int pad_left, int oh,
                      int ow, int alpha, int tiles_x, const float *u, int cin, int cout, float *v,
                      float *mm, size_t m_plane, float *stage, int c0, int c1,
                      int gemm_threads) {
    input_transform(v, in, in_ld, h, w, pad_top, pad_left, alpha, tiles_x, cin, stage, c0,
                    c1);
#pragma omp parallel for num_threads(gemm_threads) schedule(static) if (gemm_threads > 1)
    for (int xi = 0; xi < alpha * alpha; xi++)
        gemm_bias_relu(c1 - c0, cout, cin, v + (size_t)xi * cin, alpha * alpha * cin,
                       u + (size_t)xi * cin * cout, cout, mm + xi * m_plane, cout, NULL);
    output_transform(out, out_ld, bias, mask, mode, mm, m_plane, oh, ow, alpha, tiles_x, cout, stage,
                     c0, c1);
}

void winograd_conv(float *out, int out_ld, const float *bias, const float *mask, int accumulate,
                   const float *in, int in_ld, int h, int w, int pad_top, int pad_left, int oh,
                   int ow, int k, const float *u, int cin, int cout, float *scratch, int threads) {
    const int alpha = tile_side(k), nxi = alpha * alpha;
    const int tiles_x = (ow + M_OUT - 1) / M_OUT, n_tiles = ((oh + M_OUT - 1) / M_OUT) * tiles_x;
    const int chunk = chunk_tiles(nxi, cin, cout), n_chunks = (n_tiles + chunk - 1) / chunk;
    /* M in planes, one per point (chunk x cout each). Laid out tile by tile like V (the GEMMs
     * writing rows alpha^2 x cout apart) the 3x3 forward passes took 1.080 of the time and the
     * step 1.049 (ab.py). With V tile by tile, moving the planes of M off the 1 KB grid (as V's
     * and M's were for 6x6 tiles, 0.95-0.98 then) no longer changed anything: 3x3/1 forward
     * 1.000, backward 0.994 (a null build moves them by 1.007 and 1.031). */
    const size_t v_size = (size_t)nxi * chunk * cin, m_plane = (size_t)chunk * cout;
    const int mode = bias ? BIAS_RELU : mask ? SET_MASKED : accumulate ? ADD : SET;
    if (threads > 1 && n_chunks < threads) {
        /* Few tiles (a small image, or mixed9-10): the threads share each chunk's GEMMs, which
         * are what costs (they read the whole transformed kernel); the same GEMMs as below. */
        float *v = scratch, *mm = v + v_size, *stage = mm + nxi * m_plane;
        for (int c0 = 0; c0 < n_tiles; c0 += chunk)
            run_chunk(out, out_ld, bias, mask, mode, in, in_ld, h, w, pad_top, pad_left, oh, ow, alpha,
                      tiles_x, u, cin, cout, v, mm, m_plane, stage, c0,
                      c0 + chunk < n_tiles ? c0 + chunk : n_tiles, threads);
        return;
    }
    if (threads > n_chunks) threads = n_chunks;
    atomic_int next = 0; /* chunks handed out one at a time: a thread slowed by the machine takes fewer */
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int b = 0; b < threads; b++) {
        float *v = scratch + (size_t)b * per_thread(alpha, cin, cout);
        float *mm = v + v_size, *stage = mm + nxi * m_plane;
        for (int c; (c = atomic_fetch_add(&next, 1)) < n_chunks;) {
            int c0 = c * chunk, c1 = c0 + chunk < n_tiles ? c0 + chunk : n_tiles;
            run_chunk(out, out_ld, bias, mask, mode, in, in_ld, h, w, pad_top, pad_left, oh, ow, alpha,
                      tiles_x, u, cin, cout, v, mm, m_plane, stage, c0, c1, 1);
        }
    }
}
