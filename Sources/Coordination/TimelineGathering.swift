import Collectives
import Foundation
import Tracing

/// Brings every rank's `Timeline` to rank 0 for one trace file, on one clock.
///
/// **Clocks.** Each rank's spans are on its own monotonic clock. `alignClocks` estimates each
/// rank's offset from rank 0's: in each of `rounds` rounds the ranks leave a barrier, read their
/// clocks at once and gather the readings; a rank's offset is the median over the rounds of its
/// reading minus rank 0's. The error is the skew with which the ranks leave a barrier (a few
/// microseconds within a node, about a network latency across nodes); `spread` (the largest
/// range of one rank's differences over the rounds) bounds what it was in this run.
public enum TimelineGathering {
    /// Each rank's clock offset from rank 0's (index = rank; rank 0's is 0), in nanoseconds, and
    /// the largest spread of one rank's measurements over the rounds. Collective.
    public static func alignClocks(_ communicator: Communicator, rounds: Int = 9) throws -> (offsets: [Int64], spread: Int64) {
        var differences = Array(repeating: [Int64](), count: communicator.worldSize)
        for _ in 0..<rounds {
            try communicator.barrier()
            let reading = Int64(bitPattern: Timeline.now())
            let readings = try communicator.allgather(fixed: withUnsafeBytes(of: reading.littleEndian) { Array($0) })
                .map { Int64(littleEndian: $0.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }) }
            for rank in readings.indices { differences[rank].append(readings[rank] - readings[0]) }
        }
        let offsets = differences.map { $0.sorted()[$0.count / 2] }
        let spread = differences.map { ($0.max() ?? 0) - ($0.min() ?? 0) }.max() ?? 0
        return (offsets, spread)
    }

    /// Every rank's spans, names and host on rank 0 (nil on the other ranks), one rank at a time
    /// so that no rank holds more than its own spans and one other's. Collective.
    public static func gather(
        _ timeline: Timeline, host: String, offsets: [Int64], communicator: Communicator
    ) throws -> [ChromeTrace.RankTrace]? {
        let mine = encode(timeline, host: host)
        var gathered = [decode(mine, rank: 0, offset: offsets[0])]  // used on rank 0 only
        // Rank 0's own spans need no message; every other rank broadcasts its own in turn.
        for rank in 1..<max(1, communicator.worldSize) {
            let bytes = try communicator.broadcast(bytes: mine, root: rank)
            if communicator.rank == 0 { gathered.append(decode(bytes, rank: rank, offset: offsets[rank])) }
        }
        return communicator.rank == 0 ? gathered : nil
    }

    /// What a rank sends: a JSON header (host, names, thread names, dropped count) ended by a
    /// newline, then the spans' bytes (their count is the rest's length over 32).
    static func encode(_ timeline: Timeline, host: String) -> [UInt8] {
        let header = Header(
            host: host, names: timeline.names,
            threads: timeline.threadNames.sorted { $0.key < $1.key }.map { Header.Thread(id: $0.key, name: $0.value) },
            dropped: timeline.droppedCount)
        var bytes = Array((try? JSONEncoder().encode(header)) ?? Data("{}".utf8))
        bytes.append(0x0A)
        let spans = timeline.spans
        spans.withUnsafeBytes { bytes.append(contentsOf: $0) }
        return bytes
    }

    static func decode(_ bytes: [UInt8], rank: Int, offset: Int64) -> ChromeTrace.RankTrace {
        // The same binary encoded it (the start-up agreement checks the version): a bad payload is a bug.
        guard let newline = bytes.firstIndex(of: 0x0A),
              let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[..<newline]))
        else { preconditionFailure("rank \(rank) sent a timeline without its header") }
        let body = bytes[(newline + 1)...]
        let stride = MemoryLayout<Timeline.Span>.stride
        precondition(body.count % stride == 0, "rank \(rank) sent \(body.count) bytes of spans")
        let spans = body.withUnsafeBytes { raw in
            (0..<(body.count / stride)).map { raw.loadUnaligned(fromByteOffset: $0 * stride, as: Timeline.Span.self) }
        }
        return ChromeTrace.RankTrace(
            rank: rank, host: header.host, names: header.names,
            threadNames: Dictionary(uniqueKeysWithValues: header.threads.map { ($0.id, $0.name) }), spans: spans,
            clockOffset: offset, droppedCount: header.dropped)
    }

    struct Header: Codable {
        struct Thread: Codable {
            var id: UInt32
            var name: String
        }
        var host: String
        var names: [String]
        var threads: [Thread]
        var dropped: Int
    }
}
