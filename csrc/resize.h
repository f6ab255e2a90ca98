#ifndef DD_RESIZE_H
#define DD_RESIZE_H

int resize_bilinear(float *out, int oh, int ow, const float *in, int h, int w, int c);

#endif
