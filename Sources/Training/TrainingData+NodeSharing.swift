import Collectives
import Coordination
import Datasets
import Foundation

/// How many copies of the data a job holds (`--data-copies`).
public enum DataCopies: String, Codable, Sendable, CaseIterable {
    /// One per node: node rank 0 reads and checks the files, then copies the features into an
    /// MPI-3 shared-memory window that every rank of the node maps.
    case node
    /// One per rank: every rank reads and checks the files itself.
    case rank
}

extension TrainingData {
    /// The run's data on every rank (`load(_:)`), held as `configuration.dataCopies` says, with
    /// the outcome agreed: a file that cannot be read is reported once and ends every rank.
    /// A single process, or ranks without shared memory (`NodeMemorySharing`), read their own copy.
    /// Collective.
    public static func load(_ configuration: TrainingConfiguration, communicator: Communicator) throws -> TrainingData {
        guard (configuration.dataCopies ?? .node) == .node, communicator.worldSize > 1,
              let node = communicator as? NodeMemorySharing else {
            return try communicator.agreeOnOutcome { try load(configuration) }
        }
        let (nodeRank, nodeSize) = try node.nodeRank()
        let readers = Int(try communicator.allreduce([Int64(nodeRank == 0 ? 1 : 0)], operation: .sum)[0])
        let read = try communicator.agreeOnOutcome(participants: readers) { nodeRank == 0 ? try load(configuration) : nil }
        return try share(read, node: node, nodeRank: nodeRank, nodeSize: nodeSize)
    }

    /// What the reading rank tells the others of its node about each set.
    private struct SetLayout: Codable {
        var count: Int
        var sampleShape: [Int]
        var classCount: Int
        var isFloat: Bool
        var normalization: Normalization
        var featureBytes: Int

        /// Bytes of the set in the window: features, then labels (`Int32`), each from a 64-byte boundary.
        var windowBytes: Int { Self.aligned(featureBytes) + Self.aligned(4 * count) }
        static func aligned(_ bytes: Int) -> Int { (bytes + 63) / 64 * 64 }
    }

    private struct Layout: Codable {
        var sets: [SetLayout]  // training, test, then validation when held out
        var format: String
        var origin: String
    }

    /// Node rank 0's `read` data in a window every rank of the node maps. Collective over the node.
    private static func share(
        _ read: TrainingData?, node: NodeMemorySharing, nodeRank: Int, nodeSize: Int
    ) throws -> TrainingData {
        // 1. The layout, from the reading rank.
        var header: [UInt8] = []
        if let read {
            let sets = [read.training, read.test] + (read.validation.map { [$0] } ?? [])
            header = Array(try JSONEncoder().encode(Layout(
                sets: sets.map {
                    SetLayout(count: $0.count, sampleShape: $0.sampleShape, classCount: $0.classCount, isFloat: $0.features.isFloat,
                              normalization: $0.normalization, featureBytes: $0.features.byteCount)
                }, format: read.format, origin: read.origin)))
        }
        var length = Int64(header.count)
        try withUnsafeMutableBytes(of: &length) { try node.nodeBroadcast($0, root: 0) }
        if nodeRank != 0 { header = [UInt8](repeating: 0, count: Int(length)) }
        try header.withUnsafeMutableBytes { try node.nodeBroadcast($0, root: 0) }
        let layout = try JSONDecoder().decode(Layout.self, from: Data(header))
        // 2. The window, written by the reading rank.
        let total = layout.sets.reduce(0) { $0 + $1.windowBytes }
        let window = try node.allocateNodeShared(byteCount: nodeRank == 0 ? total : 0)
        precondition(window.count >= total, "a shared window of \(window.count) bytes for \(total)")
        if let read {
            var offset = 0
            for samples in [read.training, read.test] + (read.validation.map { [$0] } ?? []) {
                let target = window.baseAddress! + offset
                samples.features.withElements { elements in
                    switch elements {
                    case .bytes(let b): target.copyMemory(from: b.baseAddress!, byteCount: b.count)
                    case .floats(let f): target.copyMemory(from: f.baseAddress!, byteCount: f.count * 4)
                    }
                }
                let labels = target + SetLayout.aligned(samples.features.byteCount)
                samples.labels.withUnsafeBytes { labels.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                offset += SetLayout.aligned(samples.features.byteCount) + SetLayout.aligned(4 * samples.count)
            }
        }
        try node.nodeBarrier()
        // 3. Every rank's view of it.
        var offset = 0
        let sets = layout.sets.map { set -> LabeledSamples in
            let start = UnsafeRawPointer(window.baseAddress! + offset)
            offset += set.windowBytes
            let elementCount = set.featureBytes / (set.isFloat ? 4 : 1)
            let labels = Array(UnsafeBufferPointer(
                start: (start + SetLayout.aligned(set.featureBytes)).assumingMemoryBound(to: Int32.self), count: set.count))
            return LabeledSamples(
                sampleShape: set.sampleShape, classCount: set.classCount,
                features: .shared(LabeledSamples.SharedFeatures(base: start, count: elementCount, isFloat: set.isFloat)),
                labels: labels, normalization: set.normalization)
        }
        return TrainingData(
            training: sets[0], test: sets[1], validation: sets.count > 2 ? sets[2] : nil, format: layout.format,
            origin: layout.origin,
            copies: nodeSize == 1 ? "one copy per node (one rank on it)" : "one copy per node, shared by its \(nodeSize) ranks")
    }
}
