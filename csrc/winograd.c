/* Winograd F(2x2, 3x3) (Lavin & Gray, 2015), NHWC:
 *   U = G g G^T per (cin, cout); V = B^T d B per 4x4 input tile and channel;
 *   M[xi] = V[xi] U[xi] as 16 GEMMs over all tiles; Y = A^T M A per 2x2 output tile.
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * Threads take contiguous ranges of tiles and run single-threaded sgemms on their rows. */
#include "simd.h"
#include "winograd.h"

#include <string.h>

#include "blas.h"

size_t winograd_kernel_size(int cin, int cout) { return (size_t)16 * cin * cout; }

void winograd_kernel_transform(float *u, const float *kernel, int cin, int cout, int backward) {
    const int rows = backward ? cout : cin, cols = backward ? cin : cout;
    for (int i = 0; i < cin; i++) {
        for (int o = 0; o < cout; o++) {
            float g[3][3], t[4][3];
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    int sy = backward ? 2 - ky : ky, sx = backward ? 2 - kx : kx;
                    g[ky][kx] = kernel[((size_t)(sy * 3 + sx) * cin + i) * cout + o];
                }
            for (int k = 0; k < 3; k++) { /* t = G g */
                t[0][k] = g[0][k];
                t[1][k] = 0.5f * (g[0][k] + g[1][k] + g[2][k]);
                t[2][k] = 0.5f * (g[0][k] - g[1][k] + g[2][k]);
                t[3][k] = g[2][k];
            }
            size_t at = backward ? (size_t)o * cols + i : (size_t)i * cols + o;
            for (int r = 0; r < 4; r++) { /* u = t G^T */
                float v[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]),
                              0.5f * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
                for (int c = 0; c < 4; c++) u[(size_t)(r * 4 + c) * rows * cols + at] = v[c];
            }
        }
    }
}

static int tiles_of(int n) { return (n + 1) / 2; }

/* Tiles per chunk: V and M of a chunk (16 x chunk x (cin + cout) floats) stay near 1 MB, so the
 * transforms and the GEMMs work in cache, but GEMMs keep at least 64 rows. */
static int chunk_tiles(int cin, int cout) {
    int chunk = 262144 / (16 * (cin + cout));
    return chunk < 64 ? 64 : chunk;
}

/* Per thread: V and M of one chunk, a row of zeros (padding) and a spare output row. */
size_t winograd_scratch_size(int oh, int ow, int cin, int cout, int threads) {
    (void)oh;
    (void)ow;
    return (size_t)threads * ((size_t)16 * chunk_tiles(cin, cout) + 2) * ((size_t)cin + cout);
}

/* V[:, t, :] for tiles [t0, t1): v has 16 planes of (n_tiles, cin); zero: cin zeros (padding). */
DD_VECTORIZED
static void input_transform(float *v, size_t plane, const float *in, int in_ld, int h, int w,
                            int pad_top, int pad_left, int tiles_x, int cin, const float *zero,
                            int t0, int t1) { /* v holds tiles t0.. as rows 0.. */
    for (int t = t0; t < t1; t++) {
        int y0 = (t / tiles_x) * 2 - pad_top, x0 = (t % tiles_x) * 2 - pad_left;
        const float *d[16];
        float *o[16];
        for (int k = 0; k < 16; k++) {
            int iy = y0 + k / 4, ix = x0 + k % 4;
            d[k] = (iy < 0 || iy >= h || ix < 0 || ix >= w) ? zero : in + ((size_t)iy * w + ix) * in_ld;
            o[k] = v + (size_t)k * plane + (size_t)(t - t0) * cin;
        }
#pragma omp simd
        for (int ch = 0; ch < cin; ch++) {
            float s[4][4]; /* s = B^T x, column by column */
            for (int c = 0; c < 4; c++) {
                s[0][c] = d[c][ch] - d[8 + c][ch];
                s[1][c] = d[4 + c][ch] + d[8 + c][ch];
                s[2][c] = d[8 + c][ch] - d[4 + c][ch];
                s[3][c] = d[4 + c][ch] - d[12 + c][ch];
            }
            for (int r = 0; r < 4; r++) { /* V = s B */
                o[r * 4 + 0][ch] = s[r][0] - s[r][2];
                o[r * 4 + 1][ch] = s[r][1] + s[r][2];
                o[r * 4 + 2][ch] = s[r][2] - s[r][1];
                o[r * 4 + 3][ch] = s[r][1] - s[r][3];
            }
        }
    }
}

