import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `--checkpoint-dir`: one file per checkpoint, `ckpt-step-<global step, 12 digits>.safetensors`,
/// written atomically (temporary files are `.ckpt-step-….safetensors.tmp-<pid>`).
///
/// Only rank 0 writes and prunes. Files with other names are ignored (never read, never deleted).
public struct CheckpointDirectory: Sendable {
    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    // MARK: - Names

    static let prefix = "ckpt-step-"
    static let suffix = ".safetensors"
    static let stepDigits = 12
    /// The largest step a file name can hold (12 digits).
    public static let maximumStep: Int64 = 999_999_999_999

    /// `ckpt-step-000000000123.safetensors` for step 123.
    /// - Precondition: `0 ≤ step ≤ maximumStep`.
    public static func fileName(step: Int64) -> String {
        precondition(step >= 0 && step <= maximumStep, "checkpoint step \(step) outside 0...\(maximumStep)")
        let digits = String(step)
        return prefix + String(repeating: "0", count: stepDigits - digits.count) + digits + suffix
    }

    /// The step of a checkpoint file name, or nil for any other name.
    public static func step(fromFileName name: String) -> Int64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let digits = name.utf8.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count)
        guard digits.count == stepDigits, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Int64(String(decoding: digits, as: UTF8.self))
    }

    /// True for the temporary name of a checkpoint being written (`CheckpointWriter`).
    public static func isTemporaryFileName(_ name: String) -> Bool {
        guard name.hasPrefix(".") else { return false }
        let parts = name.dropFirst().split(separator: ".tmp-", omittingEmptySubsequences: false)
        guard parts.count == 2, step(fromFileName: String(parts[0])) != nil else { return false }
        return !parts[1].isEmpty && parts[1].allSatisfy(\.isASCII) && parts[1].allSatisfy(\.isNumber)
    }

    /// The path of the checkpoint for `step`.
    public func url(step: Int64) -> URL {
        url.appendingPathComponent(Self.fileName(step: step))
    }

    // MARK: - Writing and pruning

    /// Writes `checkpoint` as the checkpoint for `step`, creating the directory if needed.
    /// - Returns: the file's URL.
    /// - Throws: `CheckpointError.writeFailed`.
    @discardableResult
    public func write(_ checkpoint: Checkpoint, step: Int64, fault: CheckpointWriteFault = .none) throws -> URL {
        if let code = POSIXFile.makeDirectories(url.path) {
            throw CheckpointError.writeFailed(file: url.path, operation: "create directory", code: code)
        }
        let destination = url(step: step)
        try CheckpointWriter.write(checkpoint, to: destination, fault: fault)
        return destination
    }

    /// Deletes all checkpoints but the `keepLast` with the highest steps, and never `written`
    /// (the checkpoint just written, even when files of higher steps are there). Temporary files
    /// and other files are left alone. Call it after a successful write, so the newest is valid.
    /// - Returns: the deleted files, oldest first.
    /// - Throws: `CheckpointError.directoryUnreadable` or `.writeFailed` (operation "delete").
    /// - Precondition: `keepLast ≥ 1`.
    @discardableResult
    public func prune(keepLast: Int, keeping written: URL? = nil) throws -> [URL] {
        precondition(keepLast >= 1, "keepLast \(keepLast) < 1")
        let checkpoints = try list().checkpoints
        let doomed = checkpoints.dropLast(keepLast).map(\.url).filter { $0.standardizedFileURL != written?.standardizedFileURL }
        for file in doomed where unlink(file.path) != 0 && errno != ENOENT {
            throw CheckpointError.writeFailed(file: file.path, operation: "delete", code: errno)
        }
        return Array(doomed)
    }

    // MARK: - Finding checkpoints

    /// What a checkpoint directory holds.
    public struct Listing: Sendable {
        /// Checkpoint files, ascending by step.
        public var checkpoints: [(step: Int64, url: URL)]
        /// Temporary files of writes that never finished, by name.
        public var temporaryFiles: [URL]
    }

    /// Lists the directory; a directory that does not exist is empty.
    /// - Throws: `CheckpointError.directoryUnreadable`.
    public func list() throws -> Listing {
        guard let stream = opendir(url.path) else {
            let code = errno
            if code == ENOENT { return Listing(checkpoints: [], temporaryFiles: []) }
            throw CheckpointError.directoryUnreadable(directory: url.path, code: code)
        }
        defer { closedir(stream) }
        var listing = Listing(checkpoints: [], temporaryFiles: [])
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let step = Self.step(fromFileName: name) {
                listing.checkpoints.append((step, url.appendingPathComponent(name)))
            } else if Self.isTemporaryFileName(name) {
                listing.temporaryFiles.append(url.appendingPathComponent(name))
            }
        }
        listing.checkpoints.sort { $0.step < $1.step }
        listing.temporaryFiles.sort { $0.lastPathComponent < $1.lastPathComponent }
        return listing
    }

    /// The checkpoint `--resume auto` resumes from.
    public struct Latest: Sendable {
        public let step: Int64
        public let url: URL
        public let checkpoint: Checkpoint
        /// One line each for the log: newer checkpoints that could not be read (and why), and
        /// temporary files of interrupted writes.
        public let warnings: [String]
    }

    /// The newest checkpoint that reads and validates, falling back past unreadable newer ones
    /// (each reported in `warnings`); nil when the directory has no checkpoint and no temporary
    /// file (a fresh start).
    /// - Throws: `CheckpointError.onlyTemporaryFiles` when the directory holds nothing but
    ///   temporary files (the first write was interrupted), `.noValidCheckpoint` when no
    ///   checkpoint reads, `.directoryUnreadable`.
    public func latest(limits: CheckpointLimits = .default) throws -> Latest? {
        let listing = try list()
        var failures: [CheckpointError] = []
        for candidate in listing.checkpoints.reversed() {
            let checkpoint: Checkpoint
            do {
                checkpoint = try CheckpointReader.read(from: candidate.url, limits: limits)
            } catch let error as CheckpointError {
                failures.append(error)
                continue
            }
            let warnings = failures.map { "skipping an unusable checkpoint: \($0.description)" }
                + (failures.isEmpty ? [] : ["resuming from the newest valid checkpoint instead, \(candidate.url.path)"])
                + listing.temporaryFiles.map {
                    "ignoring \($0.path), the temporary file of an interrupted checkpoint write (safe to delete)"
                }
            return Latest(step: candidate.step, url: candidate.url, checkpoint: checkpoint, warnings: warnings)
        }
        if !failures.isEmpty {
            throw CheckpointError.noValidCheckpoint(directory: url.path, failures: failures.map(\.description))
        }
        if !listing.temporaryFiles.isEmpty {
            throw CheckpointError.onlyTemporaryFiles(directory: url.path, files: listing.temporaryFiles.map(\.lastPathComponent))
        }
        return nil
    }
}
