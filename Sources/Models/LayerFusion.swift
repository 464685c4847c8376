import Kernels

/// Which layers of a checked layer list run fused into the convolution before them: a `conv2d`
/// followed by `relu`, by `maxpool2d`, or by `relu maxpool2d`, runs as one `ConvolutionBlock`
/// (one sample at a time, the convolution's output kept in cache). `LayerStack` runs the
/// blocks; `ModelFootprint` counts only the buffers they keep.
public struct LayerFusion: Equatable, Sendable {
    /// One conv2d layer and the layers fused into it (by position in the list).
    public struct Convolution: Equatable, Sendable {
        public let geometry: ConvolutionGeometry
        public let reluLayer: Int?
        public let poolingLayer: Int?
        /// The layer whose output the block writes: the pooling, else the convolution itself
        /// (a fused ReLU without pooling shares the convolution's output, as after `linear`).
        public var lastLayer: Int
    }

    /// The conv2d layers, by position.
    public let convolutions: [Int: Convolution]
    /// Per layer: a ReLU or max pooling whose work its convolution block does.
    public let absorbed: [Bool]

    public init(layers: [ResolvedLayer]) {
        var convolutions: [Int: Convolution] = [:]
        var absorbed = Array(repeating: false, count: layers.count)
        for (index, layer) in layers.enumerated() {
            guard case let (.conv2d(outputs, kh, kw, stride, padding), .image(channels, height, width)) = (layer.spec, layer.input)
            else { continue }
            let geometry = ConvolutionGeometry(
                inputChannels: channels, inputHeight: height, inputWidth: width, outputChannels: outputs,
                kernelHeight: kh, kernelWidth: kw, stride: stride, padding: padding)
            var next = index + 1
            var relu: Int?
            if next < layers.count, layers[next].spec == .relu {
                relu = next
                next += 1
            }
            var pooling: Int?
            if next < layers.count, case .maxPool2d = layers[next].spec {
                pooling = next
                absorbed[next] = true
                if let relu { absorbed[relu] = true }
            }
            convolutions[index] = Convolution(geometry: geometry, reluLayer: relu, poolingLayer: pooling, lastLayer: pooling ?? index)
        }
        self.convolutions = convolutions
        self.absorbed = absorbed
    }
}
