/* DD_VECTORIZED: compile a hot loop for AVX-512, AVX2 and baseline x86-64, chosen at run time
 * (GCC's target_clones; the OpenMP bodies inside are cloned too). Our loops are element-wise, so
 * every clone computes the same bits; the build stays portable to any x86-64. */
#ifndef DD_SIMD_H
#define DD_SIMD_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
#define DD_VECTORIZED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DD_VECTORIZED
#endif

#endif
