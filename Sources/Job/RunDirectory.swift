import Collectives
import Coordination
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
    /// True when this run created the folder to claim a default name (`agree`).
    public let claimed: Bool
    /// The runs folder above it, when this run created that too (rank 0; nil otherwise).
    public let createdParent: String?

    public init(path: String, claimed: Bool = false, createdParent: String? = nil) {
        self.path = path
        self.claimed = claimed
        self.createdParent = createdParent
    }

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
    /// that name is taken. A default name is claimed at once by creating the folder (`mkdir`,
    /// which fails when another run got there first, so two runs started in the same second end
    /// in two folders); `releaseIfEmpty` removes it again when the run does not start. Collective.
    /// - Throws: `OutputError` when the parent folder cannot be created.
    public static func agree(
        requested: String?, communicator: Communicator,
        environment: [String: String] = ProcessInfo.processInfo.environment, now: Date = Date()
    ) throws -> RunDirectory {
        var chosen = ""
        var createdParent: String?
        let claimed = try communicator.agreeOnOutcome { () throws -> Bool in
            guard communicator.rank == 0 else { return false }
            if let requested {
                chosen = requested
                return false
            }
            let parent = environment["LOCKSTEP_RUNS_DIR"] ?? "runs"
            if !FileManager.default.fileExists(atPath: parent) { createdParent = parent }
            chosen = try claimUniqueDefault(parent: parent, now: now)
            return true
        }
        let bytes = try communicator.broadcast(bytes: Array(chosen.utf8), root: 0)
        return RunDirectory(path: String(decoding: bytes, as: UTF8.self), claimed: claimed, createdParent: createdParent)
    }

    /// `parent/<yyyyMMdd-HHmmss>[-N]`, created here with `mkdir` (atomic: of two runs asking for
    /// the same name, one gets it and the other the next suffix).
    /// - Throws: `OutputError` when `parent` cannot be created or no name can be claimed.
    public static func claimUniqueDefault(parent: String, now: Date) throws -> String {
        try OutputError.createDirectories(atPath: parent, action: "create the runs folder")
        let base = (parent as NSString).appendingPathComponent(timestamp(now))
        var candidate = base
        for suffix in 2...10_000 {
            if mkdir(candidate, 0o777) == 0 { return candidate }
            let code = errno
            guard code == EEXIST else {
                throw OutputError(path: candidate, action: "create the run directory", reason: String(cString: strerror(code)))
            }
            candidate = "\(base)-\(suffix)"
        }
        throw OutputError(path: base, action: "create the run directory", reason: "10,000 runs already use this second's name")
    }

    private static func timestamp(_ now: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: now)
    }

    /// The files of a run that `path` already holds (`config.toml`, `metrics.jsonl`,
    /// `checkpoints/` with its checkpoint count), or an empty list.
    public func existingRun() -> [String] {
        let manager = FileManager.default
        var found = [configPath, metricsPath].filter { manager.fileExists(atPath: $0) }.map { ($0 as NSString).lastPathComponent }
        let checkpoints = ((try? manager.contentsOfDirectory(atPath: checkpointsPath)) ?? []).filter { $0.hasSuffix(".safetensors") }
        if !checkpoints.isEmpty { found.append("checkpoints/ (\(checkpoints.count) checkpoint\(checkpoints.count == 1 ? "" : "s"))") }
        return found
    }

    /// Removes the run that the folder holds (`--overwrite`, rank 0): `config.toml`, the metrics
    /// file and plot, and the checkpoints in `checkpoints/`.
    /// - Throws: `OutputError` for a file that cannot be removed.
    public func removeRun() throws {
        let manager = FileManager.default
        let checkpoints = ((try? manager.contentsOfDirectory(atPath: checkpointsPath)) ?? [])
            .filter { $0.hasSuffix(".safetensors") }.map { (checkpointsPath as NSString).appendingPathComponent($0) }
        for file in [configPath, metricsPath, plotPath] + checkpoints where manager.fileExists(atPath: file) {
            do { try manager.removeItem(atPath: file) } catch {
                throw OutputError(path: file, action: "remove (--overwrite)", reason: (error as NSError).localizedDescription)
            }
        }
    }

    /// Removes the folder when this run claimed it and it is still empty, and the runs folder
    /// above it when this run created that and it is empty too (rank 0; a run that did not start
    /// leaves nothing behind).
    public func releaseIfEmpty() {
        guard claimed, rmdir(path) == 0 else { return }  // fails, harmlessly, unless the folder is empty
        if let createdParent { _ = rmdir(createdParent) }
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
