/// One array read from a file, checked against its declared shape: elements little-endian in
/// row-major (C) order, whatever the file's byte order was.
public struct NumericArray: Sendable {
    /// Where it came from, as errors name it: `data.npz:x_train`, `X.npy`, `data.safetensors:y_test`.
    public let source: String
    public let elementType: ElementType
    /// The dimensions, outermost first (the sample count first).
    public let shape: [Int]
    /// `shape.product × elementType.byteCount` bytes.
    public let bytes: [UInt8]

    public init(source: String, elementType: ElementType, shape: [Int], bytes: [UInt8]) {
        precondition(bytes.count == shape.reduce(1, *) * elementType.byteCount, "\(source): \(bytes.count) bytes for \(shape)")
        self.source = source
        self.elementType = elementType
        self.shape = shape
        self.bytes = bytes
    }

    public var elementCount: Int { shape.reduce(1, *) }

    /// The byte count of `shape` elements of `type`, or nil when it overflows `Int` or exceeds `limit`.
    static func byteCount(shape: [Int], type: ElementType, limit: Int) -> Int? {
        var total = type.byteCount
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= limit else { return nil }
            total = product
        }
        return total
    }

    /// Element `i` as a signed integer (integer types; `uint64` above `Int64.max` saturates, and is
    /// then refused as a label anyway).
    func integer(at i: Int) -> Int64 {
        bytes.withUnsafeBytes { raw in
            let offset = i * elementType.byteCount
            switch elementType {
            case .uint8: return Int64(raw[offset])
            case .int8: return Int64(Int8(bitPattern: raw[offset]))
            case .uint16: return Int64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
            case .int16: return Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
            case .uint32: return Int64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            case .int32: return Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
            case .uint64:
                let value = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                return value > UInt64(Int64.max) ? Int64.max : Int64(value)
            case .int64: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self))
            case .float32, .float64: preconditionFailure("integer(at:) of a \(elementType) array")
            }
        }
    }

    /// The features as stored for training: bytes kept, `float32` kept, `float64` rounded once to
    /// `Float` (round to nearest even, as numpy's `astype(np.float32)`).
    /// - Throws: `DataFileError.nonFiniteFeature` at the first NaN or infinity (after rounding:
    ///   a `float64` beyond `Float`'s range is refused too).
    func features() throws(DataFileError) -> LabeledSamples.Features {
        switch elementType {
        case .uint8:
            return .bytes(bytes)
        case .float32, .float64:
            let values: [Float] = bytes.withUnsafeBytes { raw in
                if elementType == .float32 {
                    return (0..<elementCount).map {
                        Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
                    }
                }
                return (0..<elementCount).map {
                    Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))))
                }
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw .nonFiniteFeature(source: source, index: Self.index(bad, in: shape), value: "\(values[bad])")
            }
            return .floats(values)
        default:
            throw .unsupportedElementType(source: source, found: elementType.rawValue, role: "features")
        }
    }

    /// The labels as class indices, checked: an integer type, one dimension, each in `0..<classes`
    /// (`classes` nil: only non-negative and below 2³¹).
    func labels(classes: Int?) throws(DataFileError) -> [Int32] {
        guard elementType.isInteger else {
            throw .unsupportedElementType(source: source, found: elementType.rawValue, role: "labels")
        }
        guard shape.count == 1 else { throw .labelShape(source: source, shape: shape) }
        var labels = [Int32](); labels.reserveCapacity(elementCount)
        let limit = Int64(classes ?? Int(Int32.max))
        for i in 0..<elementCount {
            let value = integer(at: i)
            guard value >= 0, value < limit else {
                throw .labelOutOfRange(source: source, index: i, value: value, classes: classes)
            }
            labels.append(Int32(value))
        }
        return labels
    }

    /// Flat index `i` as a multi-index of `shape` ("[3, 14, 2]").
    static func index(_ i: Int, in shape: [Int]) -> [Int] {
        var rest = i
        var out = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] > 0 {
            out[d] = rest % shape[d]
            rest /= shape[d]
        }
        return out
    }
}
