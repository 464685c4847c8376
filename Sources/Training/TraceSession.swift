import Collectives
import Coordination
import Foundation
import Reporting
import Tracing

/// `--trace FILE`: where the timeline of every rank goes, and how many spans each rank keeps.
public struct TraceOutput: Equatable, Sendable {
    /// The Chrome trace-event JSON file rank 0 writes at the end of the run (or on a stop).
    public var path: String
    /// Spans each rank keeps (32 bytes each); the oldest give way when more are recorded.
    public var capacity: Int

    /// Spans a rank keeps by default: 262,144 (8 MiB), about 15,000 steps of the default MLP.
    public static let defaultCapacity = 1 << 18

    public init(path: String, capacity: Int = TraceOutput.defaultCapacity) {
        self.path = path
        self.capacity = capacity
    }
}

/// A run's timeline: the ring every rank records into, the ranks' clock offsets measured at the
/// start, and the names of the loop's own spans (evaluation, checkpoint, verification). Rank 0
/// gathers every rank's spans and writes one trace file (`write`).
final class TraceSession {
    let output: TraceOutput
    let timeline: Timeline
    let offsets: [Int64]
    /// The largest spread of one rank's clock-offset measurements, in nanoseconds.
    let spread: Int64
    let evaluation: Timeline.Name
    let checkpoint: Timeline.Name
    let verification: Timeline.Name

    /// Allocates the ring and measures the clock offsets. Collective. Rank 0 first proves that
    /// the trace's folder takes files, so that a trace that cannot be written fails the run at
    /// the start (`OutputError`, exit status 74), not at its end.
    init(_ output: TraceOutput, communicator: Communicator) throws {
        _ = try communicator.runOnRankZero {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: output.path, isDirectory: &isFolder), isFolder.boolValue {
                throw OutputError(
                    path: output.path, action: "write the trace to", reason: "it is a folder",
                    hint: "--trace takes a file's name, for example \((output.path as NSString).appendingPathComponent("trace.json"))")
            }
            let folder = URL(fileURLWithPath: output.path).deletingLastPathComponent().path
            try OutputError.requireWritableFolder(atPath: folder, creating: "create the trace's folder", action: "write the trace to")
            return []
        }
        self.output = output
        timeline = Timeline(capacity: output.capacity)
        (offsets, spread) = try TimelineGathering.alignClocks(communicator)
        evaluation = timeline.name("evaluation")
        checkpoint = timeline.name("checkpoint")
        verification = timeline.name("verification")
    }

    /// Gathers every rank's spans on rank 0, which writes the trace file atomically (the whole
    /// file or none) and returns a line about it (empty on the other ranks). Collective.
    /// - Throws: `OutputError` (on every rank, exit status 74) when rank 0 cannot write the file.
    func write(communicator: Communicator) throws -> String {
        let ranks = try TimelineGathering.gather(timeline, host: RankHosts.localName(), offsets: offsets, communicator: communicator)
        let line = try communicator.runOnRankZero { Array(try writeFile(ranks ?? []).utf8) }
        return String(decoding: line, as: UTF8.self)
    }

    /// Writes the trace of `ranks` to the file; returns the line that says so.
    private func writeFile(_ ranks: [ChromeTrace.RankTrace]) throws -> String {
        let largestOffset = offsets.map(\.magnitude).max() ?? 0
        let notes = [
            ("clock", "each rank's monotonic clock moved onto rank 0's by a measured offset (lockstep README, Timeline)"),
            ("clock_offsets_us", offsets.map { ChromeTrace.microseconds($0) }.joined(separator: " ")),
            ("clock_offset_spread_us", ChromeTrace.microseconds(spread)),
            ("dropped_spans", ranks.map { String($0.droppedCount) }.joined(separator: " ")),
        ]
        do {
            try Data(ChromeTrace.json(ranks, notes: notes).utf8).write(to: URL(fileURLWithPath: output.path), options: .atomic)
        } catch {
            throw OutputError(path: output.path, action: "write the trace", reason: error.localizedDescription)
        }
        let spans = ranks.map(\.spans.count).reduce(0, +), dropped = ranks.map(\.droppedCount).reduce(0, +)
        var line = "trace \(output.path): \(spans.formatted()) spans from \(ranks.count == 1 ? "1 rank" : "\(ranks.count) ranks")"
        if ranks.count > 1 {
            line += ", clocks aligned to rank 0's (offsets up to \(ChromeTrace.microseconds(Int64(largestOffset))) µs, "
                + "measured within \(ChromeTrace.microseconds(spread)) µs)"
        }
        if dropped > 0 {
            line += "; the oldest \(dropped.formatted()) spans gave way (raise --trace-spans above \(output.capacity.formatted()) to keep them)"
        }
        return line
    }
}
