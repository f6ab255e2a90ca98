/* Winograd convolution over 6x6 tiles (Lavin & Gray, 2015), NHWC, points 0, +-1, +-2, inf:
 * F(4x4, 3x3) for 3x3 kernels (36 multiplies per 16 outputs instead of 144) and F(2x2, 5x5) for
 * 5x5 kernels (36 per 4 instead of 100). Both share the input transform:
 *   V = B^T d B per 6x6 input tile and channel; U = G g G^T per (cin, cout), computed in double;
 *   M[xi] = V[xi] U[xi] as 36 GEMMs over a chunk of tiles; Y = A^T M A per m x m output tile.
 *   B^T = [4  0 -5  0 1 0]   G3 = [ 1/4     0    0]   G5 = [ 1/4    0     0    0     0]
 *         [0 -4 -4  1 1 0]        [-1/6  -1/6 -1/6]        [-1/6 -1/6  -1/6 -1/6  -1/6]
 *         [0  4 -4 -1 1 0]        [-1/6   1/6 -1/6]        [-1/6  1/6  -1/6  1/6  -1/6]
 *         [0 -2 -1  2 1 0]        [1/24  1/12  1/6]        [1/24 1/12  1/6   1/3   2/3]
 *         [0  2 -1 -2 1 0]        [1/24 -1/12  1/6]        [1/24 -1/12 1/6  -1/3   2/3]
 *         [0  4  0 -5 0 1]        [   0     0    1]        [   0    0     0    0     1]
 *   A3^T = [1 1  1 1  1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 *   A5^T = [1 1  1 1  1 0; 0 1 -1 2 -2 1]
 * The tiles are cut into chunks at fixed places (independent of the thread count); threads take
 * whole chunks, or, when there are fewer chunks than threads, share each chunk's 36 GEMMs. Either
 * way every output comes from the same GEMMs (same sizes, same data) and the same transforms, so
 * the results are the same for any number of threads. */
#include "simd.h"
#include "winograd.h"

#include <string.h>

#include "blas.h"

#define ALPHA 6 /* tile side */
#define NXI (ALPHA * ALPHA)

/* The transforms' small loops and helpers are unrolled and inlined into the loop over channels,
 * which the compiler then vectorises. */
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 6")
#if defined(__GNUC__) && !defined(__clang__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

