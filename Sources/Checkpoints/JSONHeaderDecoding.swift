import Foundation

/// A safetensors header as parsed from JSON, before any validation: numbers that are not
/// integers, unknown dtypes and absurd offsets are kept so the reader can name them.
struct RawHeader: Decodable {
    /// The `__metadata__` object, when present.
    var metadata: [String: String]?
    /// The tensor entries, in no particular order (JSON objects are unordered).
    var entries: [RawTensorEntry] = []

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: JSONKey.self)
        for key in container.allKeys {
            if key.stringValue == CheckpointFormat.metadataKey {
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                var entry = try container.decode(RawTensorEntry.self, forKey: key)
                entry.name = key.stringValue
                entries.append(entry)
            }
        }
    }
}

/// One tensor's `{"dtype", "shape", "data_offsets"}` entry.
struct RawTensorEntry: Decodable {
    var name = ""
    var dataType: String
    var shape: [RawInteger]
    var dataOffsets: [RawInteger]

    static let fieldNames: Set<String> = ["dtype", "shape", "data_offsets"]

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: JSONKey.self)
        if let unknown = container.allKeys.first(where: { !Self.fieldNames.contains($0.stringValue) }) {
            throw DecodingError.dataCorruptedError(
                forKey: unknown, in: container,
                debugDescription: "unknown field; a tensor entry has only dtype, shape and data_offsets")
        }
        dataType = try container.decode(String.self, forKey: JSONKey("dtype"))
        shape = try container.decode([RawInteger].self, forKey: JSONKey("shape"))
        dataOffsets = try container.decode([RawInteger].self, forKey: JSONKey("data_offsets"))
    }
}

/// A JSON value where an integer is expected: the integer, or a description of what was there.
enum RawInteger: Decodable, CustomStringConvertible {
    case integer(Int)
    case notInteger(String)

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .notInteger(String(describing: value))
        } else if let value = try? container.decode(String.self) {
            self = .notInteger("\"\(CheckpointError.abbreviated(value))\"")
        } else if let value = try? container.decode(Bool.self) {
            self = .notInteger(String(value))
        } else if container.decodeNil() {
            self = .notInteger("null")
        } else {
            self = .notInteger("a non-number")
        }
    }

    var description: String {
        switch self {
        case let .integer(value): String(value)
        case let .notInteger(text): text
        }
    }
}

/// A coding key for JSON objects with arbitrary keys.
struct JSONKey: CodingKey {
    let stringValue: String
    init(_ string: String) { stringValue = string }
    init(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

enum JSONHeaderDecoding {
    /// A header that is not valid JSON, or JSON of the wrong structure.
    enum Problem: Error {
        case notJSON(String)
        case wrongStructure(String)
    }

    /// Parses the header JSON (the padding spaces included).
    static func decode(_ bytes: Data) throws(Problem) -> RawHeader {
        if let problem = JSONNestingGuard.problem(bytes) { throw .notJSON(problem) }
        do {
            return try JSONDecoder().decode(RawHeader.self, from: bytes)
        } catch let DecodingError.dataCorrupted(context) where context.codingPath.isEmpty {
            // Foundation's decoder says only "not valid JSON"; its parser says where.
            var reason = context.debugDescription
            do {
                _ = try JSONSerialization.jsonObject(with: bytes)
            } catch {
                reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? reason
            }
            throw .notJSON(reason)
        } catch {
            throw .wrongStructure(describe(error))
        }
    }

    /// A one-line description of a decoding error: where (the path of keys) and what.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return String(describing: error) }
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { key in
                key.intValue.map { "[\($0)]" } ?? "\"\(CheckpointError.abbreviated(key.stringValue))\""
            }
            return keys.isEmpty ? "top level" : keys.joined(separator: ".")
        }
        switch error {
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            return "\(path(context)): \(context.debugDescription)"
        case let .keyNotFound(key, context):
            return "\(path(context)) has no field \"\(key.stringValue)\""
        @unknown default:
            return String(describing: error)
        }
    }
}
