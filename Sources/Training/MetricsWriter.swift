import Foundation
import Reporting

/// Appends JSON objects, one per line, to a file (rank 0 only). A non-finite value (a loss that
/// diverged) is written as `NaN`, `Infinity` or `-Infinity`, as Python's `json.dumps` writes and
/// `json.loads` reads them.
final class MetricsWriter {
    private let handle: FileHandle
    private let path: String
    private let encoder: JSONEncoder

    /// Creates or truncates `path`. Throws `OutputError` when the file cannot be created.
    init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw OutputError(path: path, action: "create the metrics file", reason: String(cString: strerror(errno)))
        }
        do { handle = try FileHandle(forWritingTo: url) } catch {
            throw OutputError(path: path, action: "open the metrics file", reason: error.localizedDescription)
        }
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: Self.marker("Infinity"), negativeInfinity: Self.marker("-Infinity"), nan: Self.marker("NaN"))
    }

    /// A quoted placeholder the encoder writes for a non-finite value, replaced by the bare literal.
    private static func marker(_ literal: String) -> String { "\u{1}\(literal)\u{1}" }

    /// `data` with each quoted placeholder replaced by its bare literal.
    private static func unquotingNonFinite(_ data: Data) -> Data {
        var text = String(decoding: data, as: UTF8.self)
        for literal in ["Infinity", "-Infinity", "NaN"] {
            // The encoder escapes the placeholder's control character as \u0001.
            text = text.replacingOccurrences(of: "\"\\u0001\(literal)\\u0001\"", with: literal)
        }
        return Data(text.utf8)
    }

    func append<Line: Encodable>(_ line: Line) throws {
        do {
            var data = Self.unquotingNonFinite(try encoder.encode(line))
            data.append(0x0A)
            try handle.write(contentsOf: data)
        } catch {
            throw OutputError(path: path, action: "write metrics", reason: error.localizedDescription)
        }
    }

    deinit { try? handle.close() }
}