static const double G3[ALPHA][3] = {{1.0 / 4, 0, 0},
                                    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                    {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                    {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                    {0, 0, 1}};
static const double G5[ALPHA][5] = {{1.0 / 4, 0, 0, 0, 0},
                                    {-1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6},
                                    {-1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6},
                                    {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
                                    {1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3},
                                    {0, 0, 0, 0, 1}};

int winograd_supports(int k) { return k == 3 || k == 5; }

size_t winograd_kernel_size(int cin, int cout) { return (size_t)NXI * cin * cout; }

void winograd_kernel_transform(float *u, const float *kernel, int k, int cin, int cout, int backward) {
    /* k is 3 or 5 (winograd_supports) */
    const int rows = backward ? cout : cin, cols = backward ? cin : cout;
    const double *gm = k == 3 ? &G3[0][0] : &G5[0][0]; /* (ALPHA, k) */
    for (int i = 0; i < cin; i++) {
        for (int o = 0; o < cout; o++) {
            double g[5][5], t[ALPHA][5];
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int sy = backward ? k - 1 - ky : ky, sx = backward ? k - 1 - kx : kx;
                    g[ky][kx] = kernel[((size_t)(sy * k + sx) * cin + i) * cout + o];
                }
            for (int r = 0; r < ALPHA; r++) /* t = G g */
                for (int c = 0; c < k; c++) {
                    double s = 0.0;
                    for (int j = 0; j < k; j++) s += gm[r * k + j] * g[j][c];
                    t[r][c] = s;
                }
            size_t at = backward ? (size_t)o * cols + i : (size_t)i * cols + o;
            for (int r = 0; r < ALPHA; r++) /* u = t G^T */
                for (int c = 0; c < ALPHA; c++) {
                    double s = 0.0;
                    for (int j = 0; j < k; j++) s += t[r][j] * gm[c * k + j];
                    u[(size_t)(r * ALPHA + c) * rows * cols + at] = (float)s;
                }
        }
    }
}

/* Tiles per chunk: V and M of a chunk (36 x chunk x (cin + cout) floats) stay near 1 MB, so the
 * transforms and the GEMMs work in cache, but GEMMs keep at least 64 rows. */
static int chunk_tiles(int cin, int cout) {
    int chunk = 262144 / (NXI * (cin + cout));
    return chunk < 64 ? 64 : chunk;
}

/* Per thread: V and M of one chunk, and a tile for the edges (36 x cin, or up to 16 x cout). */
static size_t per_thread(int cin, int cout) {
    return (size_t)NXI * (chunk_tiles(cin, cout) + 1) * ((size_t)cin + cout);
}

size_t winograd_scratch_size(int cin, int cout, int threads) {
    return (size_t)threads * per_thread(cin, cout);
}

/* y (6) = B^T x (6); the rows of B^T share their sums. */
INLINE void apply_bt(float *y, const float *x) {
    float a = x[4] - 4.0f * x[2], b = x[3] - 4.0f * x[1], p = x[4] - x[2], q = 2.0f * (x[3] - x[1]);
    y[0] = (4.0f * x[0] - 5.0f * x[2]) + x[4];
    y[1] = a + b;
    y[2] = a - b;
    y[3] = p + q;
    y[4] = p - q;
    y[5] = (4.0f * x[1] - 5.0f * x[3]) + x[5];
}

/* v[k * v_ld + ch] (k = 6 y + x) <- (B^T d B)[y][x] of one tile of channels, d[y][x][ch] at
 * d[y * rs + x * cs + ch]. */
INLINE void input_tile(float *restrict v, size_t v_ld, const float *restrict d, size_t rs, size_t cs,
                       int cin) {
    IVDEP for (int ch = 0; ch < cin; ch++) {
        float s[ALPHA][ALPHA], x[ALPHA], y[ALPHA];
        UNROLL for (int c = 0; c < ALPHA; c++) { /* s = B^T d, column by column */
            UNROLL for (int j = 0; j < ALPHA; j++) x[j] = d[j * rs + c * cs + ch];
            apply_bt(y, x);
            UNROLL for (int j = 0; j < ALPHA; j++) s[j][c] = y[j];
        }
        UNROLL for (int r = 0; r < ALPHA; r++) { /* V = s B */
            apply_bt(y, s[r]);
            UNROLL for (int c = 0; c < ALPHA; c++) v[(r * ALPHA + c) * v_ld + ch] = y[c];
        }
    }
}

/* V for tiles [t0, t1) of side m (a 6x6 input window every m pixels) into rows 0.. of the 36
 * planes of v (plane floats apart, cin per row). Tiles that overlap the padding are copied into
 * stage (36 x cin floats) with zeros first. */
DD_VECTORIZED
static void input_transform(float *v, size_t plane, const float *in, int in_ld, int h, int w,
                            int pad_top, int pad_left, int m, int tiles_x, int cin, float *stage,
                            int t0, int t1) {
    for (int t = t0; t < t1; t++) {
        int y0 = (t / tiles_x) * m - pad_top, x0 = (t % tiles_x) * m - pad_left;
        float *vt = v + (size_t)(t - t0) * cin;
        if (y0 >= 0 && x0 >= 0 && y0 + ALPHA <= h && x0 + ALPHA <= w) {
            input_tile(vt, plane, in + ((size_t)y0 * w + x0) * in_ld, (size_t)w * in_ld, in_ld, cin);
            continue;
        }
        for (int k = 0; k < NXI; k++) {
            int iy = y0 + k / ALPHA, ix = x0 + k % ALPHA;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                memset(stage + (size_t)k * cin, 0, (size_t)cin * sizeof(float));
            else
                memcpy(stage + (size_t)k * cin, in + ((size_t)iy * w + ix) * in_ld,
                       (size_t)cin * sizeof(float));
        }
        input_tile(vt, plane, stage, (size_t)ALPHA * cin, cin, cin);
    }
}

/* y (m) = A^T x (6) for m = 4 (3x3 kernels) or 2 (5x5): the rows of A^T share their sums. */
INLINE void apply_at(float *y, const float *x, int m) {
    float a = x[1] + x[2], b = x[1] - x[2], c = x[3] + x[4], d = x[3] - x[4];
    y[0] = x[0] + a + c;
    if (m == 4) {
        y[1] = b + 2.0f * d;
        y[2] = a + 4.0f * c;
        y[3] = (b + 8.0f * d) + x[5];
    } else {
        y[1] = (b + 2.0f * d) + x[5];
    }
}

enum { SET, ADD, BIAS_RELU }; /* what an output tile does to the output */

/* One m x m tile of Y = A^T M A, M[k][co] at x[k * x_ld + co], into o[r * rs + c * cs + co]:
 * = Y, += Y, or = relu(Y + bias). m (4 or 2) and mode are constants where this is inlined. */
INLINE void output_tile(float *restrict o, size_t rs, size_t cs, const float *restrict bias,
                        const float *restrict x, size_t x_ld, int cout, const int m, const int mode) {
    IVDEP for (int co = 0; co < cout; co++) {
        float s[4][ALPHA], col[ALPHA], y[4];
        UNROLL for (int c = 0; c < ALPHA; c++) { /* s = A^T x, column by column */
            UNROLL for (int j = 0; j < ALPHA; j++) col[j] = x[(j * ALPHA + c) * x_ld + co];
            apply_at(y, col, m);
            UNROLL for (int j = 0; j < m; j++) s[j][c] = y[j];
        }
        UNROLL for (int r = 0; r < m; r++) { /* y = s A */
            apply_at(y, s[r], m);
            UNROLL for (int c = 0; c < m; c++) {
                float *p = o + r * rs + c * cs + co;
                if (mode == BIAS_RELU) {
                    float val = y[c] + bias[co];
                    *p = val > 0.0f ? val : 0.0f;
                } else if (mode == ADD) {
                    *p += y[c];
                } else {
                    *p = y[c];
                }
            }
        }
    }
}

/* Y for tiles [t0, t1) of side m from rows 0.. of the 36 planes of mm into out (output_tile).
 * Tiles that cross the bottom or right edge go through stage (m x m x cout floats). */
DD_VECTORIZED
static void output_transform(float *out, int out_ld, const float *bias, int mode, const float *mm,
                             size_t plane, int oh, int ow, int m, int tiles_x, int cout,
                             float *stage, int t0, int t1) {
    const size_t row = (size_t)cout * sizeof(float);
    for (int t = t0; t < t1; t++) {
        int oy = (t / tiles_x) * m, ox = (t % tiles_x) * m;
        const float *x = mm + (size_t)(t - t0) * cout;
        float *dst = out + ((size_t)oy * ow + ox) * out_ld, *o = dst;
        const size_t rs = (size_t)ow * out_ld, cs = out_ld; /* pixel strides in out */
        size_t o_rs = rs, o_cs = cs;
        int inside = oy + m <= oh && ox + m <= ow;
        if (!inside) {
            o = stage;
            o_rs = (size_t)m * cout;
            o_cs = cout;
            for (int k = 0; mode == ADD && k < m * m; k++) /* what to add to; zeros past the edge */
                if (oy + k / m < oh && ox + k % m < ow)
                    memcpy(o + (size_t)k * cout, dst + (k / m) * rs + (k % m) * cs, row);
                else
                    memset(o + (size_t)k * cout, 0, row);
        }
        /* each case compiled with its constants */
        if (m == 4 && mode == BIAS_RELU) output_tile(o, o_rs, o_cs, bias, x, plane, cout, 4, BIAS_RELU);
        else if (m == 4 && mode == ADD) output_tile(o, o_rs, o_cs, bias, x, plane, cout, 4, ADD);
        else if (m == 4) output_tile(o, o_rs, o_cs, bias, x, plane, cout, 4, SET);
        else if (mode == BIAS_RELU) output_tile(o, o_rs, o_cs, bias, x, plane, cout, 2, BIAS_RELU);
        else if (mode == ADD) output_tile(o, o_rs, o_cs, bias, x, plane, cout, 2, ADD);
        else output_tile(o, o_rs, o_cs, bias, x, plane, cout, 2, SET);
        for (int k = 0; !inside && k < m * m; k++)
            if (oy + k / m < oh && ox + k % m < ow)
                memcpy(dst + (k / m) * rs + (k % m) * cs, o + (size_t)k * cout, row);
    }
}

/* Tiles [c0, c1) of one chunk: input transform, the 36 GEMMs (over gemm_threads threads), output
 * transform; v, mm and stage are the chunk's scratch. */
static void run_chunk(float *out, int out_ld, const float *bias, int mode, const float *in, int in_ld,
                      int h, int w, int pad_top, int pad_left, int oh, int ow, int m, int tiles_x,
                      const float *u, int cin, int cout, float *v, size_t v_plane, float *mm,
                      size_t m_plane, float *stage, int c0, int c1, int gemm_threads) {
    input_transform(v, v_plane, in, in_ld, h, w, pad_top, pad_left, m, tiles_x, cin, stage, c0, c1);
#pragma omp parallel for num_threads(gemm_threads) schedule(static) if (gemm_threads > 1)
    for (int xi = 0; xi < NXI; xi++)
        blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c1 - c0, cout, cin, 1.0f, v + xi * v_plane,
                   cin, u + (size_t)xi * cin * cout, cout, 0.0f, mm + xi * m_plane, cout);
    output_transform(out, out_ld, bias, mode, mm, m_plane, oh, ow, m, tiles_x, cout, stage, c0, c1);
}

void winograd_conv(float *out, int out_ld, const float *bias, int accumulate, const float *in,
                   int in_ld, int h, int w, int pad_top, int pad_left, int oh, int ow, int k,
                   const float *u, int cin, int cout, float *scratch, int threads) {
    const int m = ALPHA + 1 - k; /* output tile side */
    const int tiles_x = (ow + m - 1) / m, n_tiles = ((oh + m - 1) / m) * tiles_x;
    const int chunk = chunk_tiles(cin, cout), n_chunks = (n_tiles + chunk - 1) / chunk;
    const size_t v_plane = (size_t)chunk * cin, m_plane = (size_t)chunk * cout;
    const int mode = bias ? BIAS_RELU : accumulate ? ADD : SET;
    if (threads > 1 && n_chunks < threads) {
        /* Few tiles (a small image, or mixed9-10): the threads share each chunk's 36 GEMMs, which
         * are what costs (they read the whole transformed kernel); the same GEMMs as below. */
        float *v = scratch, *mm = v + NXI * v_plane, *stage = mm + NXI * m_plane;
        for (int c0 = 0; c0 < n_tiles; c0 += chunk)
            run_chunk(out, out_ld, bias, mode, in, in_ld, h, w, pad_top, pad_left, oh, ow, m, tiles_x,
                      u, cin, cout, v, v_plane, mm, m_plane, stage, c0,
                      c0 + chunk < n_tiles ? c0 + chunk : n_tiles, threads);
        return;
    }
    if (threads > n_chunks) threads = n_chunks;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int b = 0; b < threads; b++) { /* thread b: chunks [n_chunks b / threads, ...) */
        float *v = scratch + (size_t)b * per_thread(cin, cout);
        float *mm = v + NXI * v_plane, *stage = mm + NXI * m_plane;
        int c_end = (int)((long long)n_chunks * (b + 1) / threads);
        for (int c = (int)((long long)n_chunks * b / threads); c < c_end; c++) {
            int c0 = c * chunk, c1 = c0 + chunk < n_tiles ? c0 + chunk : n_tiles;
            run_chunk(out, out_ld, bias, mode, in, in_ld, h, w, pad_top, pad_left, oh, ow, m, tiles_x,
                      u, cin, cout, v, v_plane, mm, m_plane, stage, c0, c1, 1);
        }
    }
}
