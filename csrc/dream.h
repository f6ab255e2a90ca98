/* DeepDream over InceptionV3, as the TensorFlow tutorial does it: per step a random roll, tiles
 * with their own mean loss, gradients summed and rolled back, g /= std(g) + 1e-8,
 * img += g * step_size, clip to [-1, 1]; octaves of bilinear resizes between runs of steps. */
#ifndef DD_DREAM_H
#define DD_DREAM_H

#include <stdint.h>

#include "inception.h"
#include "status.h"

typedef enum {
    TILES_TUTORIAL = 0, /* origins range(0, n, tile)[:-1] or [0]: the tutorial, exactly */
    TILES_COVER = 1,    /* ceil(n / tile) near-equal tiles covering every pixel */
} tile_policy;

typedef struct {
    unsigned layer_mask; /* bit b = mixed{b} in the loss */
    int steps;           /* per octave */
    float step_size;
    int tile_size;
    tile_policy tiles;
    const int *shifts;   /* (dy, dx) for every step of every octave in order, or NULL: from seed */
    uint64_t seed;
    int threads;         /* >= 1 */
} dream_params;

typedef struct {
    int octave, n_octaves;
    int step, steps;     /* steps done in this octave (step == 0 .. steps) */
    int tile, n_tiles;   /* tiles done in the current step */
    double loss;         /* the step's loss (sum of tile losses) once tile == n_tiles */
    const float *img;    /* the current image (h, w, 3) */
    int h, w;
} dream_progress;

/* Called after every tile; returns 0 to go on, 1 to stop early (the result is the image so
 * far), -1 to abort (a Python exception is set). */
typedef int (*dream_callback)(void *ctx, const dream_progress *p);

/* Tiles along one axis of length n: starts/ends get at most dream_max_tiles(n, tile) entries. */
int dream_max_tiles(int n, int tile);
int dream_tile_bounds(int *start, int *end, int n, int tile, tile_policy policy);

/* One shift per step from the seeded generator: both in [-tile_size, tile_size). */
void dream_shifts_from_seed(int *shifts, int n_steps, int tile_size, uint64_t seed);

/* img (h, w, 3) in [-1, 1]; sizes: (h, w) of each octave; out: (sizes[last]) x 3, the image at
 * the last octave's size. Any resize from h, w to the first octave's size happens first. */
dd_status dream_octaves(const inception_net *net, const dream_params *p, const float *img, int h,
                        int w, const int *sizes, int n_octaves, float *out, dream_callback cb,
                        void *ctx, dd_error *err);

#endif
