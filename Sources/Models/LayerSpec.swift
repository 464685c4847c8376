/// One layer of a model as a user writes it (`conv2d(32,3,padding=1)`), PyTorch's `nn` module
/// of the same name in a `torch.nn.Sequential`.
public enum LayerSpec: Equatable, Hashable, Sendable {
    /// `nn.Linear(in, outputs)`: weight `[outputs, in]`, bias `[outputs]`. Its input must be a
    /// vector: after an image, put `flatten` first (as PyTorch needs `nn.Flatten`).
    case linear(outputs: Int)
    /// `nn.Conv2d(in, outputs, (kernelHeight, kernelWidth), stride, padding)`: weight
    /// `[outputs, in, kh, kw]`, bias `[outputs]`.
    case conv2d(outputs: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int)
    /// `nn.MaxPool2d(window, stride)`.
    case maxPool2d(window: Int, stride: Int)
    /// `nn.AvgPool2d(window, stride)`.
    case avgPool2d(window: Int, stride: Int)
    /// `nn.Flatten()`: `[C, H, W]` → `[C·H·W]`.
    case flatten
    /// `nn.ReLU()`.
    case relu
    /// `nn.GELU(approximate="tanh")`.
    case gelu
    /// `nn.Dropout(probability)`: inverted scaling in training, identity in evaluation.
    case dropout(probability: Double)

    /// The names a layer list may use, in the order they are suggested.
    public static let names = ["linear", "conv2d", "maxpool2d", "avgpool2d", "flatten", "relu", "gelu", "dropout"]

    /// The layer's name in a layer list.
    public var name: String {
        switch self {
        case .linear: "linear"
        case .conv2d: "conv2d"
        case .maxPool2d: "maxpool2d"
        case .avgPool2d: "avgpool2d"
        case .flatten: "flatten"
        case .relu: "relu"
        case .gelu: "gelu"
        case .dropout: "dropout"
        }
    }

    /// True for the layers with parameters (a weight and a bias).
    public var hasParameters: Bool {
        switch self {
        case .linear, .conv2d: true
        default: false
        }
    }
}

extension LayerSpec: CustomStringConvertible {
    /// The canonical text, which `ModelDescription.parse` reads back to the same layer: defaults
    /// left out, a square kernel as one number (`conv2d(32,3,padding=1)`, `conv2d(8,2x3)`).
    public var description: String {
        switch self {
        case let .linear(outputs): return "linear(\(outputs))"
        case let .conv2d(outputs, kh, kw, stride, padding):
            var text = "conv2d(\(outputs),\(kh == kw ? "\(kh)" : "\(kh)x\(kw)")"
            if stride != 1 { text += ",stride=\(stride)" }
            if padding != 0 { text += ",padding=\(padding)" }
            return text + ")"
        case let .maxPool2d(window, stride): return "maxpool2d(\(window)\(stride == window ? "" : ",stride=\(stride)"))"
        case let .avgPool2d(window, stride): return "avgpool2d(\(window)\(stride == window ? "" : ",stride=\(stride)"))"
        case .flatten: return "flatten"
        case .relu: return "relu"
        case .gelu: return "gelu"
        case let .dropout(probability): return "dropout(\(probability))"
        }
    }
}
