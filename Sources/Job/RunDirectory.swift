import Collectives
import Foundation
import Reporting

/// The folder of one training run (README "Run directory"):
///
///     runs/20261129-141502/
///       config.toml     the effective configuration (lockstep train --config reads it back)
///       metrics.jsonl   one JSON object per epoch (unless --metrics puts it elsewhere)
///       metrics.png     loss, accuracy and learning rate (lockstep plot)
///       checkpoints/    checkpoints, when the run writes them
///
/// Only rank 0 writes into it. Its path is the same on every rank: rank 0 chooses it and
/// broadcasts it, so even a default name made from the clock cannot differ between ranks.
public struct RunDirectory: Equatable, Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var configPath: String { join("config.toml") }
    public var metricsPath: String { join("metrics.jsonl") }
    public var plotPath: String { join("metrics.png") }
    /// The default checkpoint directory; created by the first checkpoint written.
    public var checkpointsPath: String { join("checkpoints") }

    private func join(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    /// The run directory every rank uses: `requested`, else a new `runs/<yyyyMMdd-HHmmss>` (under
    /// `$LOCKSTEP_RUNS_DIR` when set) named from rank 0's clock, with `-2`, `-3`, … appended when
    /// that folder exists already. Collective.
    public static func agree(
        requested: String?, communicator: Communicator,
        environment: [String: String] = ProcessInfo.processInfo.environment, now: Date = Date()
    ) throws -> RunDirectory {
        var chosen = ""
        if communicator.rank == 0 {
            chosen = requested ?? uniqueDefault(parent: environment["LOCKSTEP_RUNS_DIR"] ?? "runs", now: now)
        }
        let bytes = try communicator.broadcast(bytes: Array(chosen.utf8), root: 0)
        return RunDirectory(path: String(decoding: bytes, as: UTF8.self))
    }

    /// `parent/<yyyyMMdd-HHmmss>` in local time, made unique among existing folders.
    public static func uniqueDefault(parent: String, now: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let base = (parent as NSString).appendingPathComponent(formatter.string(from: now))
        var candidate = base
        var suffix = 2
        while FileManager.default.fileExists(atPath: candidate) {
            candidate = "\(base)-\(suffix)"
            suffix += 1
        }
        return candidate
    }

    /// Creates the folder and its parents (rank 0).
    /// - Throws: `OutputError` (exit status 74) naming the folder and the reason.
    public func create() throws {
        try OutputError.createDirectories(atPath: path, action: "create the run directory")
    }

    /// Writes `text` to the file at `path` (rank 0).
    /// - Throws: `OutputError`.
    public func write(_ text: String, to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw OutputError(path: path, action: "write", reason: (error as NSError).localizedDescription)
        }
    }
}
