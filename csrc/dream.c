#include "simd.h"
#include "dream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reduce.h"
#include "resize.h"

/* ceil(n / tile) without n + tile - 1, which overflows for a tile near INT_MAX */
int dream_max_tiles(int n, int tile) { return n / tile + (n % tile != 0); }

int dream_tile_bounds(int *start, int *end, int n, int tile, tile_policy policy) {
    int count = dream_max_tiles(n, tile);
    if (policy == TILES_TUTORIAL) {
        /* range(0, n, tile)[:-1], or [0] when that is empty; each tile clipped to the image */
        count = count > 1 ? count - 1 : 1;
        for (int i = 0; i < count; i++) {
            start[i] = i * tile;
            end[i] = start[i] + tile < n ? start[i] + tile : n;
        }
    } else {
        for (int i = 0; i < count; i++) {
            start[i] = (int)((long long)i * n / count);
            end[i] = (int)((long long)(i + 1) * n / count);
        }
    }
    return count;
}

/* splitmix64: small, fast, and the same numbers on every platform. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void dream_shifts_from_seed(int *shifts, int n_steps, int tile_size, uint64_t seed) {
    uint64_t state = seed;
    const uint64_t span = 2 * (uint64_t)tile_size;
    /* in 64 bits: the draw is up to 2 * tile_size - 1, which need not fit an int */
    for (int i = 0; i < 2 * n_steps; i++)
        shifts[i] = (int)((int64_t)(splitmix64(&state) % span) - tile_size);
}

static int wrap(long long i, int n) {
    long long r = i % n;
    return (int)(r < 0 ? r + n : r);
}

typedef struct {
    const inception_net *net;
    const dream_params *p;
    inception_workspace ws;
    float *tile, *tile_grad;  /* (tile_size, tile_size, 3) */
    int *ys, *ye, *xs, *xe;   /* tile bounds */
    dream_callback cb;
    void *ctx;
    dream_progress progress;
} dreamer;

/* Copy the rolled image's rectangle [y0, y1) x [x0, x1) into t: rolled[y][x] = img[y - dy][x - dx]. */
static void gather_tile(float *t, const float *img, int h, int w, int y0, int y1, int x0, int x1,
                        int dy, int dx) {
    for (int y = y0; y < y1; y++) {
        const float *row = img + (size_t)wrap((long long)y - dy, h) * w * 3;
        for (int x = x0; x < x1; x++, t += 3) memcpy(t, row + (size_t)wrap((long long)x - dx, w) * 3, 3 * sizeof(float));
    }
}

/* The tile's gradient back into the unrolled image gradient (tiles never overlap). */
static void scatter_tile(float *g, const float *t, int h, int w, int y0, int y1, int x0, int x1,
                         int dy, int dx) {
    for (int y = y0; y < y1; y++) {
        float *row = g + (size_t)wrap((long long)y - dy, h) * w * 3;
        for (int x = x0; x < x1; x++, t += 3) memcpy(row + (size_t)wrap((long long)x - dx, w) * 3, t, 3 * sizeof(float));
    }
}

/* One gradient-ascent step on img (h, w, 3), g as scratch. Returns 0, 1 (stop) or -1 (abort). */
DD_VECTORIZED
static dd_status dream_step(dreamer *d, float *img, float *g, int h, int w, int dy, int dx,
                            int *stop, dd_error *err) {
    const dream_params *p = d->p;
    int ny = dream_tile_bounds(d->ys, d->ye, h, p->tile_size, p->tiles);
    int nx = dream_tile_bounds(d->xs, d->xe, w, p->tile_size, p->tiles);
    int depth = 0;
    for (int b = 0; b < INCEPTION_N_BLOCKS; b++)
        if (p->layer_mask & (1u << b)) depth = b;
    memset(g, 0, (size_t)h * w * 3 * sizeof(float));
    double loss = 0.0;
    d->progress.n_tiles = nx * ny;
    d->progress.tile = 0;
    for (int i = 0; i < nx; i++) {
        for (int j = 0; j < ny; j++) {
            int y0 = d->ys[j], y1 = d->ye[j], x0 = d->xs[i], x1 = d->xe[i];
            dd_status status = inception_plan(d->net, &d->ws, y1 - y0, x1 - x0, depth, p->threads, err);
            if (status != DD_OK) return status;
            gather_tile(d->tile, img, h, w, y0, y1, x0, x1, dy, dx);
            inception_forward(d->net, &d->ws, d->tile);
            loss += inception_loss(d->net, &d->ws, p->layer_mask);
            inception_backward(d->net, &d->ws, p->layer_mask, d->tile_grad);
            scatter_tile(g, d->tile_grad, h, w, y0, y1, x0, x1, dy, dx);
            d->progress.tile++;
            if (d->progress.tile == d->progress.n_tiles) break; /* reported after the update */
            int r = d->cb ? d->cb(d->ctx, &d->progress) : 0;
            if (r < 0) return DD_ERR_INTERRUPTED;
            if (r > 0) {
                *stop = 1;
                return DD_OK;
            }
        }
    }
    /* g /= std(g) + 1e-8 (population std over every element), then ascend and clip */
    size_t n = (size_t)h * w * 3;
    double mean = reduce_sum(g, n, p->threads) / (double)n;
    double sq = reduce_sum_sq_dev(g, n, mean, p->threads);
    const float denom = (float)sqrt(sq / (double)n) + 1e-8f;
    /* NaN survives the clip below, so a non-finite gradient must stop the dream here */
    if (!isfinite(loss) || !isfinite(denom))
        return dd_fail(err, DD_ERR_VALUE,
                       "the loss or gradient is not finite (NaN or Inf) at a %dx%d step: pixel "
                       "values far outside [-1, 1] or non-finite weights overflow float32", h, w);
#pragma omp parallel for num_threads(p->threads) schedule(static)
    for (size_t k = 0; k < n; k++) {
        float v = img[k] + (g[k] / denom) * p->step_size;
        img[k] = v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);
    }
    d->progress.loss = loss;
    return DD_OK;
}

