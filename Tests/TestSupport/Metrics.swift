import Foundation

/// Reads a `--metrics` JSON Lines file into one dictionary per line.
public func readJSONLines(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map { line in
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw CocoaError(.propertyListReadCorrupt)
        }
        return object
    }
}

/// The `lockstep verified: N ranks, params hash HEX` hash in a run's output, or nil.
public func verifiedParameterHash(in output: String) -> String? {
    guard let range = output.range(of: #"lockstep verified: \d+ ranks?, params hash [0-9a-f]{16}"#, options: .regularExpression) else {
        return nil
    }
    return String(output[range].suffix(16))
}
