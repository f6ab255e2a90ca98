/* 3x3 stride-2 convolution by polyphase Winograd F(2x2, 2x2) (25 multiplies per 2x2 outputs
 * instead of 36), forward and backward to the input (polyphase.c). Used for InceptionV3's 3x3
 * stride-2 layers after the first (conv2d_27 alone is ~12% of a 512x512 step). */
#ifndef DD_POLYPHASE_H
#define DD_POLYPHASE_H

#include <stddef.h>

/* Whether polyphase_forward/backward handle this kernel and stride (3x3, stride 2). */
int polyphase_supports(int kh, int kw, int sh, int sw);

/* Floats of a transformed kernel: 16 planes of cin x cout. */
size_t polyphase_kernel_size(int cin, int cout);

/* u <- the 16 planes of kernel (3, 3, cin, cout) for polyphase_forward, or, with `backward`, the
 * planes polyphase_backward multiplies by (cout x cin each). */
void polyphase_kernel_transform(float *u, const float *kernel, int cin, int cout, int backward);

/* Floats of scratch polyphase_forward/backward need on `threads` threads (any image size). */
size_t polyphase_scratch_size(int cin, int cout, int threads);

/* out[oy][ox] (ho, wo, cout; out_ld floats per pixel) = relu(bias + sum over 3x3 of
 * in[2 oy - pad_top + ky][2 ox - pad_left + kx] (h, w, cin contiguous) x kernel), or that sum
 * alone with bias NULL. u: forward planes. */
void polyphase_forward(float *out, int out_ld, const float *bias, const float *in, int h, int w,
                       int pad_top, int pad_left, int ho, int wo, const float *u, int cin, int cout,
                       float *scratch, int threads);

/* din (h, w, cin contiguous) = (or +=, accumulate) the gradient of that sum for dout (ho, wo,
 * cout; dout_ld floats per pixel). u: backward planes. */
void polyphase_backward(float *din, int accumulate, const float *dout, int dout_ld, int h, int w,
                        int pad_top, int pad_left, int ho, int wo, const float *u, int cin, int cout,
                        float *scratch, int threads);

#endif
