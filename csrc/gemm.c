/* The forward GEMM of the 1x1 and im2col convolutions with its epilogue, C = relu(A B + bias),
 * and the plain products C = A B of 2-D and 1-D Winograd (winograd.c, winograd1d.c).
 *
 * Own kernel (x86-64 with AVX-512F; n a multiple of 16, k <= OWN_MAX_K): C is cut into panels of
 * up to 64 columns (4 vectors of 16), and each panel's rows are computed MR at a time in
 * registers over the whole k: per k, the panel's row of B is loaded (nv vectors) and each of the
 * MR elements A[i][k] is broadcast and multiply-added into its row's nv accumulators; then bias
 * and ReLU are applied to the registers and the rows stored. A and B are read in place (no
 * packing), C is written once (OpenBLAS zeroes C first when beta is 0, then a second pass adds
 * the bias). Each element of C is the in-order sum over k of its own products, whatever the other
 * rows are, so any split of the rows over threads gives the same bits.
 * Measured against OpenBLAS + a bias/ReLU pass, interleaved in one process (benchmarks/ab.py, 512
 * step, 2 threads): the 1x1 convs' forward pass 10-12% faster; for the Winograd GEMMs (64+ rows,
 * k and n 32..192) it matched or beat OpenBLAS's small-matrix kernel, most at n = 48 and 80
 * (+12-30%: the 5x5 and conv2d_5 backward passes), step 0.97; for 1-D Winograd's (k, n 128..192)
 * the 1x7/7x1 convs 0.90-0.93, step 0.97. It was no faster for the backward
 * products of the 1x1 convs (a transposed B to pack), and slower for k = 2592 (B's panel leaves
 * the L2 cache): those stay on OpenBLAS. */
#include "gemm.h"

#include <stdatomic.h>
#include <stddef.h>

#include "blas.h"

#define OWN_MAX_K 1024 /* a 64-column panel of B, k x 64 floats, stays in the L2 cache */

static atomic_int own_kernel; /* set by gemm_init */

