// The fixed-point sum of the world-size-invariant mode; see include/lockstep_fixed_point.h.
// Compiled for the baseline: the functions marked LOCKSTEP_AVX512DQ run only after
// lockstep_fixed_avx512() said the CPU has AVX-512 F, DQ and VL (64-bit integer ↔ floating conversions).
#include "lockstep_fixed_point.h"
#include "lockstep_vector.h"

#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#define LOCKSTEP_AVX512DQ __attribute__((target("avx512f,avx512dq,avx512vl")))

static atomic_int forcePortable = 0;

int lockstep_fixed_avx512(void) { return lockstep_vector_avx512_dq_vl(); }

void lockstep_fixed_force_portable(int portable) { atomic_store(&forcePortable, portable ? 1 : 0); }

static int use_avx512(void) { return !atomic_load_explicit(&forcePortable, memory_order_relaxed) && lockstep_fixed_avx512(); }

int lockstep_fixed_shift(int64_t code, int carryBits, int width) { return 126 + (width - 2) - carryBits - (int)code; }

// MARK: - Exponent codes

static inline uint32_t bits_of(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

LOCKSTEP_AVX512DQ
static int32_t exponent_code_avx512(const float *values, int64_t lower, int64_t upper, int32_t code) {
    const __m512i exponentMask = _mm512_set1_epi32(0xFF), magnitude = _mm512_set1_epi32(0x7FFFFFFF),
                  infinity = _mm512_set1_epi32(0x7F800000), one = _mm512_set1_epi32(1);
    __m512i codes = _mm512_set1_epi32(code);
    for (int64_t i = lower; i < upper; i += 16) {
        const int64_t left = upper - i;
        const __mmask16 lanes = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        const __m512i bits = _mm512_maskz_loadu_epi32(lanes, values + i);
        __m512i c = _mm512_and_si512(_mm512_srli_epi32(bits, 23), exponentMask);
        // A NaN (magnitude above infinity's bits) counts one more.
        c = _mm512_mask_add_epi32(c, _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, magnitude), infinity), c, one);
        codes = _mm512_max_epi32(codes, c);
    }
    return _mm512_reduce_max_epi32(codes);
}

void lockstep_fixed_exponent_codes(const float *values, const int64_t *starts, ptrdiff_t blocks, int64_t *codes) {
    const int fast = use_avx512();
    for (ptrdiff_t b = 0; b < blocks; b++) {
        const int64_t lower = starts[b], upper = starts[b + 1];
        int32_t code = (int32_t)codes[b];
        if (fast) {
            codes[b] = exponent_code_avx512(values, lower, upper, code);
            continue;
        }
        for (int64_t i = lower; i < upper; i++) {
            const uint32_t bits = bits_of(values[i]);
            // The biased exponent, plus one for a NaN (all-ones exponent, non-zero significand).
            const int32_t c = (int32_t)((bits >> 23) & 0xFF) + ((bits & 0x7FFFFFFF) > 0x7F800000);
            code = c > code ? c : code;
        }
        codes[b] = code;
    }
}

// MARK: - To integers and back

static inline int64_t fixed_of(float value, double scale) {
    if ((bits_of(value) & 0x7F800000) == 0) return 0;  // zero or subnormal
    // Exact: a float times a power of two fits a double; rint rounds to nearest even.
    return (int64_t)__builtin_rint((double)value * scale);
}

/// Both widths: the sum of the rounded terms is exact in 64 bits and fits `width` bits.
static void fixed_sum_portable(const float *const *slots, ptrdiff_t slotCount, int64_t lower, int64_t upper,
                               double scale, int width, void *sums) {
    for (int64_t i = lower; i < upper; i++) {
        int64_t total = 0;
        for (ptrdiff_t s = 0; s < slotCount; s++) total += fixed_of(slots[s][i], scale);
        if (width == 32) ((int32_t *)sums)[i] = (int32_t)total;
        else ((int64_t *)sums)[i] = total;
    }
}

LOCKSTEP_AVX512DQ
static void fixed_sum_avx512(const float *const *slots, ptrdiff_t slotCount, int64_t lower, int64_t upper,
                             double scale, int64_t *sums) {
    const __m512d factor = _mm512_set1_pd(scale);
    const __m256i exponent = _mm256_set1_epi32(0x7F800000);
    for (int64_t i = lower; i < upper; i += 8) {
        const int64_t left = upper - i;
        const __mmask8 lanes = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1u);
        __m512i sum = _mm512_setzero_si512();
        for (ptrdiff_t s = 0; s < slotCount; s++) {
            const __m256i bits = _mm256_maskz_loadu_epi32(lanes, slots[s] + i);
            // Lanes whose exponent is zero (zeros, subnormals) contribute nothing.
            const __mmask8 normal = _mm256_cmpneq_epi32_mask(_mm256_and_si256(bits, exponent), _mm256_setzero_si256());
            const __m512d scaled = _mm512_mul_pd(_mm512_cvtps_pd(_mm256_castsi256_ps(bits)), factor);
            const __m512i fixed =
                _mm512_maskz_cvt_roundpd_epi64(normal, scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            sum = _mm512_add_epi64(sum, fixed);
        }
        _mm512_mask_storeu_epi64(sums + i, lanes, sum);
    }
}


