import Foundation

/// Data sets in the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
/// little-endian header length N, N bytes of JSON (`{"name": {"dtype": "U8", "shape": […],
/// "data_offsets": [begin, end]}, …, "__metadata__": {…}}`), then the data section, which every
/// offset is relative to.
///
/// Every entry is checked before any tensor is used: a known dtype name, a shape of
/// non-negative integers whose byte size does not overflow, offsets inside the data section
/// that match the shape, and no two tensors overlapping.
struct SafetensorsDataFile {
    /// The longest header accepted (the reference implementation's limit too).
    static let maximumHeaderByteCount = 100_000_000

    struct Entry {
        let dtype: String
        let shape: [Int]
        let range: Range<Int>
    }

    let path: String
    let bytes: [UInt8]
    let dataStart: Int
    /// Tensor names, in data order.
    let names: [String]
    let entries: [String: Entry]

    init(path: String, limit: Int) throws {
        let bytes = try FileReading.contents(of: path, limit: limit)
        try self.init(path: path, bytes: bytes, limit: limit)
    }

    init(path: String, bytes: [UInt8], limit: Int) throws(DataFileError) {
        guard bytes.count >= 8 else {
            throw .truncatedHeader(source: path, expectedBytes: 8, foundBytes: bytes.count)
        }
        let length = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= UInt64(Self.maximumHeaderByteCount) else {
            throw .malformedHeader(source: path, reason: "a header length of \(length) bytes, more than the \(Self.maximumHeaderByteCount) accepted")
        }
        let dataStart = 8 + Int(length)
        guard bytes.count >= dataStart else {
            throw .truncatedHeader(source: path, expectedBytes: dataStart, foundBytes: bytes.count)
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]))
        } catch {
            throw .malformedHeader(source: path, reason: "it is not JSON (\(error.localizedDescription))")
        }
        guard let dictionary = object as? [String: Any] else {
            throw .malformedHeader(source: path, reason: "it is not a JSON object")
        }
        let dataCount = bytes.count - dataStart
        var entries: [String: Entry] = [:]
        for (name, value) in dictionary where name != "__metadata__" {
            guard let fields = value as? [String: Any], let dtype = fields["dtype"] as? String,
                  let shapeValues = fields["shape"] as? [Any], let offsetValues = fields["data_offsets"] as? [Any] else {
                throw .malformedHeader(source: path, reason: "tensor \(name) lacks a dtype string, a shape or data_offsets")
            }
            func integers(_ values: [Any]) -> [Int]? {
                let numbers = values.compactMap { $0 as? NSNumber }
                guard numbers.count == values.count,
                      numbers.allSatisfy({ $0.int64Value >= 0 && $0.doubleValue == Double($0.int64Value) }) else { return nil }
                return numbers.map { $0.intValue }
            }
            guard let shape = integers(shapeValues) else {
                throw .malformedHeader(source: path, reason: "tensor \(name) has a shape that is not a list of non-negative integers")
            }
            guard let offsets = integers(offsetValues), offsets.count == 2 else {
                throw .malformedHeader(source: path, reason: "tensor \(name) has data_offsets that are not two non-negative integers")
            }
            guard offsets[0] <= offsets[1] else {
                throw .badTensorRange(path: path, name: name, range: offsets, reason: "which end before they begin")
            }
            guard offsets[1] <= dataCount else {
                throw .badTensorRange(path: path, name: name, range: offsets,
                                      reason: "beyond the \(dataCount) bytes of the data section")
            }
            if let type = ElementType.safetensors(dtype) {
                guard let byteCount = NumericArray.byteCount(shape: shape, type: type, limit: limit) else {
                    throw .declaredSizeTooLarge(source: "\(path):\(name)", shape: shape, limit: limit)
                }
                guard byteCount == offsets[1] - offsets[0] else {
                    throw .badTensorRange(path: path, name: name, range: offsets,
                                          reason: "\(offsets[1] - offsets[0]) bytes, but \(dtype) \(DataFileError.shape(shape)) needs \(byteCount)")
                }
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        let ordered = entries.sorted { ($0.value.range.lowerBound, $0.key) < ($1.value.range.lowerBound, $1.key) }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.value.range.lowerBound < previous.value.range.upperBound {
            throw .badTensorRange(path: path, name: next.key, range: [next.value.range.lowerBound, next.value.range.upperBound],
                                  reason: "which overlap those of \(previous.key)")
        }
        self.path = path
        self.bytes = bytes
        self.dataStart = dataStart
        self.names = ordered.map(\.key)
        self.entries = entries
    }

    func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The tensor `name`.
    /// - Throws: `.missingArray` (listing the names it has), `.unsupportedElementType`.
    func array(_ name: String) throws(DataFileError) -> NumericArray {
        let source = "\(path):\(name)"
        guard let entry = entries[name] else { throw .missingArray(path: path, name: name, available: names) }
        guard let type = ElementType.safetensors(entry.dtype) else {
            throw .unsupportedElementType(source: source, found: "dtype \(entry.dtype)", role: "arrays")
        }
        let start = dataStart + entry.range.lowerBound, end = dataStart + entry.range.upperBound
        return NumericArray(source: source, elementType: type, shape: entry.shape, bytes: Array(bytes[start..<end]))
    }
}
