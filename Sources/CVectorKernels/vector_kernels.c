// AVX-512 row kernels; see include/lockstep_vector.h. Compiled for the baseline like the rest of
// the package: only the functions marked LOCKSTEP_AVX512 use AVX-512 instructions, and they run
// only after lockstep_vector_avx512() said the CPU has them.
#include "lockstep_vector.h"

#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>

#define LOCKSTEP_AVX512 __attribute__((target("avx512f")))

/// CPUID leaf 7's EBX (the AVX-512 feature bits) when the OS saves the AVX-512 state, else 0.
static unsigned int avx512_features(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    if (!(ecx & bit_OSXSAVE)) return 0;
    unsigned int xcr0_low, xcr0_high;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    (void)xcr0_high;
    // XMM (1), YMM (2), opmask (5), ZMM0-15 upper halves (6), ZMM16-31 (7) saved by the OS.
    if ((xcr0_low & 0xE6) != 0xE6) return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return ebx;
}

/// Whether the CPU has every feature bit of `required` (leaf 7 EBX), cached in `cached`.
static int has_avx512(atomic_int *cached, unsigned int required) {
    int value = atomic_load_explicit(cached, memory_order_relaxed);
    if (value < 0) {
        value = (avx512_features() & required) == required;
        atomic_store_explicit(cached, value, memory_order_relaxed);
    }
    return value;
}

int lockstep_vector_avx512(void) {
    static atomic_int cached = -1;
    return has_avx512(&cached, bit_AVX512F);
}

int lockstep_vector_avx512_dq_vl(void) {
    static atomic_int cached = -1;
    return has_avx512(&cached, bit_AVX512F | bit_AVX512DQ | bit_AVX512VL);
}

/// The first `count` lanes (0 ≤ count ≤ 16).
LOCKSTEP_AVX512 static inline __mmask16 first_lanes(ptrdiff_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1u);
}

/// The value the layers before the pooling would have written: `x + b`, clipped at 0 with the ReLU.
static inline float pooled_value(float x, const float *bias, float b, int relu) {
    float v = bias ? x + b : x;
    return relu && v < 0 ? 0 : v;
}

LOCKSTEP_AVX512 static inline __m512 pooled_values(__m512 x, const float *bias, __m512 b, int relu) {
    __m512 v = bias ? _mm512_add_ps(x, b) : x;
    if (relu) v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps());
    return v;
}

