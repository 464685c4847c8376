/// The size of an MLP and the memory one rank needs to train it, from its layer widths alone:
/// the one estimate of model size (the size check before allocation and the memory budget read
/// it). Computed with overflow-checked arithmetic, so any widths can be asked about before
/// anything is allocated.
public struct ModelFootprint: Equatable, Sendable {
    /// Widths from input to output, e.g. `[784, 512, 256, 10]` (as `ParameterLayout.layerSizes`).
    public let layerSizes: [Int]
    /// `ParameterLayout(layerSizes:).parameterCount`: Σ (inputs × outputs + outputs).
    public let parameterCount: Int

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
        self.layerSizes = layerSizes
        parameterCount = parameters
    }

    /// Bytes of one copy of the parameters (`Float`).
    public var parameterBytes: Double { Double(parameterCount) * Double(MemoryLayout<Float>.stride) }

    /// Bytes one rank allocates to train with `optimizerBuffers` optimizer state buffers and at
    /// most `batchSize` rows at once: parameters, gradients, the optimizer buffers, and the
    /// activations and backward scratch of `MLP` (`batchSize × (Σ widths + 2 × widest)` floats).
    /// In `Double`, so absurd sizes give a large number instead of an overflow.
    public func trainingBytes(optimizerBuffers: Int, batchSize: Int) -> Double {
        let activations = Double(batchSize) * Double(layerSizes.reduce(0, +) + 2 * (layerSizes.max() ?? 0))
        return Double(2 + optimizerBuffers) * parameterBytes + activations * Double(MemoryLayout<Float>.stride)
    }
}
