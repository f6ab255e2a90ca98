#ifndef DD_AVGPOOL_H
#define DD_AVGPOOL_H

#include "window.h"

void avgpool_forward(float *out, const float *in, const window *g, int c, int threads);
void avgpool_backward(float *din, const float *dout, const window *g, int c, int accumulate,
                      int threads);

#endif
