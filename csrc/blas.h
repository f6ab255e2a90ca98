/* The one place that knows which OpenBLAS we link: a system OpenBLAS (plain CBLAS names)
 * or the scipy-openblas32 wheel, whose symbols carry the prefix "scipy_" (setup.py defines
 * DD_SCIPY_OPENBLAS then). */
#ifndef DD_BLAS_H
#define DD_BLAS_H

#include <cblas.h>

#ifdef DD_SCIPY_OPENBLAS
#define blas_sgemm scipy_cblas_sgemm
#define blas_set_threads scipy_openblas_set_num_threads
#define blas_get_threads scipy_openblas_get_num_threads
#define blas_get_config scipy_openblas_get_config
#else
#define blas_sgemm cblas_sgemm
#define blas_set_threads openblas_set_num_threads
#define blas_get_threads openblas_get_num_threads
#define blas_get_config openblas_get_config
#endif

#endif
