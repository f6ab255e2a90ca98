/* Winograd F(2x2, 3x3) (Lavin & Gray, 2015), NHWC:
 *   U = G g G^T per (cin, cout); V = B^T d B per 4x4 input tile and channel;
 *   M[xi] = V[xi] U[xi] as 16 GEMMs over all tiles; Y = A^T M A per 2x2 output tile.
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * Threads take contiguous ranges of tiles and run single-threaded sgemms on their rows. */
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

size_t winograd_scratch_size(int oh, int ow, int cin, int cout) {
    return (size_t)16 * tiles_of(oh) * tiles_of(ow) * ((size_t)cin + cout);
}

/* V[:, t, :] for tiles [t0, t1): v has 16 planes of (n_tiles, cin). */
static void input_transform(float *v, size_t plane, const float *in, int in_ld, int h, int w,
                            int pad_top, int pad_left, int tiles_x, int cin, int t0, int t1) {
    for (int t = t0; t < t1; t++) {
        int y0 = (t / tiles_x) * 2 - pad_top, x0 = (t % tiles_x) * 2 - pad_left;
        const float *d[4][4];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) {
                int iy = y0 + r, ix = x0 + c;
                d[r][c] = (iy < 0 || iy >= h || ix < 0 || ix >= w) ? NULL
                                                                   : in + ((size_t)iy * w + ix) * in_ld;
            }
        float *dst = v + (size_t)t * cin;
        for (int ch = 0; ch < cin; ch++) {
            float x[4][4], s[4][4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) x[r][c] = d[r][c] ? d[r][c][ch] : 0.0f;
            for (int c = 0; c < 4; c++) { /* s = B^T x */
                s[0][c] = x[0][c] - x[2][c];
                s[1][c] = x[1][c] + x[2][c];
                s[2][c] = x[2][c] - x[1][c];
                s[3][c] = x[1][c] - x[3][c];
            }
            for (int r = 0; r < 4; r++) { /* s B */
                dst[(size_t)(r * 4 + 0) * plane + ch] = s[r][0] - s[r][2];
                dst[(size_t)(r * 4 + 1) * plane + ch] = s[r][1] + s[r][2];
                dst[(size_t)(r * 4 + 2) * plane + ch] = s[r][2] - s[r][1];
                dst[(size_t)(r * 4 + 3) * plane + ch] = s[r][1] - s[r][3];
            }
        }
    }
}

/* Y = A^T M A for tiles [t0, t1), then bias + ReLU (or accumulate) into out. */
static void output_transform(float *out, int out_ld, const float *bias, const float *m, size_t plane,
                             int oh, int ow, int tiles_x, int cout, int t0, int t1) {
    for (int t = t0; t < t1; t++) {
        int oy = (t / tiles_x) * 2, ox = (t % tiles_x) * 2;
        int ny = oh - oy < 2 ? 1 : 2, nx = ow - ox < 2 ? 1 : 2;
        const float *src = m + (size_t)t * cout;
        float *o[2][2] = {{NULL, NULL}, {NULL, NULL}};
        for (int r = 0; r < ny; r++)
            for (int c = 0; c < nx; c++) o[r][c] = out + ((size_t)(oy + r) * ow + ox + c) * out_ld;
        for (int co = 0; co < cout; co++) {
            float x[4][4], s[2][4];
            for (int k = 0; k < 16; k++) x[k / 4][k % 4] = src[(size_t)k * plane + co];
            for (int c = 0; c < 4; c++) { /* s = A^T x */
                s[0][c] = x[0][c] + x[1][c] + x[2][c];
                s[1][c] = x[1][c] - x[2][c] - x[3][c];
            }
            for (int r = 0; r < ny; r++) {
                float y[2] = {s[r][0] + s[r][1] + s[r][2], s[r][1] - s[r][2] - s[r][3]};
                for (int c = 0; c < nx; c++) {
                    if (bias) {
                        float val = y[c] + bias[co];
                        o[r][c][co] = val > 0.0f ? val : 0.0f;
                    } else {
                        o[r][c][co] += y[c];
                    }
                }
            }
        }
    }
}

void winograd_conv3x3(float *out, int out_ld, const float *bias, const float *in, int in_ld, int h,
                      int w, int pad_top, int pad_left, int oh, int ow, const float *u, int cin,
                      int cout, float *scratch, int threads) {
    const int tiles_x = tiles_of(ow), n_tiles = tiles_of(oh) * tiles_x;
    float *v = scratch, *m = scratch + (size_t)16 * n_tiles * cin;
    const size_t v_plane = (size_t)n_tiles * cin, m_plane = (size_t)n_tiles * cout;
    if (threads > n_tiles) threads = n_tiles;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int b = 0; b < threads; b++) {
        int t0 = (int)((long long)n_tiles * b / threads), t1 = (int)((long long)n_tiles * (b + 1) / threads);
        if (t1 <= t0) continue;
        input_transform(v, v_plane, in, in_ld, h, w, pad_top, pad_left, tiles_x, cin, t0, t1);
        for (int k = 0; k < 16; k++)
            blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t1 - t0, cout, cin, 1.0f,
                       v + k * v_plane + (size_t)t0 * cin, cin, u + (size_t)k * cin * cout, cout, 0.0f,
                       m + k * m_plane + (size_t)t0 * cout, cout);
        output_transform(out, out_ld, bias, m, m_plane, oh, ow, tiles_x, cout, t0, t1);
    }
}
