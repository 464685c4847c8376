// 2-D convolution over NCHW Float buffers, as GEMMs over im2col columns (PyTorch's `nn.Conv2d`
// with groups 1 and dilation 1: cross-correlation, zero padding on every side): the geometry and
// the patch kernels; `ConvolutionBlock` runs the GEMMs, one sample at a time.
//
// Legend: N batch, C input channels, H×W input size, O output channels, kh×kw kernel, s stride,
// p padding, OH×OW output size, K = C·kh·kw (rows of the columns), P = OH·OW (their count).
//   X [N, C, H, W] input            W [O, C, kh, kw] weights (= [O, K] row-major)
//   b [O] bias                      Y [N, O, OH, OW] output (= [N, O, P])
//   cols [K, P]: one sample's patches      dY [N, O, P]: gradient of the loss with respect to Y
//
// On CPUs with AVX-512, stride-1 `im2col` reads its patches straight from the unpadded input with
// masked loads, and `padInput` and stride-1 `col2im` copy and add their rows with `CVectorKernels`
// (the same bits; `VectorKernels`).

import CVectorKernels

/// The shape of one convolution: everything its kernels need, checked once.
public struct ConvolutionGeometry: Equatable, Sendable, CustomStringConvertible {
    public let inputChannels: Int
    public let inputHeight: Int
    public let inputWidth: Int
    public let outputChannels: Int
    public let kernelHeight: Int
    public let kernelWidth: Int
    public let stride: Int
    public let padding: Int

    /// - Precondition: every size positive, `padding ≥ 0`, and the padded input at least as
    ///   large as the kernel (callers check shapes first and report them as usage errors).
    public init(
        inputChannels: Int, inputHeight: Int, inputWidth: Int, outputChannels: Int, kernelHeight: Int,
        kernelWidth: Int, stride: Int = 1, padding: Int = 0
    ) {
        precondition(inputChannels > 0 && inputHeight > 0 && inputWidth > 0 && outputChannels > 0 && kernelHeight > 0
                     && kernelWidth > 0 && stride > 0 && padding >= 0
                     && inputHeight + 2 * padding >= kernelHeight && inputWidth + 2 * padding >= kernelWidth,
                     "convolution \(inputChannels)×\(inputHeight)×\(inputWidth) → \(outputChannels), kernel \(kernelHeight)×\(kernelWidth), stride \(stride), padding \(padding)")
        self.inputChannels = inputChannels
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.outputChannels = outputChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        self.padding = padding
    }

    /// `⌊(H + 2p − kh) / s⌋ + 1`, as PyTorch.
    public var outputHeight: Int { (inputHeight + 2 * padding - kernelHeight) / stride + 1 }
    public var outputWidth: Int { (inputWidth + 2 * padding - kernelWidth) / stride + 1 }
    /// K = C·kh·kw: the length of one patch, and the weight's row length.
    public var patchSize: Int { inputChannels * kernelHeight * kernelWidth }
    /// P = OH·OW: patches (output positions) per sample.
    public var patchCount: Int { outputHeight * outputWidth }
    /// Floats of one sample's input `[C, H, W]`.
    public var inputSize: Int { inputChannels * inputHeight * inputWidth }
    /// Floats of one sample's output `[O, OH, OW]`.
    public var outputSize: Int { outputChannels * patchCount }
    /// Weights `[O, C, kh, kw]`.
    public var weightCount: Int { outputChannels * patchSize }

    public var description: String {
        "\(inputChannels)×\(inputHeight)×\(inputWidth) → \(outputChannels)×\(outputHeight)×\(outputWidth), "
            + "kernel \(kernelHeight)×\(kernelWidth), stride \(stride), padding \(padding)"
    }
}

extension ConvolutionGeometry {
    /// `H + 2p` and `W + 2p`: the input inside its zero border (`padInput`).
    public var paddedHeight: Int { inputHeight + 2 * padding }
    public var paddedWidth: Int { inputWidth + 2 * padding }
    /// Floats past the end of a buffer that `col2im`'s 16-wide masked row additions may read and
    /// write back unchanged: the slack of `columnsSize` and `paddedInputSize`.
    public static let rowSlack = 16
    /// Floats of one sample's patches `[K, P]`, with the row kernels' slack.
    public var columnsSize: Int { patchSize * patchCount + Self.rowSlack }
    /// Floats of one sample's padded input `[C, H + 2p, W + 2p]`, with the row kernels' slack:
    /// the scratch `im2col` and `col2im` need.
    public var paddedInputSize: Int { inputChannels * paddedHeight * paddedWidth + Self.rowSlack }
}

