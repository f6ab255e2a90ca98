/* kxk stride-1 convolution by Winograd, 4x4 output tiles: F(4x4, 3x3) over 6x6 tiles for 3x3
 * kernels (36 multiplies per 4x4 outputs instead of 144) and F(4x4, 5x5) over 8x8 tiles for 5x5
 * kernels (64 instead of 400). Used for the forward pass of InceptionV3's stride-1 layers of
 * these sizes and for their backward pass to the input, which is itself a kxk stride-1
 * convolution (flipped, transposed kernel). */
#ifndef DD_WINOGRAD_H
#define DD_WINOGRAD_H

#include <stddef.h>

/* Whether winograd_conv handles kxk kernels (k = 3 or 5). */
int winograd_supports(int k);

/* Floats of a transformed kxk kernel: (alpha^2, cin, cout), alpha = 6 for k = 3, 8 for k = 5. */
size_t winograd_kernel_size(int k, int cin, int cout);

/* u (alpha^2, cin, cout) <- G g G^T of kernel (k, k, cin, cout). With `backward`, the kernel of the
 * input gradient instead: u (alpha^2, cout, cin) from the kernel flipped in space, transposed. */
void winograd_kernel_transform(float *u, const float *kernel, int k, int cin, int cout, int backward);

/* Floats of scratch winograd_conv needs for a kxk kernel on `threads` threads. */
size_t winograd_scratch_size(int k, int cin, int cout, int threads);

/* out[oy][ox] (oh, ow, cout; out_ld floats per pixel) = relu(bias + sum over kxk of
 * in[oy - pad_top + ky][ox - pad_left + kx] (h, w, cin; in_ld floats per pixel) x kernel),
 * or, with bias == NULL, out = that sum (out += with accumulate; no ReLU). With bias == NULL,
 * accumulate 0 and a mask (the layout of out): out = the sum where mask > 0, else 0 (the
 * backward pass of the ReLU that made `mask`).
 * u from winograd_kernel_transform with the same k. */
void winograd_conv(float *out, int out_ld, const float *bias, const float *mask, int accumulate,
                   const float *in, int in_ld, int h, int w, int pad_top, int pad_left, int oh,
                   int ow, int k, const float *u, int cin, int cout, float *scratch, int threads);

#endif
