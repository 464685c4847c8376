// A convolution with the ReLU and the max pooling that follow it, run one sample at a time so
// that the convolution's output and its gradient never leave the cache (the pattern of most
// image networks: `conv2d relu maxpool2d`). Shapes as in `Convolution.swift` and `Pooling.swift`:
//   X [N, C, H, W] input    Y [N, O, OH', OW'] output (pooled; [N, O, OH, OW] without pooling)
//   argmax [N, O, OH', OW'] where each pooled value came from (with pooling)

/// A convolution, optionally followed by a ReLU and by a max pooling of its output planes, as
/// one unit of work per sample.
///
/// Forward, per sample: `im2col`, the GEMM `W · cols` `[O, K] · [K, P]`, bias and ReLU in one
/// pass, and the max pooling, into a per-sample scratch of `[O, P]` that stays in cache; only
/// the pooled output (and where each value came from) is written to the batch. Backward, per
/// sample: the pooling's gradient with the ReLU's derivative (`maxPoolBackward(reluOutput:)`),
/// the patches computed again (cheaper than keeping `[N, K, P]` floats and reading them back
/// from memory), `dW += dY · colsᵀ`, `db += Σ dY`, and when asked `dX = col2im(Wᵀ · dY)`.
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

    /// - Precondition: `pooling`, when given, pools the convolution's output planes.
    public init(convolution: ConvolutionGeometry, relu: Bool, pooling: PoolingGeometry?) {
        if let pooling {
            precondition(pooling.inputHeight == convolution.outputHeight && pooling.inputWidth == convolution.outputWidth,
                         "pooling \(pooling) of \(convolution)")
        }
        self.convolution = convolution
        self.relu = relu
        self.pooling = pooling
    }

    /// Floats of one sample's output: pooled `[O, OH', OW']`, or `[O, OH, OW]`.
    public var outputSize: Int {
        convolution.outputChannels * (pooling?.outputPlaneSize ?? convolution.patchCount)
    }

    /// Floats of the scratch `forward` and `backward` need (`Scratch.layout`).
    public var scratchSize: Int { Scratch.size(self) }

    /// Per-sample scratch carved from one buffer: the patches `[K, P]`, their gradient `[K, P]`,
    /// the convolution's output or its gradient `[O, P]` (with pooling) and the padded input.
    public struct Scratch {
        public let columns: UnsafeMutablePointer<Float>
        public let columnGradient: UnsafeMutablePointer<Float>
        public let planes: UnsafeMutablePointer<Float>
        public let padded: UnsafeMutablePointer<Float>

        /// The scratch at `base`, which holds at least `block.scratchSize` floats.
        public init(_ base: UnsafeMutablePointer<Float>, for block: ConvolutionBlock) {
            let g = block.convolution
            columns = base
            columnGradient = base + g.columnsSize
            planes = columnGradient + g.columnsSize
            padded = planes + (block.pooling == nil ? 0 : g.outputSize)
        }

        static func size(_ block: ConvolutionBlock) -> Int {
            let g = block.convolution
            return 2 * g.columnsSize + (block.pooling == nil ? 0 : g.outputSize) + g.paddedInputSize
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
            if let dx {
                // dcols[K, P] = W[O, K]ᵀ · dY[n][O, P]
                sgemm(transposeA: true, transposeB: false, m: k, n: p, k: o,
                      alpha: 1, a: w, lda: k, b: gradient, ldb: p, beta: 0, c: scratch.columnGradient, ldc: p)
                col2im(columns: scratch.columnGradient, inputGradient: dx + n * g.inputSize, padded: scratch.padded,
                       geometry: g)
            }
            if (n + 1) % progressInterval == 0 && n + 1 < batchSize { try between() }
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
