import Foundation
import Logging

/// A swift-log handler for a process that is one rank of a job.
///
/// Rank 0 is the job's voice: its messages at or above the log level go to standard output
/// (warnings and errors to standard error, prefixed `warning:` / `error:`). Other ranks print only
/// warnings and errors, to standard error, prefixed `rank R:`, so a job of N ranks prints each
/// line once unless a rank has something of its own to say. Each message is written with one
/// `write` call, so lines from different ranks do not interleave mid-line under mpirun.
public struct RankLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    private let rank: Int
    private let timestamps: Bool

    /// - Parameters:
    ///   - rank: this process's rank.
    ///   - logLevel: the lowest level rank 0 prints (other ranks never print below `.warning`).
    ///   - timestamps: prefix each line with an ISO-8601 time (for logs that are not a terminal).
    public init(rank: Int, logLevel: Logger.Level = .info, timestamps: Bool = false) {
        self.rank = rank
        self.logLevel = rank == 0 ? logLevel : max(logLevel, .warning)
        self.timestamps = timestamps
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = ""
        if timestamps { line += Date().formatted(.iso8601) + " " }
        if rank != 0 { line += "rank \(rank): " }
        switch event.level {
        case .warning: line += "warning: "
        case .error, .critical: line += "error: "
        default: break
        }
        line += event.message.description
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        if !merged.isEmpty {
            line += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        line += "\n"
        let handle = rank == 0 && event.level < .warning ? FileHandle.standardOutput : FileHandle.standardError
        handle.write(Data(line.utf8))
    }
}
