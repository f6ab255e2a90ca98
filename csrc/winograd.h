/* 3x3 stride-1 convolution by Winograd's F(2x2, 3x3): 16 multiplies per 2x2 outputs instead of
 * 36. Used for the forward pass of InceptionV3's 3x3 stride-1 layers and for their backward pass
 * to the input, which is itself a 3x3 stride-1 convolution (flipped, transposed kernel). */
#ifndef DD_WINOGRAD_H
#define DD_WINOGRAD_H

#include <stddef.h>

/* Floats of a transformed kernel: (16, cin, cout). */
size_t winograd_kernel_size(int cin, int cout);

/* u (16, cin, cout) <- G g G^T of kernel (3, 3, cin, cout). With `backward`, the kernel of the
 * input gradient instead: u (16, cout, cin) from the kernel flipped in space, transposed. */
void winograd_kernel_transform(float *u, const float *kernel, int cin, int cout, int backward);

/* Floats of scratch winograd_conv3x3 needs for an (oh, ow) output on `threads` threads. */
size_t winograd_scratch_size(int oh, int ow, int cin, int cout, int threads);

/* out[oy][ox] (oh, ow, cout; out_ld floats per pixel) = relu(bias + sum over 3x3 of
 * in[oy - pad_top + ky][ox - pad_left + kx] (h, w, cin; in_ld floats per pixel) x kernel),
 * or, with bias == NULL, out = that sum (out += with accumulate; no ReLU).
 * u from winograd_kernel_transform. */
void winograd_conv3x3(float *out, int out_ld, const float *bias, int accumulate, const float *in,
                      int in_ld, int h,
                      int w, int pad_top, int pad_left, int oh, int ow, const float *u, int cin,
                      int cout, float *scratch, int threads);

#endif
