/* 1 x r and r x 1 stride-1 convolutions by 1-D Winograd F(m, r) along the kernel's long axis
 * (winograd1d.c): InceptionV3's 1x7/7x1 (mixed4..mixed8) and 1x3/3x1 (mixed9/10), forward and
 * backward to the input (itself such a convolution, with the kernel flipped and transposed). */
#ifndef DD_WINOGRAD1D_H
#define DD_WINOGRAD1D_H

#include <stddef.h>

/* Whether a kernel of length r along its long axis has a transform here. */
int winograd1d_supports(int r);

/* Points n = m + r - 1 of the transform used for length r (0 if none). */
int winograd1d_points(int r);

/* Floats of a transformed kernel: (n, cin, cout). */
size_t winograd1d_kernel_size(int r, int cin, int cout);

/* u (n, cin, cout) <- G g of kernel (r, cin, cout) (a 1 x r or r x 1 HWIO kernel). With
 * `backward`, the kernel of the input gradient instead: u (n, cout, cin) from the kernel flipped
 * along its axis, transposed. */
void winograd1d_kernel_transform(float *u, const float *kernel, int r, int cin, int cout,
                                 int backward);

/* Floats of scratch winograd1d_conv needs on `threads` threads. */
size_t winograd1d_scratch_size(int r, int cin, int cout, int threads);

/* vertical = 0 (1 x r): out[oy][ox] = sum over k of in[oy][ox - pad + k] x kernel[k];
 * vertical = 1 (r x 1): out[oy][ox] = sum over k of in[oy - pad + k][ox] x kernel[k];
 * in (h, w, cin; in_ld floats per pixel), out (oh, ow, cout; out_ld floats per pixel), outside
 * the input reads as zero. With bias: out = relu(bias + sum); with bias == NULL, out = sum
 * (out += with accumulate; no ReLU). u from winograd1d_kernel_transform. */
void winograd1d_conv(float *out, int out_ld, const float *bias, int accumulate, const float *in,
                     int in_ld, int h, int w, int vertical, int pad, int oh, int ow, const float *u,
                     int r, int cin, int cout, float *scratch, int threads);

#endif
