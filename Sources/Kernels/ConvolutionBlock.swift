// A convolution with the ReLU and the max pooling that follow it, run one sample at a time so
// that the convolution's output and its gradient never leave the cache (the pattern of most
// image networks: `conv2d relu maxpool2d`). Shapes as in `Convolution.swift` and `Pooling.swift`:
//   X [N, C, H, W] input    Y [N, O, OH', OW'] output (pooled; [N, O, OH, OW] without pooling)
//   argmax [N, O, OH', OW'] where each pooled value came from (with pooling)

import CVectorKernels

/// A convolution, optionally followed by a ReLU and by a max pooling of its output planes, as
/// one unit of work per sample.
///
/// Forward, per sample: `im2col`, the GEMM `W · cols` `[O, K] · [K, P]`, bias and ReLU in one
/// pass, and the max pooling, into a per-sample scratch of `[O, P]` that stays in cache; only
/// the pooled output (and where each value came from) is written to the batch. Backward, per
/// sample: the pooling's gradient with the ReLU's derivative (`maxPoolBackward(reluOutput:)`),
/// the patches computed again (cheaper than keeping `[N, K, P]` floats and reading them back
/// from memory), `dW += dY · colsᵀ`, `db += Σ dY`, and when asked the input's gradient.
///
/// The input's gradient, with stride 1, skips the `[K, P]` patch gradient: each kernel tap
/// (i, j) adds `W[:, :, i, j]ᵀ · dY` (`[C, O] · [O, P]`) straight into the padded input's
/// gradient, shifted by (i, j). That needs `dY` laid out on the padded width (`OH` rows of `W + 2p`
/// floats, the last `kw − 1` of each zero) so that one GEMM per tap, with `ldc = (H + 2p)(W + 2p)`,
/// covers every output position (the zero columns add +0 products). The taps are added in the
/// order `col2im` adds them and each GEMM sums over O as the single GEMM does, so the sums are
/// those of `dX = col2im(Wᵀ · dY)` bit for bit with OpenBLAS (`VectorKernelsTests` checks it),
/// without writing and re-reading the patch gradient (`kh·kw` GEMMs of `[C, O] · [O, OH·(W + 2p) − kw + 1]` instead of one of
/// `[K, O] · [O, P]`; `bench gemm --model` lists these shapes). Other strides use `col2im`.
///
/// The arithmetic is that of the unfused layers: the same GEMMs with the same operands, in the
/// same order (samples in order, `dW` accumulated with β = 1 after the first sample), so fusing
/// changes no bit.
public struct ConvolutionBlock: Equatable, Sendable {
    public let convolution: ConvolutionGeometry
    /// The ReLU applied in the bias pass (and its derivative in the pooling's backward).
    public let relu: Bool
    /// Max pooling of each output plane, or nil.
    public let pooling: PoolingGeometry?

    /// True when the input's gradient goes tap by tap into the padded gradient (stride 1 only),
    /// false when it goes through the patches' gradient and `col2im`.
    public let computesInputGradientByTap: Bool

    /// - Parameter inputGradientByTap: the tap-by-tap input gradient (default: with stride 1);
    ///   false forces `col2im` (tests compare the two).
    /// - Precondition: `pooling`, when given, pools the convolution's output planes; tap by tap
    ///   only with stride 1.
    public init(convolution: ConvolutionGeometry, relu: Bool, pooling: PoolingGeometry?, inputGradientByTap: Bool? = nil) {
        if let pooling {
            precondition(pooling.inputHeight == convolution.outputHeight && pooling.inputWidth == convolution.outputWidth,
                         "pooling \(pooling) of \(convolution)")
        }
        precondition(inputGradientByTap != true || convolution.stride == 1, "a tap-by-tap input gradient needs stride 1")
        self.convolution = convolution
        self.relu = relu
        self.pooling = pooling
        computesInputGradientByTap = inputGradientByTap ?? (convolution.stride == 1)
    }

    /// Floats of one sample's output: pooled `[O, OH', OW']`, or `[O, OH, OW]`.
    public var outputSize: Int {
        convolution.outputChannels * (pooling?.outputPlaneSize ?? convolution.patchCount)
    }

    /// Floats of the scratch `forward` and `backward` need (`Scratch.layout`).
    public var scratchSize: Int { Scratch.size(self) }

