// lockstep_vector: AVX-512 row kernels for the convolution and pooling passes, chosen at run
// time. The Swift kernels (`Sources/Kernels`) are compiled for the x86-64 baseline (SSE), so that
// one binary runs on every x86-64 CPU; the moves, additions and comparisons below are the same
// operations on each element in the same order, 16 lanes at a time, so they give the same bits as
// the Swift loops they replace (tested side by side in `VectorKernelsTests`).
//
// Every function here requires `lockstep_vector_avx512()` to have returned 1; callers check.
// Sizes are element counts (floats or int32), strides are in elements; rows do not overlap.
#ifndef LOCKSTEP_VECTOR_H
#define LOCKSTEP_VECTOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU runs AVX-512F and the operating system saves its registers (CPUID leaf 7 bit 16,
/// OSXSAVE and XCR0 opmask/ZMM state); 0 otherwise. Cached after the first call.
int lockstep_vector_avx512(void);

/// 1 when the CPU (and the OS) run AVX-512 F, DQ and VL: the fixed-point sum's kernels
/// (`lockstep_fixed_point.h`), else 0.
int lockstep_vector_avx512_dq_vl(void);

/// 2×2 max pooling with stride 2 of `planes` planes `[height, width]` into `[height / 2, width / 2]`,
/// with each value first taken as `x + bias[plane]` (when `bias` is not NULL) and clipped at 0 when
/// `relu` (`v < 0 ? 0 : v`, NaN kept). Each output is the first of `a, b, c, d` (the window in row
/// order) that no later one exceeds with `>`, or the window's first NaN; `argmax` receives its
/// index in the input plane. Same results as `maxPoolForward` in `Sources/Kernels/Pooling.swift`.
void lockstep_vector_max_pool_2x2(const float *input, float *output, int32_t *argmax, ptrdiff_t planes,
                                  ptrdiff_t height, ptrdiff_t width, const float *bias, int relu);

/// The gradient of `lockstep_vector_max_pool_2x2`: `inputGradient` `[planes, height, width]` is
/// overwritten with 0 except at each window's `argmax`, which receives `0 + outputGradient`
/// (only where `reluOutput`, when not NULL, is > 0): the same bits as zeroing the planes and
/// adding each gradient at its `argmax` (`maxPoolBackward` in `Sources/Kernels/Pooling.swift`).
/// Every `argmax` must lie in its own window, as the forward pass writes it.
void lockstep_vector_max_pool_2x2_backward(const float *outputGradient, const int32_t *argmax, const float *reluOutput,
                                           float *inputGradient, ptrdiff_t planes, ptrdiff_t height, ptrdiff_t width);

/// Rows of stride-1 patches straight from an unpadded plane `[height, width]`: row `r < rows` of
/// `target` (`count` floats each, `count` apart) = plane row `r + rowOffset`, columns
/// `columnOffset …< columnOffset + count`, with +0 wherever that falls outside the plane (the zero
/// border of the padding; offsets may be negative). Reads only inside the plane (masked loads);
/// writes whole 16-float vectors, up to 15 floats past each target row (the next row overwrites
/// them; past the last row, the caller's slack). The same floats as copying rows of the padded
/// plane (`im2col` in `Sources/Kernels/Convolution.swift`).
void lockstep_vector_patch_rows(const float *plane, ptrdiff_t height, ptrdiff_t width, ptrdiff_t rowOffset,
                                ptrdiff_t columnOffset, float *target, ptrdiff_t rows, ptrdiff_t count);

/// `target[r * targetStride + i] += source[r * sourceStride + i]` for `r < rows`, `i < count`.
void lockstep_vector_add_rows(const float *source, ptrdiff_t sourceStride, float *target, ptrdiff_t targetStride,
                              ptrdiff_t rows, ptrdiff_t count);

/// Row r of `target` (`targetStride` apart) = row r of `source` (`count` floats, `sourceStride`
/// apart) followed by zeros up to `targetCount` floats (`targetCount ≥ count`); nothing else written.
void lockstep_vector_copy_rows_zero_filled(const float *source, ptrdiff_t sourceStride, ptrdiff_t count, float *target,
                                           ptrdiff_t targetStride, ptrdiff_t targetCount, ptrdiff_t rows);

/// `input` `[planes, height, width]` into `padded` `[planes, height + 2p, width + 2p]` inside a zero
/// border of `padding` on every side (`padInput` in `Sources/Kernels/Convolution.swift`).
void lockstep_vector_pad_planes(const float *input, float *padded, ptrdiff_t planes, ptrdiff_t height, ptrdiff_t width,
                                ptrdiff_t padding);

#ifdef __cplusplus
}
#endif

#endif
