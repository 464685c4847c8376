import Foundation
import Reporting

/// One line of the `--metrics` JSON Lines file: the state at the end of an epoch.
public struct EpochMetrics: Codable, Equatable, Sendable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Global optimizer steps completed so far.
    public var step: Int64
    /// The learning rate of the epoch's last update.
    public var lr: Double
    /// Mean training loss over the epoch's samples (measured before each update).
    public var train_loss: Double
    public var test_loss: Double
    public var test_accuracy: Double
    /// Training samples per second over all ranks, evaluation excluded.
    public var samples_per_s: Double
    /// Seconds spent training (evaluation excluded).
    public var epoch_seconds: Double
    /// Seconds spent evaluating.
    public var eval_seconds: Double
    /// Updates skipped so far because the reduced loss or gradient was not finite.
    public var skipped_steps: Int64
    /// Mean and largest global gradient norm before clipping (only with `--clip-grad-norm`).
    public var grad_norm_mean: Double?
    public var grad_norm_max: Double?
}

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
