/* The forward GEMM of the 1x1 and im2col convolutions, bias and ReLU included, and the GEMMs of
 * 2-D and 1-D Winograd: an own AVX-512 kernel where it measured faster than OpenBLAS, OpenBLAS
 * elsewhere (gemm.c). */
#ifndef DD_GEMM_H
#define DD_GEMM_H

/* c (m x n, ldc floats per row) <- max(a (m x k, lda) b (k x n, ldb) + bias (n), 0), or, with
 * bias NULL, a b alone (no ReLU). One thread.
 * Every row of C gets the same bits whatever m is and whichever rows are computed with it, on the
 * own kernel; on OpenBLAS only for calls of more than a handful of rows (conv2d_gemm_threads). */
void gemm_bias_relu(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                    int ldc, const float *bias);

/* 1 when gemm_bias_relu may run on its own kernel (x86-64 with AVX-512F), 0 when only on
 * OpenBLAS (no AVX-512F, or DEEPDREAM_GEMM=openblas when the module was loaded). */
int gemm_uses_own_kernel(void);

/* Chooses once, when the module loads; force_openblas: OpenBLAS only. */
void gemm_init(int force_openblas);

#endif