/* Y = A^T M A for tiles [t0, t1), then bias + ReLU into out, or (no bias) = or += into out. */
DD_VECTORIZED
static void output_transform(float *out, int out_ld, const float *bias, int accumulate, const float *m,
                             size_t plane, int oh, int ow, int tiles_x, int cout, float *spare, int t0,
                             int t1) { /* m holds tiles t0.. as rows 0.. */
    for (int t = t0; t < t1; t++) {
        int oy = (t / tiles_x) * 2, ox = (t % tiles_x) * 2;
        const float *x[16];
        float *o[4];
        for (int k = 0; k < 16; k++) x[k] = m + (size_t)k * plane + (size_t)(t - t0) * cout;
        for (int k = 0; k < 4; k++) { /* outputs past the edge go to a spare row */
            int r = k / 2, c = k % 2;
            o[k] = (oy + r < oh && ox + c < ow) ? out + ((size_t)(oy + r) * ow + ox + c) * out_ld : spare;
        }
#pragma omp simd
        for (int co = 0; co < cout; co++) {
            float s0[4], s1[4], y[4];
            for (int c = 0; c < 4; c++) { /* s = A^T x */
                s0[c] = x[c][co] + x[4 + c][co] + x[8 + c][co];
                s1[c] = x[4 + c][co] - x[8 + c][co] - x[12 + c][co];
            }
            y[0] = s0[0] + s0[1] + s0[2]; /* y = s A */
            y[1] = s0[1] - s0[2] - s0[3];
            y[2] = s1[0] + s1[1] + s1[2];
            y[3] = s1[1] - s1[2] - s1[3];
            for (int k = 0; k < 4; k++) { /* the flags are loop-invariant: the compiler unswitches */
                if (bias) {
                    float v = y[k] + bias[co];
                    o[k][co] = v > 0.0f ? v : 0.0f;
                } else {
                    o[k][co] = accumulate ? o[k][co] + y[k] : y[k];
                }
            }
        }
    }
}

DD_VECTORIZED
void winograd_conv3x3(float *out, int out_ld, const float *bias, int accumulate, const float *in,
                      int in_ld, int h, int w, int pad_top, int pad_left, int oh, int ow, const float *u,
                      int cin, int cout, float *scratch, int threads) {
    const int tiles_x = tiles_of(ow), n_tiles = tiles_of(oh) * tiles_x;
    const int chunk = chunk_tiles(cin, cout);
    const size_t v_plane = (size_t)chunk * cin, m_plane = (size_t)chunk * cout;
    const size_t per_thread = ((size_t)16 * chunk + 2) * ((size_t)cin + cout);
    if (threads > n_tiles) threads = n_tiles;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int b = 0; b < threads; b++) {
        int t0 = (int)((long long)n_tiles * b / threads), t1 = (int)((long long)n_tiles * (b + 1) / threads);
        float *v = scratch + (size_t)b * per_thread, *m = v + 16 * v_plane;
        float *zero = m + 16 * m_plane, *spare = zero + cin;
        memset(zero, 0, (size_t)cin * sizeof(float));
        for (int c0 = t0; c0 < t1; c0 += chunk) {
            int c1 = c0 + chunk < t1 ? c0 + chunk : t1;
            input_transform(v, v_plane, in, in_ld, h, w, pad_top, pad_left, tiles_x, cin, zero, c0, c1);
            for (int k = 0; k < 16; k++)
                blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c1 - c0, cout, cin, 1.0f,
                           v + k * v_plane, cin, u + (size_t)k * cin * cout, cout, 0.0f, m + k * m_plane,
                           cout);
            output_transform(out, out_ld, bias, accumulate, m, m_plane, oh, ow, tiles_x, cout, spare,
                             c0, c1);
        }
    }
}