dd_status dream_octaves(const inception_net *net, const dream_params *p, const float *img, int h,
                        int w, const int *sizes, int n_octaves, float *out, dream_callback cb,
                        void *ctx, dd_error *err) {
    dreamer d = {0};
    d.net = net;
    d.p = p;
    d.cb = cb;
    d.ctx = ctx;
    d.progress.n_octaves = n_octaves;
    d.progress.steps = p->steps;
    dd_status status = DD_OK;
    int max_side = h > w ? h : w;
    for (int o = 0; o < n_octaves; o++) {
        if (sizes[2 * o] > max_side) max_side = sizes[2 * o];
        if (sizes[2 * o + 1] > max_side) max_side = sizes[2 * o + 1];
    }
    /* tiles are clipped to the image: never larger than its largest side */
    size_t tile_side = (size_t)(p->tile_size < max_side ? p->tile_size : max_side);
    size_t tile_px = tile_side * tile_side;
    int max_tiles = dream_max_tiles(max_side, p->tile_size);
    d.tile = malloc(tile_px * 3 * sizeof(float));
    d.tile_grad = malloc(tile_px * 3 * sizeof(float));
    d.ys = malloc(4 * (size_t)max_tiles * sizeof(int));
    int *shifts = NULL;
    if (!p->shifts) shifts = malloc(2 * (size_t)p->steps * n_octaves * sizeof(int));
    float *cur = NULL, *g = NULL;
    if (!d.tile || !d.tile_grad || !d.ys || (!p->shifts && !shifts)) {
        status = dd_fail(err, DD_ERR_NOMEM, "out of memory for a dream's tile buffers");
        goto done;
    }
    d.ye = d.ys + max_tiles;
    d.xs = d.ye + max_tiles;
    d.xe = d.xs + max_tiles;
    if (shifts) dream_shifts_from_seed(shifts, p->steps * n_octaves, p->tile_size, p->seed);
    const int *shift = p->shifts ? p->shifts : shifts;

    const float *src = img;
    int sh = h, sw = w, stop = 0;
    for (int o = 0; o < n_octaves && !stop; o++) {
        int oh = sizes[2 * o], ow = sizes[2 * o + 1];
        size_t n = (size_t)oh * ow * 3;
        /* at most two images and one gradient alive at once: the old gradient goes first, the
         * old image once it is resized */
        free(g);
        g = NULL;
        float *next = o == n_octaves - 1 ? out : malloc(n * sizeof(float));
        if (!next || resize_bilinear(next, oh, ow, src, sh, sw, 3) != 0) {
            if (next != out) free(next);
            status = dd_fail(err, DD_ERR_NOMEM, "out of memory resizing to %dx%d", oh, ow);
            goto done;
        }
        free(cur);
        cur = next == out ? NULL : next;
        g = malloc(n * sizeof(float));
        if (!g) {
            status = dd_fail(err, DD_ERR_NOMEM, "out of memory for a %dx%d gradient", oh, ow);
            goto done;
        }
        d.progress.octave = o;
        d.progress.img = next;
        d.progress.h = oh;
        d.progress.w = ow;
        for (int s = 0; s < p->steps && !stop; s++) {
            const int *sft = shift + 2 * ((size_t)o * p->steps + s);
            d.progress.step = s;
            status = dream_step(&d, next, g, oh, ow, sft[0], sft[1], &stop, err);
            if (status != DD_OK) goto done;
            if (stop) break;
            d.progress.step = s + 1;
            d.progress.tile = d.progress.n_tiles;
            int r = cb ? cb(ctx, &d.progress) : 0;
            if (r < 0) {
                status = DD_ERR_INTERRUPTED;
                goto done;
            }
            stop = r > 0;
        }
        src = next;
        sh = oh;
        sw = ow;
    }
    if (stop && src != out) {
        /* stopped early: hand back the image so far at the last octave's size */
        int oh = sizes[2 * (n_octaves - 1)], ow = sizes[2 * (n_octaves - 1) + 1];
        if (resize_bilinear(out, oh, ow, src, sh, sw, 3) != 0)
            status = dd_fail(err, DD_ERR_NOMEM, "out of memory resizing to %dx%d", oh, ow);
    }
done:
    free(cur);
    free(g);
    free(shifts);
    free(d.tile);
    free(d.tile_grad);
    free(d.ys);
    inception_workspace_free(&d.ws);
    return status;
}