static void gemm_bias_relu_openblas(int m, int n, int k, const float *a, int lda, const float *b,
                                    int ldb, float *c, int ldc, const float *bias) {
    blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    for (int i = 0; i < m; i++) {
        float *restrict r = c + (size_t)i * ldc;
        for (int j = 0; j < n; j++) {
            float v = r[j] + bias[j];
            r[j] = v > 0.0f ? v : 0.0f;
        }
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_OWN_KERNEL 1
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")
#define NV_MAX 4 /* vectors of 16 columns per panel */
#define ACC 24   /* accumulators, MR x nv: few enough for the compiler to keep in registers */

/* Rows [0, mr) x vectors [0, nv) of a panel (mr, nv, relu constants where inlined); c, a, b: the
 * first element of the rows, of the rows, of the panel. relu: C = max(A B + bias, 0), else A B. */
INLINE AVX512 void kernel(const int mr, const int nv, const int relu, float *c, int ldc,
                          const float *a, int lda, const float *b, int ldb, int k,
                          const float *bias) {
    __m512 acc[ACC];
    UNROLL for (int i = 0; i < mr; i++)
        UNROLL for (int v = 0; v < nv; v++) acc[i * nv + v] = _mm512_setzero_ps();
    for (int q = 0; q < k; q++) {
        __m512 bq[NV_MAX];
        UNROLL for (int v = 0; v < nv; v++) bq[v] = _mm512_loadu_ps(b + (size_t)q * ldb + 16 * v);
        UNROLL for (int i = 0; i < mr; i++) {
            __m512 x = _mm512_set1_ps(a[(size_t)i * lda + q]);
            UNROLL for (int v = 0; v < nv; v++) acc[i * nv + v] = _mm512_fmadd_ps(x, bq[v], acc[i * nv + v]);
        }
    }
    UNROLL for (int i = 0; i < mr; i++)
        UNROLL for (int v = 0; v < nv; v++) {
            __m512 r = acc[i * nv + v];
            if (relu) r = _mm512_max_ps(_mm512_add_ps(r, _mm512_loadu_ps(bias + 16 * v)), _mm512_setzero_ps());
            _mm512_storeu_ps(c + (size_t)i * ldc + 16 * v, r);
        }
}

/* All m rows of one panel of NV vectors: MR rows at a time (MR x NV = ACC), then the rest by 8,
 * 4, 2 and 1; RELU as in kernel(). */
#define PANEL(NAME, NV, MR, RELU)                                                                  \
    AVX512 __attribute__((noinline)) static void NAME(float *c, int ldc, const float *a, int lda,  \
                                                      const float *b, int ldb, int m, int k,       \
                                                      const float *bias) {                         \
        int i = 0;                                                                                  \
        for (; i + MR <= m; i += MR)                                                                \
            kernel(MR, NV, RELU, c + (size_t)i * ldc, ldc, a + (size_t)i * lda, lda, b, ldb, k,     \
                   bias);                                                                           \
        for (int r = 8; r >= 1; r /= 2) {                                                           \
            if (r >= MR || m - i < r) continue;                                                     \
            float *ci = c + (size_t)i * ldc;                                                        \
            const float *ai = a + (size_t)i * lda;                                                  \
            if (r == 8) kernel(8, NV, RELU, ci, ldc, ai, lda, b, ldb, k, bias);                     \
            else if (r == 4) kernel(4, NV, RELU, ci, ldc, ai, lda, b, ldb, k, bias);                \
            else if (r == 2) kernel(2, NV, RELU, ci, ldc, ai, lda, b, ldb, k, bias);                \
            else kernel(1, NV, RELU, ci, ldc, ai, lda, b, ldb, k, bias);                            \
            i += r;                                                                                 \
        }                                                                                           \
    }
PANEL(panel1, 1, 16, 1)
PANEL(panel2, 2, 12, 1)
PANEL(panel3, 3, 8, 1)
PANEL(panel4, 4, 6, 1)
PANEL(plain1, 1, 16, 0)
PANEL(plain2, 2, 12, 0)
PANEL(plain3, 3, 8, 0)
PANEL(plain4, 4, 6, 0)

AVX512 static void gemm_bias_relu_avx512(int m, int n, int k, const float *a, int lda,
                                         const float *b, int ldb, float *c, int ldc,
                                         const float *bias) {
    for (int j0 = 0; j0 < n;) {
        /* 64-column panels; 5 vectors go as 3 + 2 rather than 4 + 1 (one vector of B per k is
         * too few loads for the broadcasts of A) */
        const int vectors = (n - j0) / 16;
        const int nv = vectors == 5 ? 3 : vectors < NV_MAX ? vectors : NV_MAX;
        const float *bj = bias ? bias + j0 : NULL;
        float *cj = c + j0;
        const float *b0 = b + j0;
        if (bias) {
            switch (nv) {
            case 1: panel1(cj, ldc, a, lda, b0, ldb, m, k, bj); break;
            case 2: panel2(cj, ldc, a, lda, b0, ldb, m, k, bj); break;
            case 3: panel3(cj, ldc, a, lda, b0, ldb, m, k, bj); break;
            default: panel4(cj, ldc, a, lda, b0, ldb, m, k, bj); break;
            }
        } else {
            switch (nv) {
            case 1: plain1(cj, ldc, a, lda, b0, ldb, m, k, NULL); break;
            case 2: plain2(cj, ldc, a, lda, b0, ldb, m, k, NULL); break;
            case 3: plain3(cj, ldc, a, lda, b0, ldb, m, k, NULL); break;
            default: plain4(cj, ldc, a, lda, b0, ldb, m, k, NULL); break;
            }
        }
        j0 += 16 * nv;
    }
}
#endif

void gemm_init(int force_openblas) {
#ifdef HAVE_OWN_KERNEL
    __builtin_cpu_init();
    atomic_store(&own_kernel, !force_openblas && __builtin_cpu_supports("avx512f"));
#else
    (void)force_openblas;
    atomic_store(&own_kernel, 0);
#endif
}

int gemm_uses_own_kernel(void) { return atomic_load_explicit(&own_kernel, memory_order_relaxed); }

void gemm_bias_relu(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c,
                    int ldc, const float *bias) {
    if (m <= 0 || n <= 0) return;
#ifdef HAVE_OWN_KERNEL
    if (n % 16 == 0 && k <= OWN_MAX_K && gemm_uses_own_kernel()) {
        gemm_bias_relu_avx512(m, n, k, a, lda, b, ldb, c, ldc, bias);
        return;
    }
#endif
    if (bias) gemm_bias_relu_openblas(m, n, k, a, lda, b, ldb, c, ldc, bias);
    else blas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}
