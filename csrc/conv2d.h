#ifndef DD_CONV2D_H
#define DD_CONV2D_H

#include <stddef.h>

#include "window.h"

/* Floats of column scratch conv2d_forward/backward need for this geometry (0 for a 1x1/1). */
size_t conv2d_col_size(const window *g, int cin);

void conv2d_forward(float *out, int out_ld, float *col, const float *in, const float *kernel,
                    const float *bias, const window *g, int cin, int cout);

void conv2d_backward(float *din, float *dout, int out_ld, float *col, const float *out,
                     const float *kernel, const window *g, int cin, int cout);

#endif