LOCKSTEP_AVX512
void lockstep_vector_max_pool_2x2(const float *input, float *output, int32_t *argmax, ptrdiff_t planes,
                                  ptrdiff_t height, ptrdiff_t width, const float *bias, int relu) {
    const ptrdiff_t oh = height / 2, ow = width / 2;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i lane2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32((int32_t)width),
                  downRight = _mm512_set1_epi32((int32_t)width + 1);
    for (ptrdiff_t plane = 0; plane < planes; plane++) {
        const float *in = input + plane * height * width;
        float *out = output + plane * oh * ow;
        int32_t *indices = argmax + plane * oh * ow;
        const float b = bias ? bias[plane] : 0;
        const __m512 bv = _mm512_set1_ps(b);
        for (ptrdiff_t row = 0; row < oh; row++) {
            const ptrdiff_t top = 2 * row * width;
            for (ptrdiff_t column = 0; column < ow; column += 16) {
                const ptrdiff_t n = ow - column < 16 ? ow - column : 16;
                const __mmask16 low = first_lanes(2 * n), high = first_lanes(2 * n - 16 > 0 ? 2 * n - 16 : 0),
                                outputs = first_lanes(n);
                const float *upper = in + top + 2 * column, *lower = upper + width;
                __m512 u0 = pooled_values(_mm512_maskz_loadu_ps(low, upper), bias, bv, relu);
                __m512 u1 = pooled_values(_mm512_maskz_loadu_ps(high, upper + 16), bias, bv, relu);
                __m512 l0 = pooled_values(_mm512_maskz_loadu_ps(low, lower), bias, bv, relu);
                __m512 l1 = pooled_values(_mm512_maskz_loadu_ps(high, lower + 16), bias, bv, relu);
                // Masked-off lanes hold 0 (plus the bias), never NaN unless the bias is.
                __mmask16 nan = (__mmask16)(_mm512_cmp_ps_mask(u0, u0, _CMP_UNORD_Q) & low)
                              | (__mmask16)(_mm512_cmp_ps_mask(u1, u1, _CMP_UNORD_Q) & high)
                              | (__mmask16)(_mm512_cmp_ps_mask(l0, l0, _CMP_UNORD_Q) & low)
                              | (__mmask16)(_mm512_cmp_ps_mask(l1, l1, _CMP_UNORD_Q) & high);
                if (nan) {  // one window at a time: the first NaN of each window
                    for (ptrdiff_t c = column; c < column + n; c++) {
                        const ptrdiff_t a = top + 2 * c, candidates[3] = {a + 1, a + width, a + width + 1};
                        ptrdiff_t best = a;
                        for (int k = 0; k < 3; k++) {
                            const float current = pooled_value(in[best], bias, b, relu);
                            if (current != current) break;
                            const float candidate = pooled_value(in[candidates[k]], bias, b, relu);
                            if (candidate != candidate || candidate > current) best = candidates[k];
                        }
                        out[row * ow + c] = pooled_value(in[best], bias, b, relu);
                        indices[row * ow + c] = (int32_t)best;
                    }
                    continue;
                }
                const __m512 a = _mm512_permutex2var_ps(u0, even, u1), bb = _mm512_permutex2var_ps(u0, odd, u1);
                const __m512 c = _mm512_permutex2var_ps(l0, even, l1), d = _mm512_permutex2var_ps(l0, odd, l1);
                __m512 best = a;
                __m512i corner = _mm512_setzero_si512();
                __mmask16 larger = _mm512_cmp_ps_mask(bb, best, _CMP_GT_OQ);
                best = _mm512_mask_mov_ps(best, larger, bb);
                corner = _mm512_mask_mov_epi32(corner, larger, one);
                larger = _mm512_cmp_ps_mask(c, best, _CMP_GT_OQ);
                best = _mm512_mask_mov_ps(best, larger, c);
                corner = _mm512_mask_mov_epi32(corner, larger, down);
                larger = _mm512_cmp_ps_mask(d, best, _CMP_GT_OQ);
                best = _mm512_mask_mov_ps(best, larger, d);
                corner = _mm512_mask_mov_epi32(corner, larger, downRight);
                const __m512i index = _mm512_add_epi32(_mm512_add_epi32(_mm512_set1_epi32((int32_t)(top + 2 * column)), lane2), corner);
                _mm512_mask_storeu_ps(out + row * ow + column, outputs, best);
                _mm512_mask_storeu_epi32(indices + row * ow + column, outputs, index);
            }
        }
    }
}

