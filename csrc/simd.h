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

/* 16 floats (ints) in a vector register (GCC/Clang vector extension): lowered to the clone's
 * vector width, lane by lane the same arithmetic. Loads and stores at any element's address
 * (macros: a vector by value would change the ABI of a function compiled for the baseline). */
typedef float floatx16 __attribute__((vector_size(16 * sizeof(float))));
typedef int intx16 __attribute__((vector_size(16 * sizeof(int))));
typedef float floatx16_unaligned __attribute__((vector_size(16 * sizeof(float)), aligned(4)));
typedef int intx16_unaligned __attribute__((vector_size(16 * sizeof(int)), aligned(4)));

#define floatx16_load(p) (*(const floatx16_unaligned *)(p))
#define floatx16_store(p, v) (*(floatx16_unaligned *)(p) = (v))
#define intx16_load(p) (*(const intx16_unaligned *)(p))
#define intx16_store(p, v) (*(intx16_unaligned *)(p) = (v))

#endif
