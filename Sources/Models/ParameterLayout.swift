/// The layout of an MLP's parameters in one flat `Float` buffer: the only owner of offsets.
///
/// Layer `i` maps `layerSizes[i]` inputs to `layerSizes[i + 1]` outputs. Its weight `[out, in]`
/// (row-major, PyTorch `nn.Linear` layout) is followed directly by its bias `[out]`, layer after
/// layer: `layers.0.weight, layers.0.bias, layers.1.weight, …`. Gradients and optimizer state use
/// the same layout, so a layer's gradient is one contiguous range (what bucketed reduction needs).
public struct ParameterLayout: Equatable, Sendable, Codable {
    /// Widths from input to output, e.g. `[784, 512, 256, 10]`.
    public let layerSizes: [Int]
    /// One entry per dense layer.
    public let layers: [Layer]
    /// Total `Float` count.
    public let parameterCount: Int

    /// One dense layer's slice of the flat buffer.
    public struct Layer: Equatable, Sendable, Codable {
        public let inputCount: Int
        public let outputCount: Int
        /// Elements of the weight `[outputCount, inputCount]`.
        public let weightRange: Range<Int>
        /// Elements of the bias `[outputCount]`.
        public let biasRange: Range<Int>
        /// Weight and bias together (contiguous).
        public var range: Range<Int> { weightRange.lowerBound..<biasRange.upperBound }
    }

    /// A named tensor of the layout (for checkpoints and inspection).
    public struct Tensor: Equatable, Sendable {
        public let name: String
        public let shape: [Int]
        public let range: Range<Int>
    }

    /// - Parameter layerSizes: at least two positive widths.
    public init(layerSizes: [Int]) {
        precondition(layerSizes.count >= 2 && layerSizes.allSatisfy { $0 > 0 }, "layer sizes \(layerSizes)")
        self.layerSizes = layerSizes
        var offset = 0
        var layers: [Layer] = []
        for (inputCount, outputCount) in zip(layerSizes, layerSizes.dropFirst()) {
            let weightRange = offset..<(offset + inputCount * outputCount)
            let biasRange = weightRange.upperBound..<(weightRange.upperBound + outputCount)
            layers.append(Layer(inputCount: inputCount, outputCount: outputCount, weightRange: weightRange, biasRange: biasRange))
            offset = biasRange.upperBound
        }
        self.layers = layers
        parameterCount = offset
    }

    public var inputCount: Int { layerSizes[0] }
    public var outputCount: Int { layerSizes[layerSizes.count - 1] }

    /// Every tensor with its PyTorch-style name: `layers.{i}.weight` `[out, in]`, `layers.{i}.bias` `[out]`.
    public var tensors: [Tensor] {
        layers.enumerated().flatMap { index, layer in
            [Tensor(name: "layers.\(index).weight", shape: [layer.outputCount, layer.inputCount], range: layer.weightRange),
             Tensor(name: "layers.\(index).bias", shape: [layer.outputCount], range: layer.biasRange)]
        }
    }

    /// "784-512-256-10".
    public var shapeDescription: String { layerSizes.map(String.init).joined(separator: "-") }

    /// Multiply-adds × 2 per sample for forward, weight gradients and input gradients (no
    /// gradient for the network input): the FLOPs a training step costs per sample, bias and
    /// elementwise work excluded.
    public var trainingFLOPsPerSample: Int {
        let forward = layers.reduce(0) { $0 + 2 * $1.inputCount * $1.outputCount }
        let inputGradients = layers.dropFirst().reduce(0) { $0 + 2 * $1.inputCount * $1.outputCount }
        return 2 * forward + inputGradients
    }
}
