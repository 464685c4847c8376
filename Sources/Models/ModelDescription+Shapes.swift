/// One layer of a checked model: what it receives and produces, and its parameter tensors.
public struct ResolvedLayer: Equatable, Sendable {
    /// 0-based position: the layer's index in the equivalent `torch.nn.Sequential`.
    public let index: Int
    public let spec: LayerSpec
    public let input: TensorShape
    public let output: TensorShape
    /// `[out, in]` (linear) or `[out, in, kh, kw]` (conv2d); nil without parameters.
    public let weightShape: [Int]?
    /// `[out]`; nil without parameters.
    public let biasShape: [Int]?

    /// `"3.weight"`, as `torch.nn.Sequential.state_dict()` names it.
    public var weightName: String { "\(index).weight" }
    public var biasName: String { "\(index).bias" }
    public var parameterCount: Int {
        (weightShape?.reduce(1, *) ?? 0) + (biasShape?.reduce(1, *) ?? 0)
    }
}

extension ModelDescription {
    /// Checks every layer against the shape it receives, from `input` (one sample's shape) to an
    /// output of one value per class, and returns each layer's shapes. Nothing is allocated.
    /// - Throws: `ModelDescriptionError.shape` naming the first layer that cannot take its input,
    ///   `.output` when the last output is not `classes` values, `.tooLarge` for sizes beyond
    ///   what one MPI collective or an `Int` can count.
    public func resolve(input: TensorShape, classes: Int) throws(ModelDescriptionError) -> [ResolvedLayer] {
        var shape = input
        var resolved: [ResolvedLayer] = []
        var parameters = 0
        for (index, spec) in layers.enumerated() {
            func fail(_ reason: String) -> ModelDescriptionError {
                .shape(position: index + 1, text: spec.description, received: shape, reason: reason)
            }
            var weight: [Int]?
            var bias: [Int]?
            let output: TensorShape
            switch (spec, shape) {
            case let (.linear(outputs), .vector(features)):
                weight = [outputs, features]
                bias = [outputs]
                output = .vector(features: outputs)
            case (.linear, .image):
                throw fail("is an image: put flatten before linear (as nn.Linear needs nn.Flatten)")
            case let (.conv2d(outputs, kh, kw, stride, padding), .image(channels, height, width)):
                guard padding <= Int(Int32.max) else {
                    throw .tooLarge(reason: "layer \(index + 1) \(spec)'s padding \(padding) exceeds \(Int32.max)")
                }
                guard height + 2 * padding >= kh, width + 2 * padding >= kw else {
                    throw fail("is smaller than the \(kh)×\(kw) kernel (padding \(padding))")
                }
                weight = [outputs, channels, kh, kw]
                bias = [outputs]
                output = .image(
                    channels: outputs, height: (height + 2 * padding - kh) / stride + 1,
                    width: (width + 2 * padding - kw) / stride + 1)
            case let (.maxPool2d(window, stride), .image(channels, height, width)),
                 let (.avgPool2d(window, stride), .image(channels, height, width)):
                guard height >= window, width >= window else {
                    throw fail("is smaller than the \(window)×\(window) window")
                }
                output = .image(channels: channels, height: (height - window) / stride + 1, width: (width - window) / stride + 1)
            case (.conv2d, .vector), (.maxPool2d, .vector), (.avgPool2d, .vector):
                throw fail("is a vector: \(spec.name) needs an image C×H×W")
            case let (.flatten, .image(channels, height, width)):
                output = .vector(features: channels * height * width)
            case (.flatten, .vector), (.relu, _), (.gelu, _), (.dropout, _):
                output = shape
            }
            for (dimensions, name) in [(weight, "weight"), (bias, "bias")] {
                guard let dimensions else { continue }
                let count = try checkedProduct(dimensions, what: "layer \(index + 1) \(spec)'s \(name)")
                let (sum, overflow) = parameters.addingReportingOverflow(count)
                guard !overflow, sum < Int(Int32.max) else {
                    throw .tooLarge(reason: "more than the \(Int32.max) parameters one MPI collective can carry, from layer \(index + 1) \(spec) on")
                }
                parameters = sum
            }
            if case let .image(channels, height, width) = output {
                _ = try checkedProduct([channels, height, width], what: "layer \(index + 1) \(spec)'s output")
            }
            resolved.append(ResolvedLayer(index: index, spec: spec, input: shape, output: output, weightShape: weight, biasShape: bias))
            shape = output
        }
        guard shape == .vector(features: classes) else { throw .output(produced: shape, classes: classes) }
        return resolved
    }

    /// `Π dimensions`, refusing a product beyond `Int32.max` elements (what one MPI collective can
    /// carry) with the bytes it would need.
    private func checkedProduct(_ dimensions: [Int], what: String) throws(ModelDescriptionError) -> Int {
        let exact = dimensions.reduce(1.0) { $0 * Double($1) }
        guard exact <= Double(Int32.max) else {
            let shape = dimensions.map(String.init).joined(separator: "×")
            throw .tooLarge(reason: "\(what) \(shape) would need \(Self.bytes(exact * 4)) per sample or copy "
                + "(\(Self.count(exact)) floats; one MPI collective carries at most \(Int32.max))")
        }
        return dimensions.reduce(1, *)
    }

    static func bytes(_ value: Double) -> String {
        value >= 1e12 ? String(format: "%.1f TB", value / 1e12)
            : value >= 1e9 ? String(format: "%.1f GB", value / 1e9) : String(format: "%.1f MB", value / 1e6)
    }

    static func count(_ value: Double) -> String { value < 1e15 ? String(format: "%.0f", value) : String(format: "%.3g", value) }
}
