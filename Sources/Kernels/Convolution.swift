// 2-D convolution over NCHW Float buffers, as GEMMs over im2col columns (PyTorch's `nn.Conv2d`
// with groups 1 and dilation 1: cross-correlation, zero padding on every side).
//
// Legend: N batch, C input channels, H×W input size, O output channels, kh×kw kernel, s stride,
// p padding, OH×OW output size, K = C·kh·kw (rows of the columns), P = OH·OW (their count).
//   X [N, C, H, W] input            W [O, C, kh, kw] weights (= [O, K] row-major)
//   b [O] bias                      Y [N, O, OH, OW] output (= [N, O, P])
//   cols [N, K, P]: the input's patches, kept from forward for the weight gradient
//   dY [N, O, P]   gradient of the loss with respect to Y

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

/// The output columns `x` of a kernel column `j` that read inside the input: `0 ≤ x·s − p + j < W`.
@inline(__always)
func validColumns(_ g: ConvolutionGeometry, _ j: Int) -> Range<Int> {
    // x ≥ (p − j) / s, rounded up; x ≤ (W − 1 + p − j) / s, rounded down.
    let low = max(0, (g.padding - j + g.stride - 1) / g.stride)
    let highNumerator = g.inputWidth - 1 + g.padding - j
    let high = highNumerator < 0 ? 0 : min(g.outputWidth, highNumerator / g.stride + 1)
    return low..<max(low, high)
}

/// One sample's patches: `cols[k, q]` = X[c, oh·s − p + i, ow·s − p + j] (0 outside the input),
/// with k = (c·kh + i)·kw + j and q = oh·OW + ow. `x` `[C, H, W]`, `columns` `[K, P]` (overwritten).
/// Each output row copies the run of columns that falls inside the input (contiguous for
/// stride 1) and zeroes the padding around it: no test per element.
@inline(__always)
public func im2col(input x: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, geometry g: ConvolutionGeometry) {
    let (oh, ow, h, w, s) = (g.outputHeight, g.outputWidth, g.inputHeight, g.inputWidth, g.stride)
    var row = columns
    for c in 0..<g.inputChannels {
        let plane = x + c * h * w
        for i in 0..<g.kernelHeight {
            for j in 0..<g.kernelWidth {
                let valid = validColumns(g, j)
                for y in 0..<oh {
                    let sourceRow = y * s - g.padding + i
                    let out = row + y * ow
                    guard sourceRow >= 0 && sourceRow < h, !valid.isEmpty else {
                        out.update(repeating: 0, count: ow)
                        continue
                    }
                    out.update(repeating: 0, count: valid.lowerBound)
                    let source = plane + sourceRow * w - g.padding + j
                    if s == 1 {
                        (out + valid.lowerBound).update(from: source + valid.lowerBound, count: valid.count)
                    } else {
                        for xIndex in valid { out[xIndex] = source[xIndex * s] }
                    }
                    (out + valid.upperBound).update(repeating: 0, count: ow - valid.upperBound)
                }
                row += oh * ow
            }
        }
    }
}

/// The adjoint of `im2col`: adds each `columns[k, q]` back to the input position it was read
/// from. `dx` `[C, H, W]` is overwritten (zeroed, then accumulated in a fixed order).
@inline(__always)
public func col2im(columns: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>, geometry g: ConvolutionGeometry) {
    let (oh, ow, h, w, s) = (g.outputHeight, g.outputWidth, g.inputHeight, g.inputWidth, g.stride)
    dx.update(repeating: 0, count: g.inputSize)
    var row = columns
    for c in 0..<g.inputChannels {
        let plane = dx + c * h * w
        for i in 0..<g.kernelHeight {
            for j in 0..<g.kernelWidth {
                let valid = validColumns(g, j)
                for y in 0..<oh {
                    let targetRow = y * s - g.padding + i
                    guard targetRow >= 0 && targetRow < h else { continue }
                    let source = row + y * ow
                    let target = plane + targetRow * w - g.padding + j
                    if s == 1 {
                        for xIndex in valid { target[xIndex] += source[xIndex] }
                    } else {
                        for xIndex in valid { target[xIndex * s] += source[xIndex] }
                    }
                }
                row += oh * ow
            }
        }
    }
}

