import Determinism
import Kernels

/// A multilayer perceptron with ReLU hidden layers and a softmax cross-entropy head, over one flat
/// parameter buffer and one flat gradient buffer laid out by `ParameterLayout`.
///
/// Training uses `LayerStack` since layer lists exist (issue 13); this is the model it replaced,
/// kept as an independent reference: the `mlp` preset must compute its very bits (ModelsTests'
/// `LayerStackTests`). Its `BackwardEvent` is the event type both models report.
///
/// All buffers are allocated once, for at most `maximumBatchSize` rows: training and evaluation
/// steps never allocate. Callers write a batch into `input` (`[batch, inputCount]`, row-major) and
/// call `computeGradients` or `evaluate`.
public final class MLP {
    public let layout: ParameterLayout
    public let maximumBatchSize: Int
    public let maximumTrainingBatchSize: Int

    /// Parameters `[parameterCount]` in `layout` order.
    public let parameters: FloatBuffer
    /// The gradients and the loss slot, overwritten by every `computeGradients`.
    public let gradientBuffer: GradientBuffer
    /// Gradients `[parameterCount]` in `layout` order (`gradientBuffer.gradients`).
    public var gradients: FloatBuffer { gradientBuffer.gradients }
    /// The input batch `[maximumBatchSize, inputCount]`, filled by the caller.
    public let input: FloatBuffer

    /// Post-activation outputs of each layer, `[maximumBatchSize, outputCount]`; the last holds logits.
    private let activations: [FloatBuffer]
    /// Two scratch buffers `[maximumTrainingBatchSize, widest layer output]` for backpropagated
    /// gradients (no gradient is computed for the network's input, so its width does not count).
    private let scratch: (FloatBuffer, FloatBuffer)

    /// What `computeGradients` reports while it runs backward (for overlapping communication).
    public enum BackwardEvent {
        /// The forward pass is done and the batch's loss is known (and in `gradientBuffer.loss`);
        /// no gradient is final yet.
        case lossComputed(LossSummary)
        /// The gradients `from..<parameterCount`, and the loss slot after them, are final
        /// (`gradientBuffer.storage[from...]`). Reported with a decreasing `from`
        /// (the last layer first, then each weight-gradient block of `gradientBlockElements`),
        /// ending with `from == 0`; `MLP.gradientReadyPoints` lists them in advance.
        case gradientsReady(from: Int)
        /// Between two backward GEMMs: a chance to drive MPI progress.
        case betweenKernels
        /// With a `GroupedGradientSink` (`LayerStack` only): every group's gradients of `elements`
        /// (a tile of `LayerStack.gradientTiles`, or the loss slot first) are in the sink.
        case tileComputed(Range<Int>)
        /// With a `GroupedGradientSink`: the bounds of a linear layer's `elements` (weight and
        /// bias) are noted (`noteBounds`); none of its tiles is computed yet (the tiles of the
        /// linear layer above, which passed it its gradient, may still come first).
        case boundsNoted(Range<Int>)
    }

    /// The largest weight-gradient block computed by one GEMM, in elements (default 131,072 =
    /// 512 KB): a layer whose weight is larger has its weight gradient computed in equal blocks of
    /// whole rows, last rows first (784-512-256-10: layer 0 in 4 blocks of 128 rows), and each
    /// finished block is reported, so that its reduction can start while the rest is computed.
    /// The result does not depend on the blocks (each element is the same sum in the same order).
    public var gradientBlockElements: Int = 1 << 17 {
        didSet { precondition(gradientBlockElements > 0, "gradientBlockElements \(gradientBlockElements)") }
    }

    /// - Parameters:
    ///   - maximumBatchSize: the most rows any `computeGradients` or `evaluate` call will use.
    ///   - maximumTrainingBatchSize: the most rows any `computeGradients` call will use (at most
    ///     `maximumBatchSize`; nil: `maximumBatchSize`). Sizes the backward scratch buffers, so
    ///     that a large evaluation batch does not make them large.
    public init(layout: ParameterLayout, maximumBatchSize: Int, maximumTrainingBatchSize: Int? = nil) {
        let trainingBatch = maximumTrainingBatchSize ?? maximumBatchSize
        precondition(maximumBatchSize > 0 && trainingBatch > 0 && trainingBatch <= maximumBatchSize,
                     "maximumBatchSize \(maximumBatchSize), maximumTrainingBatchSize \(trainingBatch)")
        self.layout = layout
        self.maximumBatchSize = maximumBatchSize
        self.maximumTrainingBatchSize = trainingBatch
        parameters = FloatBuffer(count: layout.parameterCount)
        gradientBuffer = GradientBuffer(parameterCount: layout.parameterCount)
        input = FloatBuffer(count: maximumBatchSize * layout.inputCount)
        activations = layout.layers.map { FloatBuffer(count: maximumBatchSize * $0.outputCount) }
        let width = layout.layerSizes.dropFirst().max()!
        scratch = (FloatBuffer(count: trainingBatch * width), FloatBuffer(count: trainingBatch * width))
    }

    /// He (Kaiming) normal initialisation: weights ~ N(0, 2 / fan_in), biases 0 (He et al. 2015,
    /// "Delving Deep into Rectifiers"). Deterministic in `seed`: samples are drawn in `Double`
    /// from `SeededGenerator(seed:stream:)`, one stream per layer, and rounded to `Float`.
    public func initialize(seed: UInt64) {
        for (index, layer) in layout.layers.enumerated() {
            var generator = SeededGenerator(seed: seed, stream: 0x1417, UInt64(index))
            let standardDeviation = (2.0 / Double(layer.inputCount)).squareRoot()
            for i in layer.weightRange { parameters[i] = Float(generator.nextGaussian() * standardDeviation) }
            for i in layer.biasRange { parameters[i] = 0 }
        }
    }

