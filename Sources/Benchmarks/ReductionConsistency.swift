import Collectives
import Determinism
import Foundation

/// `lockstep diagnose reduction`: does this MPI's reduction give every rank the same bytes?
///
/// Every rank sums a buffer of pseudo-random floats spanning many magnitudes (1e-6 to 1e6, both
/// signs, so the summation order matters), hashes the result and compares the hashes across
/// ranks; the sum is also compared with the exact sum in `Double`, regenerated from every rank's
/// seed.
public enum ReductionConsistency {
    /// What is checked: a `--reduction` mode's sum, or the sum through a node's shared memory
    /// (`NodeMemorySharing.sumInNodeSharedMemory`, measured beside Open MPI's in `bench allreduce`).
    public enum Path: Sendable, Equatable {
        case mode(ReductionMode)
        case sharedMemory

        /// The `mode` field of the output.
        public var name: String {
            switch self {
            case .mode(let mode): mode.rawValue
            case .sharedMemory: "shared-memory"
            }
        }

        /// Every mode, and the shared-memory sum when the job has several ranks, all on one node. Collective.
        public static func all(communicator: Communicator) throws -> [Path] {
            let nodeMemory = communicator.worldSize > 1 ? communicator as? NodeMemorySharing : nil
            let shared = try nodeMemory?.allRanksShareOneNode() == true
            return ReductionMode.allCases.map(Path.mode) + (shared ? [.sharedMemory] : [])
        }
    }

    /// One line of the output (`"identical_across_ranks"`, `"max_relative_error"`, …).
    public struct Result: Codable, Equatable, Sendable {
        public let mode: String
        public let size: Int
        public let ranks: Int
        public let identicalAcrossRanks: Bool
        /// The largest `|sum − exact| / Σ|x|` over the elements and repetitions (Float summation of
        /// N terms errs by at most about N·ε·Σ|x|).
        public let maximumRelativeError: Double
        /// `sharded` and `shared-memory` only: every element equals, bit for bit, the documented
        /// order, recomputed here from every rank's regenerated values: the ring's
        /// `((x[r+1] + x[r+2]) + …) + x[r]` for the block of its owner r, or rank order
        /// `((x[0] + x[1]) + …) + x[N−1]` (nil for the other modes, whose order is MPI's).
        public let documentedOrder: Bool?

        /// The JSON names (snake_case, as printed).
        enum CodingKeys: String, CodingKey {
            case mode, size, ranks, identicalAcrossRanks = "identical_across_ranks", maximumRelativeError = "max_relative_error"
            case documentedOrder = "documented_order"
        }
    }

    /// Checks `path` on buffers of `count` floats, `repeats` times (seeds 0…). Collective.
    public static func check(path: Path, count: Int, repeats: Int, communicator: Communicator) throws -> Result {
        var identical = true, ordered = true
        var worst = 0.0
        for seed in 0..<UInt64(repeats) {
            let (same, error, inOrder) = try check(path: path, count: count, seed: seed, communicator: communicator)
            identical = identical && same
            ordered = ordered && inOrder
            worst = max(worst, error)
        }
        return Result(
            mode: path.name, size: count, ranks: communicator.worldSize, identicalAcrossRanks: identical,
            maximumRelativeError: worst, documentedOrder: path == .mode(.sharded) || path == .sharedMemory ? ordered : nil)
    }

    /// Values of rank `rank`'s buffer: signs and magnitudes from 1e-6 to 1e6.
    private static func values(count: Int, rank: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed, stream: UInt64(rank))
        return (0..<count).map { _ in Float(generator.nextGaussian() * pow(10, Double(generator.nextIndex(below: 13)) - 6)) }
    }

    private static func check(
        path: Path, count: Int, seed: UInt64, communicator: Communicator
    ) throws -> (identical: Bool, error: Double, documentedOrder: Bool) {
        var buffer = values(count: count, rank: communicator.rank, seed: seed)
        try buffer.withUnsafeMutableBufferPointer { pointer in
            switch path {
            case .mode(.allreduce): try communicator.allreduce(pointer, operation: .sum)
            case .mode(.reduceScatterAllgather): try communicator.sumByReduceScatterAllgather(pointer)
            case .mode(.hierarchical): try communicator.sumHierarchically(pointer)
            case .mode(.sharded): try communicator.sumByRingReduceScatterAllgather(pointer)
            case .sharedMemory:
                guard let nodeMemory = communicator as? NodeMemorySharing else { preconditionFailure("Path.all offers it only under MPI") }
                try nodeMemory.sumInNodeSharedMemory(pointer)
            }
        }
        var hasher = StateHash()
        buffer.withUnsafeBytes { hasher.combine(bytes: $0) }
        let hashes = try communicator.allgather(fixed: withUnsafeBytes(of: hasher.finalize()) { Array($0) })
        // The exact sum, from every rank's values regenerated here, in Double.
        var exact = [Double](repeating: 0, count: count)
        var magnitude = [Double](repeating: 0, count: count)
        let ranks = (0..<communicator.worldSize).map { values(count: count, rank: $0, seed: seed) }
        for rankValues in ranks {
            for (index, value) in rankValues.enumerated() {
                exact[index] += Double(value)
                magnitude[index] += abs(Double(value))
            }
        }
        let error = zip(buffer, zip(exact, magnitude)).map { abs(Double($0) - $1.0) / max($1.1, .leastNormalMagnitude) }.max() ?? 0
        // The documented order: the ring's for each block's owner (sharded), or rank order (shared memory).
        let partition = BlockPartition(count: count, parts: communicator.worldSize)
        let documented = (0..<communicator.worldSize).allSatisfy { owner in
            let first = path == .sharedMemory ? 0 : owner + 1
            return partition.range(of: owner).allSatisfy { index in
                var sum = ranks[first % ranks.count][index]
                for step in stride(from: 1, to: ranks.count, by: 1) { sum += ranks[(first + step) % ranks.count][index] }
                return sum.bitPattern == buffer[index].bitPattern
            }
        }
        return (Set(hashes).count == 1, error, documented)
    }
}