    /// Per-sample scratch carved from one buffer: the patches `[K, P]`, the convolution's output
    /// or its gradient `[O, P]` (with pooling), the padded input (or its gradient), and for the
    /// input's gradient either the patches' gradient `[K, P]` (`col2im`) or, tap by tap, the
    /// weights regrouped per tap `[kh·kw, O, C]` and `dY` on the padded width `[O, OH·(W + 2p)]`.
    public struct Scratch {
        public let columns: UnsafeMutablePointer<Float>
        public let planes: UnsafeMutablePointer<Float>
        public let padded: UnsafeMutablePointer<Float>
        /// `[K, P]` (`col2im`), or the tap weights followed by the widened gradient.
        public let inputGradientWork: UnsafeMutablePointer<Float>

        /// The scratch at `base`, which holds at least `block.scratchSize` floats.
        public init(_ base: UnsafeMutablePointer<Float>, for block: ConvolutionBlock) {
            let g = block.convolution
            columns = base
            planes = columns + g.columnsSize
            padded = planes + (block.pooling == nil ? 0 : g.outputSize)
            inputGradientWork = padded + g.paddedInputSize
        }

        static func size(_ block: ConvolutionBlock) -> Int {
            let g = block.convolution
            let work = block.computesInputGradientByTap
                ? g.weightCount + g.outputChannels * g.outputHeight * g.paddedWidth : g.columnsSize
            return g.columnsSize + (block.pooling == nil ? 0 : g.outputSize) + g.paddedInputSize + work
        }
    }

    /// `Y = pool(relu(conv(X)))` for `batchSize` samples; `argmax` `[N, outputSize]` is written
    /// with pooling (and unused without).
    @inline(__always)
    public func forward(
        input x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        output y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>?, scratch: Scratch, batchSize: Int
    ) {
        precondition(pooling == nil || argmax != nil, "a pooled convolution block needs its argmax buffer")
        let g = convolution
        let (k, p, o) = (g.patchSize, g.patchCount, g.outputChannels)
        for n in 0..<batchSize {
            im2col(input: x + n * g.inputSize, columns: scratch.columns, padded: scratch.padded, geometry: g)
            let out = pooling == nil ? y + n * outputSize : scratch.planes
            // Y[n][O, P] = W[O, K] · cols[K, P]
            sgemm(transposeA: false, transposeB: false, m: o, n: p, k: k,
                  alpha: 1, a: w, lda: k, b: scratch.columns, ldb: p, beta: 0, c: out, ldc: p)
            if let pooling {  // the bias and ReLU applied by the pooling, to the values it reads
                maxPoolForward(input: out, output: y + n * outputSize, argmax: argmax! + n * outputSize, planes: o,
                               geometry: pooling, bias: bias, relu: relu)
            } else {
                addBias(bias, to: out, channels: o, planeSize: p, relu: relu)
            }
        }
    }

    /// Gradients of the block for `dY` `[N, outputSize]`: `dW` `[O, K]` and `db` `[O]`
    /// overwritten, `dX` `[N, C, H, W]` overwritten when given. `y` and `argmax` are the forward
    /// pass's (with pooling; `y` gives the ReLU's derivative); `x` its input. Without pooling,
    /// `dY` must already hold the ReLU's derivative (the ReLU layer's own backward).
    /// `between` runs after every `progressInterval` samples (to progress a reduction).
    @inline(__always)
    public func backward(
        outputGradient dy: UnsafePointer<Float>, output y: UnsafePointer<Float>, argmax: UnsafePointer<Int32>?,
        input x: UnsafePointer<Float>, weights w: UnsafePointer<Float>, weightGradient dw: UnsafeMutablePointer<Float>,
        biasGradient db: UnsafeMutablePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>?, scratch: Scratch,
        batchSize: Int, progressInterval: Int = 16, between: () throws -> Void
    ) rethrows {
        precondition(pooling == nil || argmax != nil, "a pooled convolution block needs its argmax buffer")
        let g = convolution
        let (k, p, o) = (g.patchSize, g.patchCount, g.outputChannels)
        db.update(repeating: 0, count: o)
        let tapwise = dx != nil && computesInputGradientByTap
        if tapwise { regroupWeightsByTap(w, into: scratch.inputGradientWork) }
        for n in 0..<batchSize {
            let gradient: UnsafePointer<Float>
            if let pooling {
                maxPoolBackward(
                    outputGradient: dy + n * outputSize, argmax: argmax! + n * outputSize, inputGradient: scratch.planes,
                    planes: o, geometry: pooling, reluOutput: relu ? y + n * outputSize : nil)
                gradient = UnsafePointer(scratch.planes)
            } else {
                gradient = dy + n * outputSize
            }
            for channel in 0..<o { db[channel] += sum(gradient + channel * p, count: p) }
            im2col(input: x + n * g.inputSize, columns: scratch.columns, padded: scratch.padded, geometry: g)
            // dW[O, K] (+)= dY[n][O, P] · cols[K, P]ᵀ
            sgemm(transposeA: false, transposeB: true, m: o, n: k, k: p,
                  alpha: 1, a: gradient, lda: p, b: scratch.columns, ldb: p, beta: n == 0 ? 0 : 1, c: dw, ldc: k)
            if let dx, tapwise {
                inputGradientByTap(gradient, inputGradient: dx + n * g.inputSize, scratch: scratch)
            } else if let dx {
                // dcols[K, P] = W[O, K]ᵀ · dY[n][O, P]
                sgemm(transposeA: true, transposeB: false, m: k, n: p, k: o,
                      alpha: 1, a: w, lda: k, b: gradient, ldb: p, beta: 0, c: scratch.inputGradientWork, ldc: p)
                col2im(columns: scratch.inputGradientWork, inputGradient: dx + n * g.inputSize, padded: scratch.padded,
                       geometry: g)
            }
            if (n + 1) % progressInterval == 0 && n + 1 < batchSize { try between() }
        }
    }
}