    /// The `from` values `computeGradients` reports with `.gradientsReady`, in order.
    public var gradientReadyPoints: [Int] {
        layout.layers.reversed().flatMap { layer in
            let rows = weightGradientBlockRows(layer)
            return stride(from: layer.outputCount - rows, to: -rows, by: -rows).map { lower in
                layer.weightRange.lowerBound + max(0, lower) * layer.inputCount
            }
        }
    }

    /// The rows per weight-gradient block of `layer`: its rows split into the fewest equal blocks
    /// of at most `gradientBlockElements` elements (at least one row each).
    private func weightGradientBlockRows(_ layer: ParameterLayout.Layer) -> Int {
        let count = max(1, (layer.weightRange.count + gradientBlockElements - 1) / gradientBlockElements)
        return (layer.outputCount + count - 1) / count
    }

    // MARK: - Forward

    /// Runs the layers on the first `batchSize` rows of `input`; the logits end in the last activation.
    @inline(__always)
    private func forward(batchSize: Int) {
        let p = parameters.baseAddress
        var x = UnsafePointer(input.baseAddress)
        let last = layout.layers.count - 1
        for (index, layer) in layout.layers.enumerated() {
            let z = activations[index].baseAddress
            denseForward(
                input: x, weights: p + layer.weightRange.lowerBound, bias: p + layer.biasRange.lowerBound,
                output: z, batchSize: batchSize, inputCount: layer.inputCount, outputCount: layer.outputCount,
                activation: index == last ? .identity : .relu)
            x = UnsafePointer(z)
        }
    }

    /// Loss and accuracy counts of the first `batchSize` rows of `input` against `labels` `[batchSize]`.
    public func evaluate(batchSize: Int, labels: UnsafePointer<Int32>) -> LossSummary {
        precondition(batchSize > 0 && batchSize <= maximumBatchSize, "batch \(batchSize) of \(maximumBatchSize)")
        forward(batchSize: batchSize)
        return softmaxCrossEntropy(
            logits: activations[activations.count - 1].baseAddress, labels: labels, batchSize: batchSize,
            classCount: layout.outputCount, gradient: nil, gradientScale: 0)
    }

    // MARK: - Backward

    /// `computeGradients` without an observer.
    public func computeGradients(batchSize: Int, labels: UnsafePointer<Int32>, gradientScale: Float) -> LossSummary {
        computeGradients(batchSize: batchSize, labels: labels, gradientScale: gradientScale) { _ in }
    }

    /// Forward and backward on the first `batchSize` rows of `input`: overwrites `gradients` with
    /// `gradientScale × ∇ Σ_rows loss` and `gradientBuffer.loss` with `gradientScale × Σ_rows loss`,
    /// and returns the batch's loss sum and correct count.
    ///
    /// With `gradientScale = 1 / global batch` on every rank, the sum of the ranks' gradients is the
    /// gradient of the global batch's mean loss, so the allreduce needs no division afterwards.
    /// `observer` is told when gradients are final (from the end of the buffer down, see
    /// `BackwardEvent`) and between backward kernels; an error it throws ends the computation.
    public func computeGradients(
        batchSize: Int, labels: UnsafePointer<Int32>, gradientScale: Float,
        observer: (BackwardEvent) throws -> Void
    ) rethrows -> LossSummary {
        precondition(batchSize > 0 && batchSize <= maximumTrainingBatchSize,
                     "training batch \(batchSize) of \(maximumTrainingBatchSize)")
        forward(batchSize: batchSize)
        let lastIndex = layout.layers.count - 1
        // dZ of the last layer: the loss gradient with respect to the logits.
        var dz = scratch.0.baseAddress
        var spare = scratch.1.baseAddress
        let summary = softmaxCrossEntropy(
            logits: activations[lastIndex].baseAddress, labels: labels, batchSize: batchSize,
            classCount: layout.outputCount, gradient: dz, gradientScale: gradientScale)
        gradientBuffer.loss = Float(summary.lossSum) * gradientScale
        try observer(.lossComputed(summary))

        let p = parameters.baseAddress
        let g = gradients.baseAddress
        for index in stride(from: lastIndex, through: 0, by: -1) {
            let layer = layout.layers[index]
            let x = index == 0 ? input.baseAddress : activations[index - 1].baseAddress
            // The bias first (it lies after the weight), then the weight rows in blocks from the
            // last to the first, so that the final part of the buffer grows downwards without gaps.
            denseBiasGradient(
                outputGradient: dz, biasGradient: g + layer.biasRange.lowerBound, batchSize: batchSize,
                outputCount: layer.outputCount)
            let blockRows = weightGradientBlockRows(layer)
            var upper = layer.outputCount
            while upper > 0 {
                let lower = max(0, upper - blockRows)
                denseWeightGradient(
                    outputGradient: dz, input: x, weightGradient: g + layer.weightRange.lowerBound,
                    batchSize: batchSize, inputCount: layer.inputCount, outputCount: layer.outputCount,
                    outputRows: lower..<upper)
                try observer(.gradientsReady(from: layer.weightRange.lowerBound + lower * layer.inputCount))
                upper = lower
                if upper > 0 { try observer(.betweenKernels) }
            }
            guard index > 0 else { break }
            try observer(.betweenKernels)
            denseInputGradient(
                outputGradient: dz, weights: p + layer.weightRange.lowerBound, inputGradient: spare,
                reluOutput: x, batchSize: batchSize, inputCount: layer.inputCount, outputCount: layer.outputCount)
            try observer(.betweenKernels)
            swap(&dz, &spare)
        }
        return summary
    }
}