/// `x` `[C, H, W]` into `padded` `[C, H + 2p, W + 2p]` with a zero border of `p` on every side
/// (a plain copy without padding).
@inline(__always)
func padInput(_ x: UnsafePointer<Float>, into padded: UnsafeMutablePointer<Float>, geometry g: ConvolutionGeometry) {
    let (h, w, p, wp) = (g.inputHeight, g.inputWidth, g.padding, g.paddedWidth)
    guard p > 0 else { return copyFloats(from: x, to: padded, count: g.inputSize) }
    if VectorKernels.enabled { return lockstep_vector_pad_planes(x, padded, g.inputChannels, h, w, p) }
    var target = padded
    for c in 0..<g.inputChannels {
        target.update(repeating: 0, count: p * wp)  // top border
        target += p * wp
        var source = x + c * h * w
        for _ in 0..<h {
            for i in 0..<p { target[i] = 0; target[p + w + i] = 0 }
            copyFloats(from: source, to: target + p, count: w)
            source += w
            target += wp
        }
        target.update(repeating: 0, count: p * wp)  // bottom border
        target += p * wp
    }
}

/// Adds rows of `count` floats in 16-wide vectors, the last one masked: `add` may read 15 floats
/// past both rows and writes back the values it read there unchanged.
struct RowAdder {
    let fullVectors: Int
    let tail: SIMDMask<SIMD16<Int32>>
    let hasTail: Bool

    init(count: Int) {
        fullVectors = count / 16
        let remainder = Int32(count % 16)
        hasTail = remainder != 0
        tail = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) .< SIMD16<Int32>(repeating: remainder)
    }

    /// `target[i] += source[i]` for `i < count`.
    @inline(__always)
    func add(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>) {
        typealias Lanes = SIMD16<Float>
        let s = UnsafeRawPointer(source), t = UnsafeMutableRawPointer(target)
        var bytes = 0
        for _ in 0..<fullVectors {
            (t + bytes).storeBytes(of: (t + bytes).loadUnaligned(as: Lanes.self) + (s + bytes).loadUnaligned(as: Lanes.self), as: Lanes.self)
            bytes += MemoryLayout<Lanes>.stride
        }
        guard hasTail else { return }
        let old = (t + bytes).loadUnaligned(as: Lanes.self)
        (t + bytes).storeBytes(of: old.replacing(with: old + (s + bytes).loadUnaligned(as: Lanes.self), where: tail), as: Lanes.self)
    }
}

/// `target[0..<count] = source[0..<count]` in 16-, 8- and 4-wide vectors (the last vector
/// overlapping the previous one instead of a scalar tail), never past either end.
@inline(__always)
func copyFloats(from source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
    let s = UnsafeRawPointer(source), t = UnsafeMutableRawPointer(target)
    @inline(__always) func copy<V: SIMD>(_: V.Type, _ offset: Int) where V.Scalar == Float {
        let bytes = offset * MemoryLayout<Float>.stride
        (t + bytes).storeBytes(of: (s + bytes).loadUnaligned(as: V.self), as: V.self)
    }
    if count >= 16 {
        for offset in stride(from: 0, to: count - 15, by: 16) { copy(SIMD16<Float>.self, offset) }
        if count % 16 != 0 { copy(SIMD16<Float>.self, count - 16) }
    } else if count >= 8 {
        copy(SIMD8<Float>.self, 0)
        if count > 8 { copy(SIMD8<Float>.self, count - 8) }
    } else if count >= 4 {
        copy(SIMD4<Float>.self, 0)
        if count > 4 { copy(SIMD4<Float>.self, count - 4) }
    } else {
        for i in 0..<count { target[i] = source[i] }
    }
}

