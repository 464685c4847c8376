import CZlib

/// A data set in memory: `count` samples of one shape, each with a class label.
///
/// Features are held as they came (bytes, or `Float`s) and turned into the model's `Float`
/// input per batch by `fillBatch`, through `normalization`. One sample's shape is `[C, H, W]`
/// (an image, NCHW without the batch dimension) or `[F]` (a vector); `featureCount` is their
/// product, row-major.
public struct LabeledSamples: Sendable {
    /// The largest data file accepted, on disk and decoded, in bytes (4 GiB): a hostile or
    /// damaged file cannot make a rank allocate more.
    public static let maximumFileByteCount = 1 << 32

    /// How the features are stored.
    public enum Features: Sendable, Equatable {
        /// Bytes 0…255 (`uint8` files: IDX, and `uint8` arrays and CSV), `[count, featureCount]`.
        case bytes([UInt8])
        /// Single-precision values (`float32` files; `float64` converted once), `[count, featureCount]`.
        case floats([Float])
        /// Either, in memory the ranks of a node share (`SharedFeatures`): one copy per node.
        case shared(SharedFeatures)

        /// The stored elements, for reading.
        public enum Elements {
            case bytes(UnsafeBufferPointer<UInt8>)
            case floats(UnsafeBufferPointer<Float>)
        }

        /// Calls `body` with the elements, wherever they are held.
        public func withElements<R>(_ body: (Elements) throws -> R) rethrows -> R {
            switch self {
            case .bytes(let values): try values.withUnsafeBufferPointer { try body(.bytes($0)) }
            case .floats(let values): try values.withUnsafeBufferPointer { try body(.floats($0)) }
            case .shared(let shared):
                shared.isFloat
                    ? try body(.floats(UnsafeBufferPointer(start: shared.base.assumingMemoryBound(to: Float.self), count: shared.count)))
                    : try body(.bytes(UnsafeBufferPointer(start: shared.base.assumingMemoryBound(to: UInt8.self), count: shared.count)))
            }
        }

        var elementCount: Int {
            withElements {
                switch $0 {
                case .bytes(let b): b.count
                case .floats(let f): f.count
                }
            }
        }

        /// True for `Float` elements.
        public var isFloat: Bool { withElements { if case .floats = $0 { true } else { false } } }

        /// Bytes held in memory.
        public var byteCount: Int { elementCount * (isFloat ? MemoryLayout<Float>.stride : 1) }

        /// "uint8" or "float32".
        public var typeName: String { isFloat ? "float32" : "uint8" }

