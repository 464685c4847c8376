import Reporting

/// A layer list that cannot be built: each case names the layer by position (1-based) and text.
public enum ModelDescriptionError: ReportableError, Equatable {
    case empty
    case malformed(text: String, reason: String)
    case unknownLayer(position: Int, text: String, nearest: String?)
    case badArguments(position: Int, text: String, reason: String)
    /// A layer that cannot take the shape it receives (`received`), with what it needed.
    case shape(position: Int, text: String, received: TensorShape, reason: String)
    /// The model's output is not one value per class.
    case output(produced: TensorShape, classes: Int)
    /// Sizes too large for one rank (or beyond an `Int`).
    case tooLarge(reason: String)

    public var exitStatus: ExitStatus { .usage }

    public var description: String {
        switch self {
        case .empty: "the model has no layers"
        case let .malformed(text, reason): "the layer list '\(text)' is malformed: \(reason)"
        case let .unknownLayer(position, text, _): "layer \(position) \(text): unknown layer"
        case let .badArguments(position, text, reason): "layer \(position) \(text): \(reason)"
        case let .shape(position, text, received, reason): "layer \(position) \(text): input \(received) \(reason)"
        case let .output(produced, classes):
            "the model's output is \(produced), but the data has \(classes) classes: the last layer must give \(classes) values"
        case let .tooLarge(reason): "the model is too large: \(reason)"
        }
    }

    public var hint: String? {
        switch self {
        case .empty, .malformed, .badArguments:
            return "write layers like: conv2d(16,5) relu maxpool2d(2) flatten linear(10)"
        case let .unknownLayer(_, _, nearest?):
            return "did you mean \(nearest)? Layers: \(LayerSpec.names.joined(separator: ", "))"
        case .unknownLayer:
            return "layers: \(LayerSpec.names.joined(separator: ", "))"
        case .shape:
            return nil
        case let .output(_, classes):
            return "end the list with flatten (after images) and linear(\(classes))"
        case .tooLarge:
            return "choose fewer channels or units, or smaller kernels"
        }
    }
}