/// `float(sum) × inverse` with subnormal results flushed to zero; `inverse` a power of two.
static inline float float_of(int64_t sum, double inverse) {
    // int64 → float is one rounding (to nearest even under the default rounding mode, which
    // lockstep never changes); the product is exact in double; the final conversion is then exact
    // for a normal result (it overflows to ±infinity above the largest float).
    const double scaled = (double)(float)sum * inverse;
    return fabs(scaled) < 0x1p-126 ? 0.0f : (float)scaled;
}

static int to_float_portable(const void *sums, int width, int64_t lower, int64_t upper, double inverse, float *values) {
    int nonFinite = 0;
    for (int64_t i = lower; i < upper; i++) {
        values[i] = float_of(width == 32 ? ((const int32_t *)sums)[i] : ((const int64_t *)sums)[i], inverse);
        nonFinite |= isinf(values[i]);
    }
    return nonFinite;
}

/// `to_float_avx512` for a block whose quantum `inverse` is at least the smallest normal float:
/// then every non-zero result is normal or infinite, and `float(sum) × inverse` in float is the
/// same single rounding as the double path (the product of a float and a power of two is exact
/// unless it overflows, to infinity in both).
LOCKSTEP_AVX512DQ
static int to_float_avx512_normal(const int64_t *sums, int64_t lower, int64_t upper, float inverse, float *values) {
    const __m512 factor = _mm512_set1_ps(inverse);
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), infinity = _mm512_set1_epi32(0x7F800000);
    __mmask16 infinite = 0;
    for (int64_t i = lower; i < upper; i += 16) {
        const int64_t left = upper - i;
        const __mmask8 low = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (left > 0 ? left : 0)) - 1u);
        const __mmask8 high = left >= 16 ? (__mmask8)0xFF : left > 8 ? (__mmask8)((1u << (left - 8)) - 1u) : 0;
        const __m256 a = _mm512_cvt_roundepi64_ps(_mm512_maskz_loadu_epi64(low, sums + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256 b = _mm512_cvt_roundepi64_ps(_mm512_maskz_loadu_epi64(high, sums + i + 8), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m512 rounded = _mm512_insertf32x8(_mm512_castps256_ps512(a), b, 1);
        const __m512 result = _mm512_mul_ps(rounded, factor);
        const __mmask16 lanes = (__mmask16)(low | ((unsigned)high << 8));
        infinite |= _mm512_mask_cmpeq_epi32_mask(lanes, _mm512_and_si512(_mm512_castps_si512(result), magnitude), infinity);
        _mm512_mask_storeu_ps(values + i, lanes, result);
    }
    return infinite != 0;
}

LOCKSTEP_AVX512DQ
static int to_float_avx512(const int64_t *sums, int64_t lower, int64_t upper, double inverse, float *values) {
    const __m512d factor = _mm512_set1_pd(inverse), smallest = _mm512_set1_pd(0x1p-126);
    const __m512d magnitude = _mm512_castsi512_pd(_mm512_set1_epi64(0x7FFFFFFFFFFFFFFF));
    __mmask8 infinite = 0;
    for (int64_t i = lower; i < upper; i += 8) {
        const int64_t left = upper - i;
        const __mmask8 lanes = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1u);
        const __m512i sum = _mm512_maskz_loadu_epi64(lanes, sums + i);
        const __m256 rounded = _mm512_cvt_roundepi64_ps(sum, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m512d scaled = _mm512_mul_pd(_mm512_cvtps_pd(rounded), factor);
        const __mmask8 normal =
            _mm512_cmp_pd_mask(_mm512_and_pd(scaled, magnitude), smallest, _CMP_GE_OQ);
        const __m256 result = _mm512_maskz_cvt_roundpd_ps(normal, scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256 absolute = _mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(result), _mm256_set1_epi32(0x7FFFFFFF)));
        infinite |= _mm256_mask_cmp_ps_mask(lanes, absolute, _mm256_set1_ps(__builtin_inff()), _CMP_EQ_OQ);
        _mm256_mask_storeu_ps(values + i, lanes, result);
    }
    return infinite != 0;
}

/// For a block whose code is not finite and non-zero (0, 255 or 256): fills its values with 0,
/// +infinity or NaN and returns 1; else returns 0 and writes nothing.
static int fill_special_block(int64_t code, int64_t lower, int64_t upper, int *nonFinite, float *values) {
    if (code > 0 && code < LOCKSTEP_FIXED_INFINITY) return 0;
    const float fill = code <= 0 ? 0.0f : code == LOCKSTEP_FIXED_INFINITY ? __builtin_inff() : __builtin_nanf("");
    for (int64_t i = lower; i < upper; i++) values[i] = fill;
    *nonFinite |= code > 0;
    return 1;
}

