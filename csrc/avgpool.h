#ifndef DD_AVGPOOL_H
#define DD_AVGPOOL_H

#include "window.h"

void avgpool_forward(float *out, int out_ld, const float *in, const window *g, int c,
                     const float *bias, int threads);
void avgpool_backward(float *din, float *dout, int out_ld, const float *out, const window *g, int c,
                      int accumulate, int threads);

#endif
