import Kernels
import LockstepCore
import Tensors

/// A multilayer perceptron with ReLU hidden layers and a softmax cross-entropy head, over one flat
/// parameter buffer and one flat gradient buffer laid out by `ParameterLayout`.
///
/// All buffers are allocated once, for at most `maximumBatchSize` rows: training and evaluation
/// steps never allocate. Callers write a batch into `input` (`[batch, inputCount]`, row-major) and
/// call `computeGradients` or `evaluate`.
public final class MLP {
    public let layout: ParameterLayout
    public let maximumBatchSize: Int

    /// Parameters `[parameterCount]` in `layout` order.
    public let parameters: FloatBuffer
    /// Gradients `[parameterCount]` in `layout` order, overwritten by every `computeGradients`.
    public let gradients: FloatBuffer
    /// The input batch `[maximumBatchSize, inputCount]`, filled by the caller.
    public let input: FloatBuffer

    /// Post-activation outputs of each layer, `[maximumBatchSize, outputCount]`; the last holds logits.
    private let activations: [FloatBuffer]
    /// Two scratch buffers `[maximumBatchSize, maximumWidth]` for backpropagated gradients.
    private let scratch: (FloatBuffer, FloatBuffer)

    /// What `computeGradients` reports while it runs backward (for overlapping communication).
    public enum BackwardEvent {
        /// The gradients of layer `index` (its weight and bias range) are final.
        case layerGradientsReady(index: Int)
        /// Between two backward GEMMs: a chance to drive MPI progress.
        case betweenKernels
    }

    /// - Parameters:
    ///   - maximumBatchSize: the most rows any `computeGradients` or `evaluate` call will use.
    ///   - gradientStorage: where the gradients live, when the caller wants them inside a larger
    ///     buffer (for example with extra trailing slots reduced in the same allreduce); its first
    ///     `parameterCount` elements become `gradients`. Nil: the model allocates its own.
    public init(layout: ParameterLayout, maximumBatchSize: Int, gradientStorage: FloatBuffer? = nil) {
        precondition(maximumBatchSize > 0, "maximumBatchSize \(maximumBatchSize)")
        precondition((gradientStorage?.count ?? layout.parameterCount) >= layout.parameterCount,
                     "gradient storage of \(gradientStorage?.count ?? 0) for \(layout.parameterCount) parameters")
        self.layout = layout
        self.maximumBatchSize = maximumBatchSize
        parameters = FloatBuffer(count: layout.parameterCount)
        gradients = gradientStorage.map { FloatBuffer(viewing: $0, range: 0..<layout.parameterCount) }
            ?? FloatBuffer(count: layout.parameterCount)
        input = FloatBuffer(count: maximumBatchSize * layout.inputCount)
        activations = layout.layers.map { FloatBuffer(count: maximumBatchSize * $0.outputCount) }
        scratch = (FloatBuffer(count: maximumBatchSize * layout.maximumWidth),
                   FloatBuffer(count: maximumBatchSize * layout.maximumWidth))
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

    /// Forward and backward on the first `batchSize` rows of `input`: overwrites `gradients` with
    /// `gradientScale × ∇ Σ_rows loss` and returns the batch's loss sum and correct count.
    ///
    /// With `gradientScale = 1 / global batch` on every rank, the sum of the ranks' gradients is the
    /// gradient of the global batch's mean loss, so the allreduce needs no division afterwards.
    /// `observer` is told when each layer's gradients are final (last layer first) and between
    /// backward kernels.
    public func computeGradients(
        batchSize: Int, labels: UnsafePointer<Int32>, gradientScale: Float,
        observer: (BackwardEvent) -> Void = { _ in }
    ) -> LossSummary {
        precondition(batchSize > 0 && batchSize <= maximumBatchSize, "batch \(batchSize) of \(maximumBatchSize)")
        forward(batchSize: batchSize)
        let lastIndex = layout.layers.count - 1
        // dZ of the last layer: the loss gradient with respect to the logits.
        var dz = scratch.0.baseAddress
        var spare = scratch.1.baseAddress
        let summary = softmaxCrossEntropy(
            logits: activations[lastIndex].baseAddress, labels: labels, batchSize: batchSize,
            classCount: layout.outputCount, gradient: dz, gradientScale: gradientScale)

        let p = parameters.baseAddress
        let g = gradients.baseAddress
        for index in stride(from: lastIndex, through: 0, by: -1) {
            let layer = layout.layers[index]
            let x = index == 0 ? input.baseAddress : activations[index - 1].baseAddress
            denseParameterGradients(
                outputGradient: dz, input: x, weightGradient: g + layer.weightRange.lowerBound,
                biasGradient: g + layer.biasRange.lowerBound, batchSize: batchSize,
                inputCount: layer.inputCount, outputCount: layer.outputCount)
            observer(.layerGradientsReady(index: index))
            guard index > 0 else { break }
            observer(.betweenKernels)
            denseInputGradient(
                outputGradient: dz, weights: p + layer.weightRange.lowerBound, inputGradient: spare,
                reluOutput: x, batchSize: batchSize, inputCount: layer.inputCount, outputCount: layer.outputCount)
            observer(.betweenKernels)
            swap(&dz, &spare)
        }
        return summary
    }
}
