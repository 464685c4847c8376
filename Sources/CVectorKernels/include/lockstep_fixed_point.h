#ifndef LOCKSTEP_FIXED_POINT_H
#define LOCKSTEP_FIXED_POINT_H

// The exact, order-independent sum of the world-size-invariant mode (Sources/Collectives/
// FixedPointSum.swift): each float becomes a 32- or 64-bit integer at an exponent agreed per block, the
// integers are summed (integer addition is associative, so any grouping gives the same bits), and
// the sums become floats again. Every function gives the same bits with and without AVX-512, and
// whatever the caller's MXCSR flush-to-zero, denormals-are-zero and rounding-mode bits: subnormal
// inputs and outputs are flushed to zero explicitly, and every rounding is to nearest, ties to even.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The exponent code of a block with a NaN (above every finite or infinite code).
#define LOCKSTEP_FIXED_NAN 256
/// The exponent code of a block with an infinity and no NaN.
#define LOCKSTEP_FIXED_INFINITY 255

/// For each block `b` (elements `starts[b] ..< starts[b + 1]` of `values`):
/// `codes[b] = max(codes[b], code of every element)`, where an element's code is its biased IEEE
/// exponent (0 for zeros and subnormals, 1…254 for normal numbers), 255 for ±infinity and 256 for
/// NaN.
void lockstep_fixed_exponent_codes(const float *values, const int64_t *starts, ptrdiff_t blocks, int64_t *codes);

/// The power of two the elements of a block with exponent code `code` (1…254) are multiplied by
/// before rounding to a `width`-bit integer (32 or 64), for sums of at most `2^carryBits` terms:
/// `126 + (width − 2) − carryBits − code` (188 − carryBits − code for 64 bits, 156 − … for 32).
/// Every term is then at most `2^(width − 2 − carryBits)` in magnitude and any sum of
/// `2^carryBits` terms at most `2^(width − 2)`: no overflow.
int lockstep_fixed_shift(int64_t code, int carryBits, int width);

/// `sums[i] = Σ_s round(slots[s][i] × 2^shift)` over the `slotCount` slots, for each block with a
/// finite, non-zero code (1…254) and `shift = lockstep_fixed_shift(code, carryBits, width)`; 0 in
/// the other blocks. `sums` holds `int32_t` (`width` 32) or `int64_t` (64). Rounding to nearest,
/// ties to even; subnormal inputs count as zero.
void lockstep_fixed_sum(const float *const *slots, ptrdiff_t slotCount, const int64_t *starts, ptrdiff_t blocks,
                        const int64_t *codes, int carryBits, int width, void *sums);

/// `values[i] = float(sums[i]) × 2^−shift` (one rounding, to nearest even; a result below the
/// smallest normal float is 0, one above the largest is ±infinity); code 0 gives 0, code 255
/// +infinity and 256 NaN. `sums` as for `lockstep_fixed_sum`. Returns 1 when some value written
/// is not finite, else 0.
int lockstep_fixed_to_float(const void *sums, int width, const int64_t *starts, ptrdiff_t blocks, const int64_t *codes,
                            int carryBits, float *values);

/// 1 when the fast AVX-512 (F, DQ and VL) paths run on this CPU, else 0.
int lockstep_fixed_avx512(void);
/// Forces the portable paths (1) or allows AVX-512 again (0): for the tests that compare them.
void lockstep_fixed_force_portable(int portable);

#ifdef __cplusplus
}
#endif

#endif
