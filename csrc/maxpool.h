#ifndef DD_MAXPOOL_H
#define DD_MAXPOOL_H

#include "window.h"

void maxpool_forward(float *out, int out_ld, int *argmax, const float *in, const window *g, int c,
                     int relu_input, int threads);
void maxpool_backward(float *din, const float *dout, int out_ld, const int *argmax, const window *g,
                      int c, int accumulate, int threads);

#endif
