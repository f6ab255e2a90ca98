/* Sums over float arrays in double, the same bits for any thread count: the array is cut into
 * REDUCE_PARTS equal parts at fixed places, each part summed in 8 interleaved lanes (vectorised),
 * and the parts' sums added in order. Used for the loss (means of layers) and the dream's
 * std(g). */
#ifndef DD_REDUCE_H
#define DD_REDUCE_H

#include <stddef.h>

/* sum of a[0..n) */
double reduce_sum(const float *a, size_t n, int threads);

/* sum of (a[k] - mean)^2 over k < n */
double reduce_sum_sq_dev(const float *a, size_t n, double mean, int threads);

#endif
