import Determinism
import Kernels
import Models

/// sgemm throughput on the model's own GEMM shapes: the compute roofline of a training step.
///
/// A step runs, per linear layer, the forward GEMM `X · Wᵀ`, the weight-gradient GEMM `dZᵀ · X`
/// and (when an earlier layer has parameters) the input-gradient GEMM `dZ · W`; per convolution,
/// the same three per sample over its patches (`W · cols`, `dY · colsᵀ`, and with stride 1 one
/// `W[:, :, i, j]ᵀ · dY` per kernel tap, else `Wᵀ · dY`; see `ConvolutionBlock.swift`). Each shape can be timed on its own (hot in cache), and the roofline runs
/// all of them in the step's order, one BLAS call per product (no row blocks), step after step:
/// the step's speed if everything but the GEMMs were free. Shapes are named by the layer's
/// ordinal among the layers with parameters (`layer0.forward`, as for the MLP).
public struct GEMMBenchmark {
    /// One GEMM `C[m, n] = op(A)[m, k] · op(B)[k, n]` of the model.
    public struct Shape: Codable, Equatable, Sendable {
        /// e.g. "layer0.forward", "layer1.weight_gradient", "layer1.input_gradient".
        public let name: String
        public let m: Int, n: Int, k: Int
        public let transposeA: Bool, transposeB: Bool
        /// Calls per step: 1, or the batch for a convolution's per-sample GEMMs (times the taps
        /// for its tap-by-tap input gradient).
        public var calls: Int = 1
        /// C's row stride when it is not `n` (a tap's view of the padded input gradient).
        public var ldc: Int? = nil
        /// Whether C accumulates (β = 1) as in the step, rather than being overwritten.
        public var accumulates = false
        /// FLOPs per step, as executed (a tap-by-tap input gradient also multiplies the zeros
        /// that pad `dY` to the padded width, so it executes more than the useful FLOPs).
        public var flops: Int { 2 * m * n * k * calls }
    }

    /// One shape's result (a JSON line with `"bench": "gemm"`).
    public struct ShapeResult: Codable, Sendable {
        public var bench = "gemm"
        public let shape: String
        public let m: Int, n: Int, k: Int
        /// Calls per step when more than one (a convolution's per-sample GEMMs), else absent.
        public let calls: Int?
        /// Seconds and GFLOP/s of one call.
        public let seconds: Double
        public let gflops: Double
    }

    /// The roofline of a whole step (a JSON line with `"bench": "gemm", "shape": "step"`).
    public struct Roofline: Codable, Sendable {
        public var bench = "gemm"
        public var shape = "step"
        public let model: String
        public let batch: Int
        public let flops: Int
        public let seconds: Double
        public let gflops: Double
        public let blasCore: String
        public let blasThreads: Int

        /// The JSON names (snake_case, as printed).
        public enum CodingKeys: String, CodingKey {
            case bench, shape, model, batch, flops, seconds, gflops, blasCore = "blas_core", blasThreads = "blas_threads"
        }
    }

    /// How the roofline names the model: `784-512-256-10`, or the layer list.
    public let modelName: String
    public let batchSize: Int
    public let shapes: [Shape]
    private let a: FloatBuffer, b: FloatBuffer, c: FloatBuffer

