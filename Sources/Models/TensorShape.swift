/// The shape of one sample as it flows through a layer stack: an image `[C, H, W]` (NCHW without
/// the batch) or a vector `[F]`.
public enum TensorShape: Equatable, Hashable, Sendable, CustomStringConvertible {
    case image(channels: Int, height: Int, width: Int)
    case vector(features: Int)

    /// Floats per sample.
    public var elementCount: Int {
        switch self {
        case let .image(channels, height, width): channels * height * width
        case let .vector(features): features
        }
    }

    /// `32×14×14` or `784`.
    public var description: String {
        switch self {
        case let .image(channels, height, width): "\(channels)×\(height)×\(width)"
        case let .vector(features): "\(features)"
        }
    }
}
