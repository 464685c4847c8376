/// The element types of array files (NPY, NPZ, safetensors) and how this reader uses them.
///
/// Features may be `uint8`, `float32` or `float64`; labels any integer type. Everything else
/// (booleans, half precision, complex, strings, objects) is refused by name.
public enum ElementType: String, Sendable, Equatable, CaseIterable {
    case uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .uint8, .int8: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        }
    }

    public var isInteger: Bool { self != .float32 && self != .float64 }
    var isSigned: Bool { [.int8, .int16, .int32, .int64].contains(self) }
    /// Accepted for features.
    public var isFeatureType: Bool { self == .uint8 || self == .float32 || self == .float64 }

    /// A numpy type string (`descr`, after its byte-order character): `u1`, `i8`, `f4`, …
    static func numpy(kind: Character, size: Int) -> ElementType? {
        switch (kind, size) {
        case ("u", 1): .uint8
        case ("i", 1): .int8
        case ("u", 2): .uint16
        case ("i", 2): .int16
        case ("u", 4): .uint32
        case ("i", 4): .int32
        case ("u", 8): .uint64
        case ("i", 8): .int64
        case ("f", 4): .float32
        case ("f", 8): .float64
        default: nil
        }
    }

    /// A safetensors dtype: `U8`, `I64`, `F32`, …
    static func safetensors(_ name: String) -> ElementType? {
        switch name {
        case "U8": .uint8
        case "I8": .int8
        case "U16": .uint16
        case "I16": .int16
        case "U32": .uint32
        case "I32": .int32
        case "U64": .uint64
        case "I64": .int64
        case "F32": .float32
        case "F64": .float64
        default: nil
        }
    }
}