extension ConvolutionBlock {
    /// `taps[(i·kw + j)][o][c] = W[o][c][i][j]`: one `[O, C]` matrix per kernel tap.
    @inline(__always)
    func regroupWeightsByTap(_ w: UnsafePointer<Float>, into taps: UnsafeMutablePointer<Float>) {
        let g = convolution
        let (o, c, t) = (g.outputChannels, g.inputChannels, g.kernelHeight * g.kernelWidth)
        for tap in 0..<t {
            for out in 0..<o {
                for channel in 0..<c { taps[(tap * o + out) * c + channel] = w[(out * c + channel) * t + tap] }
            }
        }
    }

    /// One sample's `dX` `[C, H, W]` from `dY` `[O, P]` (stride 1), tap by tap: `dY` copied onto
    /// the padded width, then for each tap (i, j) in `col2im`'s order
    /// `dXpad[C, shifted by (i, j)] += taps[i, j]ᵀ · dY'`, and the inside of `dXpad` copied out.
    @inline(__always)
    func inputGradientByTap(
        _ dy: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>, scratch: Scratch
    ) {
        let g = convolution
        let (o, c, oh, ow, hp, wp) = (g.outputChannels, g.inputChannels, g.outputHeight, g.outputWidth,
                                      g.paddedHeight, g.paddedWidth)
        let taps = scratch.inputGradientWork, widened = taps + g.weightCount
        let span = oh * wp  // one output channel's gradient on the padded width
        if VectorKernels.enabled {
            lockstep_vector_copy_rows_zero_filled(dy, ow, ow, widened, wp, wp, o * oh)
        } else {
            for row in 0..<(o * oh) {
                copyFloats(from: dy + row * ow, to: widened + row * wp, count: ow)
                (widened + row * wp + ow).update(repeating: 0, count: wp - ow)
            }
        }
        let plane = hp * wp
        scratch.padded.update(repeating: 0, count: c * plane)
        // The last row's trailing zeros are left out: they would reach past the last plane.
        let columns = span - (wp - ow)
        for i in 0..<g.kernelHeight {
            for j in 0..<g.kernelWidth {
                // dXpad[C, i·wp + j …] += taps[i, j][O, C]ᵀ · dY'[O, columns]
                sgemm(transposeA: true, transposeB: false, m: c, n: columns, k: o, alpha: 1,
                      a: taps + (i * g.kernelWidth + j) * o * c, lda: c, b: widened, ldb: span,
                      beta: 1, c: scratch.padded + i * wp + j, ldc: plane)
            }
        }
        let (h, w, p) = (g.inputHeight, g.inputWidth, g.padding)
        for channel in 0..<c {
            let inside = scratch.padded + (channel * hp + p) * wp + p, target = dx + channel * h * w
            if VectorKernels.enabled {
                lockstep_vector_copy_rows_zero_filled(inside, wp, w, target, w, w, h)
            } else {
                for y in 0..<h { copyFloats(from: inside + y * wp, to: target + y * w, count: w) }
            }
        }
    }
}

/// `plane[o][q] += bias[o]` for `channels` planes of `planeSize`, with the ReLU when asked
/// (NaN-propagating: `v < 0 ? 0 : v`).
@inline(__always)
func addBias(_ bias: UnsafePointer<Float>, to planes: UnsafeMutablePointer<Float>, channels: Int, planeSize p: Int, relu: Bool) {
    for channel in 0..<channels {
        let plane = planes + channel * p
        let value = bias[channel]
        if relu {
            for q in 0..<p {
                let v = plane[q] + value
                plane[q] = v < 0 ? 0 : v
            }
        } else {
            for q in 0..<p { plane[q] += value }
        }
    }
}