// MARK: - 32-bit kernels, and the entry points for both widths

/// `x × 2^shift` by `vscalefps`: exact for a normal result; a result below the smallest normal
/// float (whatever the MXCSR makes of it) is below 1/2 and rounds to the integer 0 anyway, and
/// every result is below 2^30 (no overflow).
LOCKSTEP_AVX512DQ
static void fixed_sum32_avx512(const float *const *slots, ptrdiff_t slotCount, int64_t lower, int64_t upper,
                               int shift, int32_t *sums) {
    const __m512 power = _mm512_set1_ps((float)shift);
    const __m512i exponent = _mm512_set1_epi32(0x7F800000);
    for (int64_t i = lower; i < upper; i += 16) {
        const int64_t left = upper - i;
        const __mmask16 lanes = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512i sum = _mm512_setzero_si512();
        for (ptrdiff_t s = 0; s < slotCount; s++) {
            const __m512i bits = _mm512_maskz_loadu_epi32(lanes, slots[s] + i);
            // Lanes whose exponent is zero (zeros, subnormals) contribute nothing.
            const __mmask16 normal = _mm512_test_epi32_mask(bits, exponent);
            const __m512 scaled = _mm512_scalef_round_ps(_mm512_castsi512_ps(bits), power,
                                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m512i fixed =
                _mm512_maskz_cvt_roundps_epi32(normal, scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            sum = _mm512_add_epi32(sum, fixed);
        }
        _mm512_mask_storeu_epi32(sums + i, lanes, sum);
    }
}

void lockstep_fixed_sum(const float *const *slots, ptrdiff_t slotCount, const int64_t *starts, ptrdiff_t blocks,
                        const int64_t *codes, int carryBits, int width, void *sums) {
    const int fast = use_avx512(), bytes = width / 8;
    for (ptrdiff_t b = 0; b < blocks; b++) {
        const int64_t lower = starts[b], upper = starts[b + 1], code = codes[b];
        if (code <= 0 || code >= LOCKSTEP_FIXED_INFINITY) {
            memset((char *)sums + lower * bytes, 0, (size_t)(upper - lower) * (size_t)bytes);
            continue;
        }
        const int shift = lockstep_fixed_shift(code, carryBits, width);
        if (fast && width == 32) fixed_sum32_avx512(slots, slotCount, lower, upper, shift, sums);
        else if (fast) fixed_sum_avx512(slots, slotCount, lower, upper, ldexp(1.0, shift), sums);
        else fixed_sum_portable(slots, slotCount, lower, upper, ldexp(1.0, shift), width, sums);
    }
}

/// As `to_float_avx512_normal`, from 32-bit sums.
LOCKSTEP_AVX512DQ
static int to_float32_avx512_normal(const int32_t *sums, int64_t lower, int64_t upper, float inverse, float *values) {
    const __m512 factor = _mm512_set1_ps(inverse);
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), infinity = _mm512_set1_epi32(0x7F800000);
    __mmask16 infinite = 0;
    for (int64_t i = lower; i < upper; i += 16) {
        const int64_t left = upper - i;
        const __mmask16 lanes = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        const __m512 rounded = _mm512_cvt_roundepi32_ps(_mm512_maskz_loadu_epi32(lanes, sums + i),
                                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m512 result = _mm512_mul_ps(rounded, factor);
        infinite |= _mm512_mask_cmpeq_epi32_mask(lanes, _mm512_and_si512(_mm512_castps_si512(result), magnitude), infinity);
        _mm512_mask_storeu_ps(values + i, lanes, result);
    }
    return infinite != 0;
}

int lockstep_fixed_to_float(const void *sums, int width, const int64_t *starts, ptrdiff_t blocks, const int64_t *codes,
                            int carryBits, float *values) {
    const int fast = use_avx512();
    int nonFinite = 0;
    for (ptrdiff_t b = 0; b < blocks; b++) {
        const int64_t lower = starts[b], upper = starts[b + 1], code = codes[b];
        if (fill_special_block(code, lower, upper, &nonFinite, values)) continue;
        const int shift = lockstep_fixed_shift(code, carryBits, width);
        const double inverse = ldexp(1.0, -shift);
        // A quantum below the smallest normal float (tiny blocks) can make subnormal results,
        // which the double paths flush.
        if (fast && shift <= 126 && width == 32) nonFinite |= to_float32_avx512_normal(sums, lower, upper, (float)inverse, values);
        else if (fast && shift <= 126) nonFinite |= to_float_avx512_normal(sums, lower, upper, (float)inverse, values);
        else if (fast && width == 64) nonFinite |= to_float_avx512(sums, lower, upper, inverse, values);
        else nonFinite |= to_float_portable(sums, width, lower, upper, inverse, values);
    }
    return nonFinite;
}
