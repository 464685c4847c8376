/// The size of a model and the memory one rank needs to train it, before anything is allocated:
/// the one estimate of model size (the size check and the memory budget read it). From an MLP's
/// layer widths (overflow-checked, so any widths can be asked about) or a checked layer list.
public struct ModelFootprint: Equatable, Sendable {
    /// The parameters of all layers.
    public let parameterCount: Int
    /// Floats one sample occupies in the activations and backward scratch (`MLP`, `LayerStack`).
    public let activationFloatsPerSample: Int

    /// Why a footprint could not be computed.
    public enum Overflow: Error, Equatable {
        /// One layer's weights do not fit in an `Int`, or exceed `Int32.max` elements.
        case layer(inputs: Int, outputs: Int)
        /// The total parameter count does not fit in an `Int`.
        case total
    }

    /// - Throws: `Overflow` when a layer has more than `Int32.max` weights (more than one MPI
    ///   collective can carry) or the total does not fit in an `Int`.
    public init(layerSizes: [Int]) throws(Overflow) {
        var parameters = 0
        for (inputs, outputs) in zip(layerSizes, layerSizes.dropFirst()) {
            let (weights, overflow) = inputs.multipliedReportingOverflow(by: outputs)
            guard !overflow, weights <= Int(Int32.max) else { throw .layer(inputs: inputs, outputs: outputs) }
            let (sum, sumOverflow) = parameters.addingReportingOverflow(weights + outputs)
            guard !sumOverflow else { throw .total }
            parameters = sum
        }
        parameterCount = parameters
        activationFloatsPerSample = layerSizes.reduce(0, +) + 2 * (layerSizes.max() ?? 0)
    }

    /// The footprint of a checked layer list (`ModelDescription.resolve`, which already refused
    /// counts beyond what one collective carries): parameters, and per sample the input, the
    /// outputs `LayerStack` keeps (not those of `flatten`, of a ReLU applied by the layer before,
    /// or of a convolution whose pooling is fused in: `LayerFusion`), max pooling's indices,
    /// dropout masks and two backward buffers of the widest gradient. A convolution's patches
    /// are per-sample scratch (`ConvolutionBlock`), not per-sample storage.
    public init(layers: [ResolvedLayer]) {
        parameterCount = layers.reduce(0) { $0 + $1.parameterCount }
        let fusion = LayerFusion(layers: layers)
        var floats = layers.first?.input.elementCount ?? 0
        var widest = 0
        for (index, layer) in layers.enumerated() {
            let output = layer.output.elementCount
            widest = max(widest, layer.input.elementCount, output)
            let reluOfPrevious = layer.spec == .relu && index > 0 && layers[index - 1].spec.hasParameters
            let pooledConvolution = fusion.convolutions[index].map { $0.poolingLayer != nil } ?? false
            if layer.spec != .flatten && !reluOfPrevious && !pooledConvolution && !(layer.spec == .relu && fusion.absorbed[index]) {
                floats += output
            }
            switch layer.spec {
            case .maxPool2d, .dropout: floats += output  // indices (Int32, as wide as a Float), or the mask
            default: break
            }
        }
        activationFloatsPerSample = floats + 2 * widest
    }

    /// Bytes of one copy of the parameters (`Float`).
    public var parameterBytes: Double { Double(parameterCount) * Double(MemoryLayout<Float>.stride) }

    /// Bytes one rank allocates to train with `optimizerBuffers` optimizer state buffers and at
    /// most `batchSize` rows at once: parameters, gradients, the optimizer buffers, and
    /// `batchSize × activationFloatsPerSample` floats. In `Double`, so absurd sizes give a large
    /// number instead of an overflow.
    public func trainingBytes(optimizerBuffers: Int, batchSize: Int) -> Double {
        let activations = Double(batchSize) * Double(activationFloatsPerSample)
        return Double(2 + optimizerBuffers) * parameterBytes + activations * Double(MemoryLayout<Float>.stride)
    }

    /// Bytes a checkpoint write holds for a moment on rank 0, on top of `trainingBytes`: a copy of
    /// the parameters and of each optimizer buffer as tensors, and the encoded file image.
    public func checkpointBytes(optimizerBuffers: Int) -> Double {
        2 * Double(1 + optimizerBuffers) * parameterBytes
    }
}
