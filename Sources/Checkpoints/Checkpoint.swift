import Foundation

/// One named tensor of a checkpoint: row-major `Float` values of a given shape.
///
/// Weights are stored `[out, in]` (`layers.0.weight`), biases `[out]` (`layers.0.bias`).
/// Equality compares names, shapes and the values' bit patterns (NaN equals the same NaN,
/// `0.0` differs from `-0.0`), which is what exact resume needs.
public struct CheckpointTensor: Sendable, Equatable, CustomStringConvertible {
    /// The tensor's name; any string except `__metadata__`.
    public let name: String
    /// The dimensions, outermost first; `[]` is a scalar (one element).
    public let shape: [Int]
    /// `shape.reduce(1, *)` values in row-major order.
    public let values: [Float]

    /// - Precondition: every dimension is ≥ 0, the element count does not overflow `Int` and equals
    ///   `values.count`, and `name` is not `__metadata__`.
    public init(name: String, shape: [Int], values: [Float]) {
        precondition(name != CheckpointFormat.metadataKey, "a tensor cannot be named \(CheckpointFormat.metadataKey)")
        let count = CheckpointTensor.elementCount(of: shape)
        precondition(count == values.count, "tensor \(name) of shape \(shape) needs \(count.map(String.init) ?? "overflowing") values, got \(values.count)")
        self.name = name
        self.shape = shape
        self.values = values
    }

    /// A copy of `buffer` (for example a `FloatBuffer.slice`) with the given shape.
    public init(name: String, shape: [Int], copying buffer: UnsafeBufferPointer<Float>) {
        self.init(name: name, shape: shape, values: Array(buffer))
    }

    /// The number of elements, `shape.reduce(1, *)`.
    public var elementCount: Int { values.count }

    /// The product of `shape`, or nil when a dimension is negative or the product overflows `Int`.
    public static func elementCount(of shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            count = product
        }
        return count
    }

    public static func == (lhs: CheckpointTensor, rhs: CheckpointTensor) -> Bool {
        lhs.name == rhs.name && lhs.shape == rhs.shape && lhs.values.count == rhs.values.count
            && lhs.values.withUnsafeBytes { a in rhs.values.withUnsafeBytes { b in a.elementsEqual(b) } }
    }

    public var description: String { "\(name) \(shape)" }
}

/// The contents of one checkpoint file: named tensors and string metadata.
///
/// `metadata` holds the caller's keys only (configuration, world size, global step, RNG state, …;
/// structured values JSON encoded, see `setMetadata(json:forKey:)`); the format's own keys
/// (`CheckpointFormat.ReservedKey`) are added by the writer and removed by the reader.
public struct Checkpoint: Sendable, Equatable {
    /// The tensors in data order (the order they are written and read back).
    public var tensors: [CheckpointTensor]
    /// The caller's metadata. Keys in `CheckpointFormat.ReservedKey.all` are not allowed.
    public var metadata: [String: String]
    /// Where this checkpoint was read from, for error messages; nil when built in memory.
    /// Not part of equality.
    public var source: String?

    public init(tensors: [CheckpointTensor] = [], metadata: [String: String] = [:], source: String? = nil) {
        self.tensors = tensors
        self.metadata = metadata
        self.source = source
    }

    public static func == (lhs: Checkpoint, rhs: Checkpoint) -> Bool {
        lhs.tensors == rhs.tensors && lhs.metadata == rhs.metadata
    }

    /// The tensor named `name`, or nil.
    public func tensor(named name: String) -> CheckpointTensor? {
        tensors.first { $0.name == name }
    }

    /// `source`, or a stand-in for checkpoints built in memory.
    var sourceDescription: String { source ?? "<checkpoint in memory>" }

    // MARK: - JSON-encoded metadata

    /// Stores `value` JSON encoded (keys sorted, so equal values give equal bytes) under `key`.
    /// - Throws: `EncodingError` when `value` cannot be encoded (e.g. a non-finite `Double`).
    public mutating func setMetadata<Value: Encodable>(json value: Value, forKey key: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        metadata[key] = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The string stored under `key`.
    /// - Throws: `CheckpointError.missingMetadata` when there is none.
    public func metadataString(forKey key: String) throws -> String {
        guard let value = metadata[key] else {
            throw CheckpointError.missingMetadata(file: sourceDescription, key: key)
        }
        return value
    }

    /// The JSON-encoded value stored under `key`, decoded as `Value`.
    /// - Throws: `CheckpointError.missingMetadata`, or `.invalidMetadata` naming the key, the
    ///   expected type and the decoder's complaint.
    public func metadataValue<Value: Decodable>(_ type: Value.Type, forKey key: String) throws -> Value {
        let text = try metadataString(forKey: key)
        if let problem = JSONNestingGuard.problem(text.utf8) {
            throw CheckpointError.invalidMetadata(file: sourceDescription, key: key, value: text, expected: "JSON for \(Value.self) (\(problem))")
        }
        do {
            return try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        } catch {
            throw CheckpointError.invalidMetadata(
                file: sourceDescription, key: key, value: text,
                expected: "JSON for \(Value.self) (\(JSONHeaderDecoding.describe(error)))")
        }
    }

    /// The value under `key` for people to read: a JSON object or array re-indented with sorted
    /// keys (numbers exactly as stored), any other string as it is; nil when there is no such key.
    public func prettyPrintedMetadataValue(forKey key: String) -> String? {
        guard let value = metadata[key] else { return nil }
        guard let first = value.first, first == "{" || first == "[", JSONNestingGuard.problem(value.utf8) == nil,
            let object = try? JSONSerialization.jsonObject(with: Data(value.utf8)),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return value }
        return String(decoding: pretty, as: UTF8.self)
    }

    // MARK: - Validation against a model

    /// Checks that the tensors are exactly `expected` (names and shapes, any order).
    /// - Throws: `CheckpointError.tensorsDoNotMatch` listing every missing, unexpected and
    ///   mismatched tensor.
    public func validateTensors(expected: [(name: String, shape: [Int])]) throws {
        var remaining = Dictionary(tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
        var missing: [String] = []
        var mismatched: [CheckpointError.ShapeMismatch] = []
        for (name, shape) in expected {
            guard let found = remaining.removeValue(forKey: name) else {
                missing.append(name)
                continue
            }
            if found != shape { mismatched.append(.init(name: name, expected: shape, found: found)) }
        }
        let unexpected = tensors.map(\.name).filter { remaining[$0] != nil }
        guard missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty else {
            throw CheckpointError.tensorsDoNotMatch(
                file: sourceDescription, missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
    }
}