LOCKSTEP_AVX512
void lockstep_vector_max_pool_2x2_backward(const float *outputGradient, const int32_t *argmax, const float *reluOutput,
                                           float *inputGradient, ptrdiff_t planes, ptrdiff_t height, ptrdiff_t width) {
    const ptrdiff_t oh = height / 2, ow = width / 2;
    const __m512i lane2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i interleaveLow = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i interleaveHigh = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i one = _mm512_set1_epi32(1), down = _mm512_set1_epi32((int32_t)width),
                  downRight = _mm512_set1_epi32((int32_t)width + 1);
    const __m512 zero = _mm512_setzero_ps();
    for (ptrdiff_t plane = 0; plane < planes; plane++) {
        const float *dy = outputGradient + plane * oh * ow;
        const int32_t *indices = argmax + plane * oh * ow;
        const float *pooled = reluOutput ? reluOutput + plane * oh * ow : NULL;
        float *dx = inputGradient + plane * height * width;
        for (ptrdiff_t row = 0; row < oh; row++) {
            const ptrdiff_t top = 2 * row * width;
            for (ptrdiff_t column = 0; column < ow; column += 16) {
                const ptrdiff_t n = ow - column < 16 ? ow - column : 16, q = row * ow + column;
                const __mmask16 outputs = first_lanes(n), low = first_lanes(2 * n),
                                high = first_lanes(2 * n - 16 > 0 ? 2 * n - 16 : 0);
                __m512 v = _mm512_maskz_loadu_ps(outputs, dy + q);
                if (pooled) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(outputs, pooled + q), zero, _CMP_GT_OQ), v);
                v = _mm512_add_ps(zero, v);  // the zeroed target plus the gradient: −0 becomes +0, as `+=` does
                const __m512i corner = _mm512_sub_epi32(
                    _mm512_maskz_loadu_epi32(outputs, indices + q),
                    _mm512_add_epi32(_mm512_set1_epi32((int32_t)(top + 2 * column)), lane2));
                const __m512 a = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(corner, _mm512_setzero_si512()), v);
                const __m512 b = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(corner, one), v);
                const __m512 c = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(corner, down), v);
                const __m512 d = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(corner, downRight), v);
                float *upper = dx + top + 2 * column, *lower = upper + width;
                _mm512_mask_storeu_ps(upper, low, _mm512_permutex2var_ps(a, interleaveLow, b));
                _mm512_mask_storeu_ps(upper + 16, high, _mm512_permutex2var_ps(a, interleaveHigh, b));
                _mm512_mask_storeu_ps(lower, low, _mm512_permutex2var_ps(c, interleaveLow, d));
                _mm512_mask_storeu_ps(lower + 16, high, _mm512_permutex2var_ps(c, interleaveHigh, d));
            }
            if (width % 2) dx[top + width - 1] = dx[top + 2 * width - 1] = 0;  // the column no window reads
        }
        for (ptrdiff_t i = 2 * oh * width; i < height * width; i++) dx[i] = 0;  // the row no window reads
    }
}

/// The lanes of a 16-float load at plane column `x` (lane k reads column x + k) that fall inside
/// a row of `width`: 0 ≤ x + k < width.
LOCKSTEP_AVX512 static inline __mmask16 inside_lanes(ptrdiff_t x, ptrdiff_t width) {
    const ptrdiff_t low = x < 0 ? -x : 0, high = width - x < 16 ? width - x : 16;
    return high <= low ? 0 : (__mmask16)(((1u << high) - 1u) & ~((1u << low) - 1u));
}

LOCKSTEP_AVX512
void lockstep_vector_patch_rows(const float *plane, ptrdiff_t height, ptrdiff_t width, ptrdiff_t rowOffset,
                                ptrdiff_t columnOffset, float *target, ptrdiff_t rows, ptrdiff_t count) {
    const __m512 zero = _mm512_setzero_ps();
    const ptrdiff_t vectors = (count + 15) / 16;
    // Rows [first, last) of the target read plane rows; the others are the border's zeros.
    ptrdiff_t first = -rowOffset, last = height - rowOffset;
    if (first < 0) first = 0;
    if (first > rows) first = rows;
    if (last > rows) last = rows;
    if (last < first) last = first;
    float *t = target;
    for (ptrdiff_t r = 0; r < first; r++, t += count)
        for (ptrdiff_t v = 0; v < vectors; v++) _mm512_storeu_ps(t + 16 * v, zero);
    const float *s = plane + (first + rowOffset) * width + columnOffset;
    if (vectors <= 8) {  // the lanes of each vector are the same on every row: found once
        __mmask16 lanes[8];
        for (ptrdiff_t v = 0; v < vectors; v++) lanes[v] = inside_lanes(16 * v + columnOffset, width);
        if (vectors == 1) {
            for (ptrdiff_t r = first; r < last; r++, t += count, s += width) _mm512_storeu_ps(t, _mm512_maskz_loadu_ps(lanes[0], s));
        } else {
            for (ptrdiff_t r = first; r < last; r++, t += count, s += width)
                for (ptrdiff_t v = 0; v < vectors; v++) _mm512_storeu_ps(t + 16 * v, _mm512_maskz_loadu_ps(lanes[v], s + 16 * v));
        }
    } else {
        for (ptrdiff_t r = first; r < last; r++, t += count, s += width)
            for (ptrdiff_t v = 0; v < vectors; v++)
                _mm512_storeu_ps(t + 16 * v, _mm512_maskz_loadu_ps(inside_lanes(16 * v + columnOffset, width), s + 16 * v));
    }
    for (ptrdiff_t r = last; r < rows; r++, t += count)
        for (ptrdiff_t v = 0; v < vectors; v++) _mm512_storeu_ps(t + 16 * v, zero);
}

