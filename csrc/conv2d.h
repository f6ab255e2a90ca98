#ifndef DD_CONV2D_H
#define DD_CONV2D_H

#include <stddef.h>

#include "window.h"

/* Whether a kernel of this geometry runs by Winograd (3x3 or 5x5, stride 1). */
int conv2d_uses_winograd(const window *g);

/* r when a kernel of this shape is 1 x r or r x 1 with stride 1 and winograd1d.c has a transform
 * for r (its kernel is then transformed by winograd1d_kernel_transform), else 0. */
int conv2d_winograd1d_length(int kh, int kw, int stride);

/* Whether a kernel of this geometry runs by 1-D Winograd (winograd1d.c). */
int conv2d_uses_winograd1d(const window *g);

/* Whether a kernel of this geometry on cin channels runs by polyphase Winograd (polyphase.c: 3x3
 * stride 2, except thin inputs such as the RGB image); its kernel is then transformed by
 * polyphase_kernel_transform. */
int conv2d_uses_polyphase(const window *g, int cin);

/* Threads to split `rows` GEMM rows over so that results do not depend on the thread count. */
int conv2d_gemm_threads(int rows, int threads);

/* Floats of scratch conv2d_forward/backward need for this geometry (0 for a 1x1/1). */
size_t conv2d_scratch_size(const window *g, int cin, int cout, int threads);

/* wino / wino_back: the kernel transformed by winograd_kernel_transform (forward / backward)
 * when conv2d_uses_winograd(g), by winograd1d_kernel_transform when conv2d_uses_winograd1d(g),
 * by polyphase_kernel_transform when conv2d_uses_polyphase, else unused. */
void conv2d_forward(float *out, int out_ld, float *col, const float *in, const float *kernel,
                    const float *wino, const float *bias, const window *g, int cin, int cout,
                    int threads);

/* The gradient to the input (see conv2d.c for the arguments): dout_masked when the ReLU mask is
 * on dout already; din_mask (2-D Winograd only) to apply the input producer's ReLU mask to din. */
void conv2d_backward(float *din, float *dout, int out_ld, float *col, const float *out,
                     const float *kernel, const float *wino_back, const window *g, int cin, int cout,
                     int accumulate, int dout_masked, const float *din_mask, int threads);

/* A 1x1 stride-1 conv (as conv2d_forward/backward take them) among several that read the same
 * input. Forward: out = relu(in x kernel + bias) (or in x kernel, bias NULL). Backward: out holds
 * dout, masked in place by act > 0 (act: the forward output, or NULL when dout needs no mask). */
typedef struct {
    float *out;
    int out_ld;
    const float *act;
    const float *kernel; /* (cin, cout) */
    const float *bias;
    int cout;
} conv2d_pointwise;

/* The n convs over in (pixels, cin), block of rows by block of rows: each block of the input is
 * read from memory once for all of them. The same bits as n conv2d_forward calls. */
void conv2d_forward_pointwise(const conv2d_pointwise *convs, int n, const float *in, int pixels,
                              int cin, int threads);

/* din (pixels, cin) = (or +=, accumulate) the n convs' gradients, added in the order given, block
 * of rows by block of rows: din is written to memory once for all of them. The same bits as n
 * conv2d_backward calls in that order. */
void conv2d_backward_pointwise(float *din, int accumulate, const conv2d_pointwise *convs, int n,
                               int pixels, int cin, int threads);

#endif