/// One sample's patches: `cols[k, q]` = X[c, oh·s − p + i, ow·s − p + j] (0 outside the input),
/// with k = (c·kh + i)·kw + j and q = oh·OW + ow. `x` `[C, H, W]`; `columns` `[columnsSize]`
/// (overwritten) and `padded` `[paddedInputSize]` scratch. The input is first copied inside its
/// zero border, so that every row of `cols` is a plain copy (contiguous for stride 1); with the
/// AVX-512 kernels and stride 1, masked loads read the same values (and +0 for the border)
/// straight from `x`, and `padded` is not used.
@inline(__always)
public func im2col(
    input x: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, padded: UnsafeMutablePointer<Float>,
    geometry g: ConvolutionGeometry
) {
    let (oh, ow, hp, wp, s) = (g.outputHeight, g.outputWidth, g.paddedHeight, g.paddedWidth, g.stride)
    var row = columns
    if s == 1 && VectorKernels.enabled {  // a row of patches per call (into the columns' slack)
        let (h, w, p) = (g.inputHeight, g.inputWidth, g.padding)
        for c in 0..<g.inputChannels {
            for i in 0..<g.kernelHeight {
                for j in 0..<g.kernelWidth {
                    lockstep_vector_patch_rows(x + c * h * w, h, w, i - p, j - p, row, oh, ow)
                    row += oh * ow
                }
            }
        }
        return
    }
    padInput(x, into: padded, geometry: g)
    for c in 0..<g.inputChannels {
        let plane = padded + c * hp * wp
        for i in 0..<g.kernelHeight {
            for j in 0..<g.kernelWidth {
                var from = plane + i * wp + j
                for _ in 0..<oh {
                    if s == 1 {
                        copyFloats(from: from, to: row, count: ow)
                    } else {
                        for x in 0..<ow { row[x] = from[x &* s] }
                    }
                    from += s * wp
                    row += ow
                }
            }
        }
    }
}

/// The adjoint of `im2col`: adds each `columns[k, q]` back to the input position it was read
/// from, in a fixed order, into a zeroed padded copy whose inside is then copied out. `columns`
/// `[columnsSize]`; `dx` `[C, H, W]` is overwritten; `padded` `[paddedInputSize]` is scratch.
@inline(__always)
public func col2im(
    columns: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>, padded: UnsafeMutablePointer<Float>,
    geometry g: ConvolutionGeometry
) {
    let (oh, ow, hp, wp, s) = (g.outputHeight, g.outputWidth, g.paddedHeight, g.paddedWidth, g.stride)
    padded.update(repeating: 0, count: g.inputChannels * hp * wp)
    let rowAdder = RowAdder(count: ow)
    var row = columns
    let vector = s == 1 && VectorKernels.enabled
    for c in 0..<g.inputChannels {
        let plane = padded + c * hp * wp
        for i in 0..<g.kernelHeight {
            for j in 0..<g.kernelWidth {
                var to = plane + i * wp + j
                if vector {  // the same additions in the same order, a row of patches per call
                    lockstep_vector_add_rows(row, ow, to, wp, oh, ow)
                    row += oh * ow
                    continue
                }
                for _ in 0..<oh {
                    if s == 1 {
                        rowAdder.add(row, to: to)
                    } else {
                        for x in 0..<ow { to[x &* s] += row[x] }
                    }
                    to += s * wp
                    row += ow
                }
            }
        }
    }
    let (h, w, p) = (g.inputHeight, g.inputWidth, g.padding)
    if p == 0 { return copyFloats(from: padded, to: dx, count: g.inputSize) }
    for c in 0..<g.inputChannels {
        for y in 0..<h { copyFloats(from: padded + (c * hp + y + p) * wp + p, to: dx + (c * h + y) * w, count: w) }
    }
}

/// `Σ values[0..<count]` in sixteen interleaved partial sums (added pairwise at the end), then the
/// remainder in order: a fixed order, so the same bits on every run and rank, at vector speed.
@inline(__always)
func sum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    typealias Lanes = SIMD16<Float>
    let width = Lanes.scalarCount, vectorCount = count / width
    let raw = UnsafeRawPointer(values)
    var lanes = Lanes(repeating: 0)
    for v in 0..<vectorCount { lanes += raw.loadUnaligned(fromByteOffset: v * width * MemoryLayout<Float>.stride, as: Lanes.self) }
    var total = lanes.sum()
    for i in (vectorCount * width)..<count { total += values[i] }
    return total
}
