import Collectives
import Foundation
import Logging

/// Memory per node: the proportional set size (PSS) of the ranks on each node, summed. PSS
/// charges each shared page to the processes that map it in equal parts, so the sum over a
/// node's ranks counts a node-shared data set once, and private copies once per rank.
public enum NodeMemory {
    /// This process's proportional set size in bytes (`Pss:` of `/proc/self/smaps_rollup`, in
    /// kB), or 0 where it is unavailable.
    public static func proportionalBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("Pss:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kilobytes = Int(fields[1]) { return kilobytes * 1024 }
        }
        return 0
    }

    /// Each node's ranks and the sum of their PSS, in the order of the nodes' first ranks.
    /// Ranks that are threads of one process (no `NodeMemorySharing`) are one node, counted once.
    /// Collective.
    public static func perNode(_ communicator: Communicator) throws -> [(ranks: Int, bytes: Int)] {
        var leader = Int64(0)
        var mine = Int64(proportionalBytes())
        if let node = communicator as? NodeMemorySharing {
            leader = Int64(communicator.rank)
            try withUnsafeMutableBytes(of: &leader) { try node.nodeBroadcast($0, root: 0) }
        } else if communicator.rank != 0 {
            mine = 0  // the same process as rank 0
        }
        let pairs = try communicator.allgather(bytes: [leader, mine].flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } })
        var nodes: [Int64: (ranks: Int, bytes: Int)] = [:]
        var order: [Int64] = []
        for bytes in pairs {
            let values = bytes.withUnsafeBytes { raw in (0..<2).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) } }
            if nodes[values[0]] == nil { order.append(values[0]) }
            nodes[values[0], default: (0, 0)].ranks += 1
            nodes[values[0], default: (0, 0)].bytes += Int(values[1])
        }
        return order.map { nodes[$0]! }
    }

    /// "memory per node 139.2 MB (proportional set size of its 2 ranks; largest of 1 node); peak
    /// resident 112.0 MB per rank".
    public static func summary(nodes: [(ranks: Int, bytes: Int)], peakBytes: Int) -> String {
        func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
        let largest = nodes.max { $0.bytes < $1.bytes } ?? (ranks: 1, bytes: 0)
        return "memory per node \(megabytes(largest.bytes)) (proportional set size of its \(largest.ranks) rank"
            + "\(largest.ranks == 1 ? "" : "s"); largest of \(nodes.count) node\(nodes.count == 1 ? "" : "s")); "
            + "peak resident \(megabytes(peakBytes)) per rank"
    }

    /// Logs `summary` on rank 0 at the end of a run. Collective.
    public static func report(_ communicator: Communicator, logger: Logger) throws {
        let nodes = try perNode(communicator)
        let peak = try PeakMemory.maximumOverRanks(communicator)
        logger.info("\(summary(nodes: nodes, peakBytes: peak))")
    }
}
