import Foundation
import Reporting

/// Appends JSON objects, one per line, to a file (rank 0 only).
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
    }

    func append<Line: Encodable>(_ line: Line) throws {
        do {
            var data = try encoder.encode(line)
            data.append(0x0A)
            try handle.write(contentsOf: data)
        } catch {
            throw OutputError(path: path, action: "write metrics", reason: error.localizedDescription)
        }
    }

    deinit { try? handle.close() }
}