        public static func == (lhs: Features, rhs: Features) -> Bool {
            lhs.withElements { l in
                rhs.withElements { r in
                    switch (l, r) {
                    case (.bytes(let a), .bytes(let b)): a.elementsEqual(b)
                    case (.floats(let a), .floats(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
                    default: false
                    }
                }
            }
        }
    }

    /// Features in memory that the ranks of a node map together (an MPI-3 shared-memory window),
    /// read-only once written; the window outlives every use (it is freed at MPI finalize).
    public struct SharedFeatures: @unchecked Sendable {
        public let base: UnsafeRawPointer
        /// Elements (bytes, or `Float`s when `isFloat`).
        public let count: Int
        public let isFloat: Bool

        public init(base: UnsafeRawPointer, count: Int, isFloat: Bool) {
            self.base = base
            self.count = count
            self.isFloat = isFloat
        }
    }

    /// Number of samples.
    public let count: Int
    /// One sample's shape: `[C, H, W]` or `[F]`.
    public let sampleShape: [Int]
    /// Number of classes; every label is in `0..<classCount`.
    public let classCount: Int
    /// The features, row-major `[count, featureCount]`.
    public let features: Features
    /// Class labels, `[count]`.
    public let labels: [Int32]
    /// CRC-32 (zlib `crc32`, the gzip/PNG polynomial) of the labels, one byte each when every
    /// class index fits in a byte (as IDX files hold them), else 4 bytes little-endian each;
    /// ranks compare it at start-up to agree on the data set.
    public let labelChecksum: UInt32
    /// How `fillBatch` turns stored features into model input.
    public let normalization: Normalization

    /// Features per sample: the product of `sampleShape`.
    public var featureCount: Int { sampleShape.reduce(1, *) }
    /// Channels for `standard` normalisation: `C` of an image, every feature of a vector.
    public var channelCount: Int { sampleShape.count == 3 ? sampleShape[0] : featureCount }

    /// Wraps in-memory data. Shapes and label values are the caller's responsibility (files are
    /// checked by their readers first): a mismatch is a precondition failure, not a thrown error.
    /// - Parameters:
    ///   - sampleShape: `[C, H, W]` or `[F]`, every dimension ≥ 1.
    ///   - normalization: nil for `unit`.
    public init(
        sampleShape: [Int], classCount: Int, features: Features, labels: [Int32], normalization: Normalization? = nil
    ) {
        precondition((sampleShape.count == 3 || sampleShape.count == 1) && sampleShape.allSatisfy { $0 > 0 },
                     "sample shape \(sampleShape) must be [C, H, W] or [F] with positive sizes")
        precondition(classCount >= 1, "class count \(classCount) must be at least 1")
        let width = sampleShape.reduce(1, *)
        precondition(features.elementCount == labels.count * width,
                     "\(features.elementCount) features for \(labels.count) labels of \(sampleShape)")
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            preconditionFailure("label \(bad) is \(labels[bad]), not in 0..<\(classCount)")
        }
        self.count = labels.count
        self.sampleShape = sampleShape
        self.classCount = classCount
        self.features = features
        self.labels = labels
        self.labelChecksum = Self.checksum(labels)
        let chosen = normalization ?? .unit
        precondition(chosen.kind != .standard || chosen.mean.count == (sampleShape.count == 3 ? sampleShape[0] : width),
                     "standard normalisation with \(chosen.mean.count) channels for samples \(sampleShape)")
        self.normalization = chosen
    }

    /// Greyscale images of bytes (IDX files, tests, synthetic data): `[1, rows, columns]`.
    public init(rows: Int, columns: Int, classCount: Int, pixels: [UInt8], labels: [UInt8]) {
        self.init(sampleShape: [1, rows, columns], classCount: classCount, features: .bytes(pixels),
                  labels: labels.map(Int32.init))
    }

    /// The same samples with another normalisation.
    public func normalized(_ normalization: Normalization) -> LabeledSamples {
        LabeledSamples(sampleShape: sampleShape, classCount: classCount, features: features, labels: labels,
                       normalization: normalization)
    }

    /// The samples at `indices`, in that order (a validation split; indices checked: precondition).
    public func subset(_ indices: [Int]) -> LabeledSamples {
        let width = featureCount
        let picked: Features = features.withElements { elements in
            switch elements {
            case .bytes(let values):
                var out = [UInt8](); out.reserveCapacity(indices.count * width)
                for i in indices { out.append(contentsOf: values[(i * width)..<((i + 1) * width)]) }
                return .bytes(out)
            case .floats(let values):
                var out = [Float](); out.reserveCapacity(indices.count * width)
                for i in indices { out.append(contentsOf: values[(i * width)..<((i + 1) * width)]) }
                return .floats(out)
            }
        }
        return LabeledSamples(sampleShape: sampleShape, classCount: classCount, features: picked,
                              labels: indices.map { labels[$0] }, normalization: normalization)
    }

    /// "1×28×28" or "784".
    public var shapeDescription: String { sampleShape.map(String.init).joined(separator: "×") }

    static func checksum(_ labels: [Int32]) -> UInt32 {
        let bytes: [UInt8] = labels.allSatisfy({ $0 < 256 })
            ? labels.map { UInt8(truncatingIfNeeded: $0) }
            : labels.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: UInt32(bitPattern: value) >> (8 * $0)) } }
        let crc = bytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        return UInt32(truncatingIfNeeded: crc)  // zlib's uLong holds a 32-bit CRC
    }
}
