/* Peak AVX2 arithmetic of one core, the yardstick for bench/op_profile.py's GFLOP/s:
 * f32 FMA on ymm registers (12 independent chains) and the int8 dot-product sequence that
 * ggml's AVX2 kernels without VNNI use (vpmaddubsw -> vpmaddwd -> vpaddd, 32 MACs each).
 *
 *     cc -O2 -mavx2 -mfma -o /tmp/cpu_peak bench/cpu_peak.c && /tmp/cpu_peak
 *
 * Built with -mavx512f -mavx512bf16 -mavx512vnni (on a CPU that has them) it also times the
 * same chains on zmm registers: f32 FMA, the BF16 dot product (vdpbf16ps, 2 MACs a lane) and
 * the VNNI int8 dot product (vpdpbusd, 4 MACs a lane). A CPU that splits 512-bit work into two
 * 256-bit halves (AMD Zen 4) shows the same FLOP/s for zmm as for ymm FMA; one with full-width
 * AVX-512 units (Zen 5 server parts, Intel server cores) shows about twice as many.
 *
 *     cc -O2 -mavx2 -mfma -mavx512f -mavx512bf16 -mavx512vnni -o /tmp/cpu_peak bench/cpu_peak.c
 *
 * Run it alone (flock /work/bench.lock): it measures wall time.
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    const long n_fma = 200000000, n_int8 = 100000000;
    __m256 acc[12];
    const __m256 x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(0.9999999f);
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    double t = now();
    for (long n = 0; n < n_fma; n++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    }
    double s = now() - t;
    float sink = 0;
    for (int i = 0; i < 12; i++) sink += acc[i][0];
    printf("fma_f32_gflops_per_core %.1f\n", n_fma * 12.0 * 16 / s / 1e9);

    __m256i iacc[8];
    __m256i u = _mm256_set1_epi8(3);
    const __m256i v = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
    for (int i = 0; i < 8; i++) iacc[i] = _mm256_setzero_si256();
    t = now();
    for (long n = 0; n < n_int8; n++) {
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, v), ones);
            iacc[i] = _mm256_add_epi32(iacc[i], p);
            __asm__("" : "+x"(u)); /* keep the multiply inside the loop */
        }
    }
    s = now() - t;
    int isink = 0;
    for (int i = 0; i < 8; i++) isink += _mm256_extract_epi32(iacc[i], 0);
    printf("int8_gops_per_core %.1f\n", n_int8 * 8.0 * 32 * 2 / s / 1e9);
#if defined(__AVX512F__) && defined(__AVX512BF16__) && defined(__AVX512VNNI__)
    const long n_zmm = 100000000;
    __m512 zacc[12];
    const __m512 zx = _mm512_set1_ps(1.0000001f), zy = _mm512_set1_ps(0.9999999f);
    for (int i = 0; i < 12; i++) zacc[i] = _mm512_set1_ps((float)i);
    t = now();
    for (long n = 0; n < n_zmm; n++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) zacc[i] = _mm512_fmadd_ps(zacc[i], zx, zy);
    }
    s = now() - t;
    for (int i = 0; i < 12; i++) sink += zacc[i][0];
    printf("zmm_fma_f32_gflops_per_core %.1f\n", n_zmm * 12.0 * 32 / s / 1e9);

    const __m512bh bx = (__m512bh)_mm512_set1_epi16(0x3f80), by = (__m512bh)_mm512_set1_epi16(0x3f80);
    for (int i = 0; i < 12; i++) zacc[i] = _mm512_setzero_ps();
    t = now();
    for (long n = 0; n < n_zmm; n++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) zacc[i] = _mm512_dpbf16_ps(zacc[i], bx, by);
    }
    s = now() - t;
    for (int i = 0; i < 12; i++) sink += zacc[i][0];
    printf("zmm_bf16_dot_gflops_per_core %.1f\n", n_zmm * 12.0 * 64 / s / 1e9);

    __m512i zi[12];
    const __m512i zu = _mm512_set1_epi8(3), zv = _mm512_set1_epi8(-2);
    for (int i = 0; i < 12; i++) zi[i] = _mm512_setzero_si512();
    t = now();
    for (long n = 0; n < n_zmm; n++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) zi[i] = _mm512_dpbusd_epi32(zi[i], zu, zv);
    }
    s = now() - t;
    for (int i = 0; i < 12; i++) isink += _mm512_reduce_add_epi32(zi[i]);
    printf("zmm_vnni_int8_gops_per_core %.1f\n", n_zmm * 12.0 * 128 / s / 1e9);
#endif
    return (sink == 0.5f && isink == 1); /* uses the results; never true */
}