/// Forward: `Y[n] = W · cols[n] + b` for every sample, then `activation` (ReLU fused into the
/// bias pass, as `denseForward`): one im2col and one `[O, K] · [K, P]` GEMM per sample, written
/// straight into NCHW. `columns` `[N, K, P]` keeps every sample's patches for the backward pass.
@inline(__always)
public func convolutionForward(
    input x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    output y: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>, batchSize: Int,
    geometry g: ConvolutionGeometry, activation: Activation = .identity
) {
    let (k, p, o) = (g.patchSize, g.patchCount, g.outputChannels)
    for n in 0..<batchSize {
        let cols = columns + n * k * p
        im2col(input: x + n * g.inputSize, columns: cols, geometry: g)
        let out = y + n * g.outputSize
        // Y[n][O, P] = W[O, K] · cols[K, P]
        sgemm(transposeA: false, transposeB: false, m: o, n: p, k: k,
              alpha: 1, a: w, lda: k, b: cols, ldb: p, beta: 0, c: out, ldc: p)
        for channel in 0..<o {
            let plane = out + channel * p
            let value = bias[channel]
            switch activation {
            case .identity:
                for q in 0..<p { plane[q] += value }
            case .relu:
                for q in 0..<p {
                    let v = plane[q] + value
                    plane[q] = v < 0 ? 0 : v
                }
            }
        }
    }
}

/// Weight and bias gradients: `dW = Σ_n dY[n] · cols[n]ᵀ` `[O, K]` (samples accumulated in
/// order by GEMMs with β = 1 after the first) and `db[o] = Σ_n Σ_q dY[n, o, q]` (overwritten).
@inline(__always)
public func convolutionParameterGradients(
    outputGradient dy: UnsafePointer<Float>, columns: UnsafePointer<Float>, weightGradient dw: UnsafeMutablePointer<Float>,
    biasGradient db: UnsafeMutablePointer<Float>, batchSize: Int, geometry g: ConvolutionGeometry
) {
    let (k, p, o) = (g.patchSize, g.patchCount, g.outputChannels)
    for n in 0..<batchSize {
        // dW[O, K] (+)= dY[n][O, P] · cols[n][K, P]ᵀ
        sgemm(transposeA: false, transposeB: true, m: o, n: k, k: p,
              alpha: 1, a: dy + n * g.outputSize, lda: p, b: columns + n * k * p, ldb: p,
              beta: n == 0 ? 0 : 1, c: dw, ldc: k)
    }
    db.update(repeating: 0, count: o)
    for n in 0..<batchSize {
        for channel in 0..<o { db[channel] += sum(dy + n * g.outputSize + channel * p, count: p) }
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

/// Input gradient: `dcols = Wᵀ · dY[n]` `[K, P]`, then `col2im` into `dX[n]` `[C, H, W]`
/// (overwritten). `columnGradient` is scratch of `[K, P]` floats.
@inline(__always)
public func convolutionInputGradient(
    outputGradient dy: UnsafePointer<Float>, weights w: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>,
    columnGradient: UnsafeMutablePointer<Float>, batchSize: Int, geometry g: ConvolutionGeometry
) {
    let (k, p, o) = (g.patchSize, g.patchCount, g.outputChannels)
    for n in 0..<batchSize {
        // dcols[K, P] = W[O, K]ᵀ · dY[n][O, P]
        sgemm(transposeA: true, transposeB: false, m: k, n: p, k: o,
              alpha: 1, a: w, lda: k, b: dy + n * g.outputSize, ldb: p, beta: 0, c: columnGradient, ldc: p)
        col2im(columns: columnGradient, inputGradient: dx + n * g.inputSize, geometry: g)
    }
}