    /// The GEMMs of a training step of `layers` (`ModelPlan.layers`) at `batchSize` rows.
    public init(layers: [ResolvedLayer], modelName: String, batchSize: Int) {
        precondition(batchSize > 0, "batch \(batchSize)")
        self.modelName = modelName
        self.batchSize = batchSize
        var shapes: [Shape] = []
        var ordinal = 0
        for layer in layers where layer.spec.hasParameters {
            let name = "layer\(ordinal)"
            let needsInputGradient = ordinal > 0
            switch (layer.spec, layer.input, layer.output) {
            case let (.conv2d(outputs, kh, kw, stride, padding), .image(channels, _, inputWidth), .image(_, height, width)):
                let (patch, patches) = (channels * kh * kw, height * width)
                shapes.append(Shape(name: "\(name).forward", m: outputs, n: patches, k: patch, transposeA: false, transposeB: false, calls: batchSize))
                shapes.append(Shape(name: "\(name).weight_gradient", m: outputs, n: patch, k: patches, transposeA: false, transposeB: true, calls: batchSize))
                if needsInputGradient && stride == 1 {
                    // ConvolutionBlock's tap-by-tap input gradient: one GEMM per tap and sample.
                    let paddedWidth = inputWidth + 2 * padding
                    shapes.append(Shape(name: "\(name).input_gradient", m: channels, n: height * paddedWidth - (kw - 1), k: outputs,
                                        transposeA: true, transposeB: false, calls: batchSize * kh * kw,
                                        ldc: (height - 1 + kh) * paddedWidth, accumulates: true))
                } else if needsInputGradient {
                    shapes.append(Shape(name: "\(name).input_gradient", m: patch, n: patches, k: outputs, transposeA: true, transposeB: false, calls: batchSize))
                }
            default:
                let (i, o) = (layer.input.elementCount, layer.output.elementCount)
                shapes.append(Shape(name: "\(name).forward", m: batchSize, n: o, k: i, transposeA: false, transposeB: true))
                shapes.append(Shape(name: "\(name).weight_gradient", m: o, n: i, k: batchSize, transposeA: true, transposeB: false))
                if needsInputGradient {
                    shapes.append(Shape(name: "\(name).input_gradient", m: batchSize, n: i, k: o, transposeA: false, transposeB: false))
                }
            }
            ordinal += 1
        }
        self.shapes = shapes
        let largest = shapes.map { max($0.m * $0.k, $0.k * $0.n, $0.m * ($0.ldc ?? $0.n)) }.max() ?? 1
        var generator = SeededGenerator(seed: 7)
        a = FloatBuffer(count: largest)
        b = FloatBuffer(count: largest)
        c = FloatBuffer(count: largest)
        for i in 0..<largest {
            a[i] = Float(generator.nextGaussian())
            b[i] = Float(generator.nextGaussian())
        }
    }

    /// Median seconds per call of each shape.
    public func measureShapes(repetitions: Int, batchSeconds: Double) -> [ShapeResult] {
        shapes.map { shape in
            let seconds = Timing.secondsPerCall(repetitions: repetitions, batchSeconds: batchSeconds) { run(shape) }
            return ShapeResult(shape: shape.name, m: shape.m, n: shape.n, k: shape.k, calls: shape.calls == 1 ? nil : shape.calls,
                               seconds: seconds, gflops: Double(shape.flops / shape.calls) / seconds / 1e9)
        }
    }

    /// Seconds per step of the step's GEMMs alone: every shape once, in the step's order, `steps`
    /// times in a row (one timed batch; take medians over several).
    public func secondsPerStep(steps: Int) -> Double {
        let start = Timing.now()
        for _ in 0..<steps {
            for shape in shapes {
                for _ in 0..<shape.calls { run(shape) }
            }
        }
        return (Timing.now() - start) / Double(steps)
    }

    /// The step's GEMM FLOPs over the median of `repetitions` batches of `secondsPerStep`.
    public func roofline(repetitions: Int, steps: Int) -> Roofline {
        _ = secondsPerStep(steps: 1)  // warm-up
        let seconds = Timing.median((0..<repetitions).map { _ in secondsPerStep(steps: steps) })
        return roofline(secondsPerStep: seconds)
    }

    /// The roofline for a measured `secondsPerStep`.
    public func roofline(secondsPerStep seconds: Double) -> Roofline {
        Roofline(model: modelName, batch: batchSize, flops: flopsPerStep, seconds: seconds,
                 gflops: Double(flopsPerStep) / seconds / 1e9, blasCore: BLASRuntime.coreName,
                 blasThreads: BLASRuntime.threadCount)
    }

    /// The step's GEMM FLOPs (for the MLP, `ParameterLayout.trainingFLOPsPerSample × batchSize`).
    public var flopsPerStep: Int { shapes.reduce(0) { $0 + $1.flops } }

    @inline(__always)
    private func run(_ shape: Shape) {
        sgemm(transposeA: shape.transposeA, transposeB: shape.transposeB, m: shape.m, n: shape.n, k: shape.k,
              alpha: 1, a: a.baseAddress, lda: shape.transposeA ? shape.m : shape.k, b: b.baseAddress,
              ldb: shape.transposeB ? shape.k : shape.n, beta: shape.accumulates ? 1 : 0, c: c.baseAddress,
              ldc: shape.ldc ?? shape.n)
    }
}