LOCKSTEP_AVX512
void lockstep_vector_add_rows(const float *source, ptrdiff_t sourceStride, float *target, ptrdiff_t targetStride,
                              ptrdiff_t rows, ptrdiff_t count) {
    const ptrdiff_t whole = count / 16 * 16;
    const __mmask16 tail = first_lanes(count - whole);
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *s = source + r * sourceStride;
        float *t = target + r * targetStride;
        for (ptrdiff_t i = 0; i < whole; i += 16)
            _mm512_storeu_ps(t + i, _mm512_add_ps(_mm512_loadu_ps(t + i), _mm512_loadu_ps(s + i)));
        if (tail) {
            __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(tail, t + whole), _mm512_maskz_loadu_ps(tail, s + whole));
            _mm512_mask_storeu_ps(t + whole, tail, sum);
        }
    }
}

LOCKSTEP_AVX512
void lockstep_vector_copy_rows_zero_filled(const float *source, ptrdiff_t sourceStride, ptrdiff_t count, float *target,
                                           ptrdiff_t targetStride, ptrdiff_t targetCount, ptrdiff_t rows) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *s = source + r * sourceStride;
        float *t = target + r * targetStride;
        for (ptrdiff_t L = 0; L < targetCount; L += 16) {
            const ptrdiff_t read = count - L, write = targetCount - L;
            const __m512 v = _mm512_maskz_loadu_ps(first_lanes(read < 0 ? 0 : read), s + (read > 0 ? L : 0));
            _mm512_mask_storeu_ps(t + L, first_lanes(write), v);
        }
    }
}

LOCKSTEP_AVX512
void lockstep_vector_pad_planes(const float *input, float *padded, ptrdiff_t planes, ptrdiff_t height, ptrdiff_t width,
                                ptrdiff_t padding) {
    const ptrdiff_t wp = width + 2 * padding, hp = height + 2 * padding;
    const __m512 zero = _mm512_setzero_ps();
    for (ptrdiff_t plane = 0; plane < planes; plane++) {
        const float *x = input + plane * height * width;
        float *target = padded + plane * hp * wp;
        for (ptrdiff_t i = 0; i < padding * wp; i += 16) _mm512_mask_storeu_ps(target + i, first_lanes(padding * wp - i), zero);
        for (ptrdiff_t y = 0; y < height; y++) {
            float *row = target + (padding + y) * wp;
            for (ptrdiff_t i = 0; i < padding; i += 16) {
                _mm512_mask_storeu_ps(row + i, first_lanes(padding - i), zero);
                _mm512_mask_storeu_ps(row + padding + width + i, first_lanes(padding - i), zero);
            }
            for (ptrdiff_t L = 0; L < width; L += 16) {
                const __mmask16 lanes = first_lanes(width - L);
                _mm512_mask_storeu_ps(row + padding + L, lanes, _mm512_maskz_loadu_ps(lanes, x + y * width + L));
            }
        }
        float *bottom = target + (padding + height) * wp;
        for (ptrdiff_t i = 0; i < padding * wp; i += 16) _mm512_mask_storeu_ps(bottom + i, first_lanes(padding * wp - i), zero);
    }
}
