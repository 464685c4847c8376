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
    /// One line of the output (`"identical_across_ranks"`, `"max_relative_error"`, …).
    public struct Result: Codable, Equatable, Sendable {
        public let mode: String
        public let size: Int
        public let ranks: Int
        public let identicalAcrossRanks: Bool
        /// The largest `|sum − exact| / Σ|x|` over the elements and repetitions (Float summation of
        /// N terms errs by at most about N·ε·Σ|x|).
        public let maximumRelativeError: Double

        /// The JSON names (snake_case, as printed).
        enum CodingKeys: String, CodingKey {
            case mode, size, ranks, identicalAcrossRanks = "identical_across_ranks", maximumRelativeError = "max_relative_error"
        }
    }

    /// Checks `mode` on buffers of `count` floats, `repeats` times (seeds 0…). Collective.
    public static func check(mode: ReductionMode, count: Int, repeats: Int, communicator: Communicator) throws -> Result {
        var identical = true
        var worst = 0.0
        for seed in 0..<UInt64(repeats) {
            let (same, error) = try check(mode: mode, count: count, seed: seed, communicator: communicator)
            identical = identical && same
            worst = max(worst, error)
        }
        return Result(
            mode: mode.rawValue, size: count, ranks: communicator.worldSize, identicalAcrossRanks: identical,
            maximumRelativeError: worst)
    }

    /// Values of rank `rank`'s buffer: signs and magnitudes from 1e-6 to 1e6.
    private static func values(count: Int, rank: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed, stream: UInt64(rank))
        return (0..<count).map { _ in Float(generator.nextGaussian() * pow(10, Double(generator.nextIndex(below: 13)) - 6)) }
    }

    private static func check(mode: ReductionMode, count: Int, seed: UInt64, communicator: Communicator) throws -> (Bool, Double) {
        var buffer = values(count: count, rank: communicator.rank, seed: seed)
        try buffer.withUnsafeMutableBufferPointer { pointer in
            switch mode {
            case .allreduce: try communicator.allreduce(pointer, operation: .sum)
            case .reduceScatterAllgather: try communicator.sumByReduceScatterAllgather(pointer)
            case .sharded: try communicator.sumByRingReduceScatterAllgather(pointer)
            }
        }
        var hasher = StateHash()
        buffer.withUnsafeBytes { hasher.combine(bytes: $0) }
        let hashes = try communicator.allgather(fixed: withUnsafeBytes(of: hasher.finalize()) { Array($0) })
        // The exact sum, from every rank's values regenerated here, in Double.
        var exact = [Double](repeating: 0, count: count)
        var magnitude = [Double](repeating: 0, count: count)
        for rank in 0..<communicator.worldSize {
            for (index, value) in values(count: count, rank: rank, seed: seed).enumerated() {
                exact[index] += Double(value)
                magnitude[index] += abs(Double(value))
            }
        }
        let error = zip(buffer, zip(exact, magnitude)).map { abs(Double($0) - $1.0) / max($1.1, .leastNormalMagnitude) }.max() ?? 0
        return (Set(hashes).count == 1, error)
    }
}
