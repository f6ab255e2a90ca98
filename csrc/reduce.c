/* Deterministic parallel sums (reduce.h). */
#include "simd.h"
#include "reduce.h"

#define REDUCE_PARTS 64 /* fixed: the parts never depend on the thread count */
#define LANES 8

typedef float floatx8_unaligned __attribute__((vector_size(LANES * sizeof(float)), aligned(4)));
typedef double doublex8 __attribute__((vector_size(LANES * sizeof(double))));

/* one part [k0, k1): LANES partial sums over interleaved elements (in vector registers), then
 * added in lane order; squares: sum of (a - mean)^2, else of a - mean */
static inline double part_sum(const float *a, size_t k0, size_t k1, double mean, int squares) {
    doublex8 acc = {0};
    size_t k = k0;
    for (; k + LANES <= k1; k += LANES) {
        doublex8 v = __builtin_convertvector(*(const floatx8_unaligned *)(a + k), doublex8) - mean;
        acc += squares ? v * v : v;
    }
    for (int l = 0; k < k1; k++, l++) {
        double v = (double)a[k] - mean;
        acc[l] += squares ? v * v : v;
    }
    double s = 0.0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

DD_VECTORIZED
static double reduce(const float *a, size_t n, double mean, int squares, int threads) {
    double part[REDUCE_PARTS];
    if (n < (size_t)1 << 16) threads = 1; /* not worth waking threads for */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int p = 0; p < REDUCE_PARTS; p++)
        part[p] = part_sum(a, n * p / REDUCE_PARTS, n * (p + 1) / REDUCE_PARTS, mean, squares);
    double s = 0.0;
    for (int p = 0; p < REDUCE_PARTS; p++) s += part[p];
    return s;
}

double reduce_sum(const float *a, size_t n, int threads) { return reduce(a, n, 0.0, 0, threads); }

double reduce_sum_sq_dev(const float *a, size_t n, double mean, int threads) {
    return reduce(a, n, mean, 1, threads);
}
