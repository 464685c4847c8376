@testable import Collectives
import XCTest

/// `--reduction sharded`'s reduction on in-process ranks at 1-4 ranks, against sums computed here:
/// each rank's slice holds the ring's sums, the trailing slots every rank's sum, and the agreed
/// Σ gᵢ² and finiteness are the same on every rank.
final class ShardedReductionTests: XCTestCase {
    /// 1,001 gradients (7 · 11 · 13: the slices differ in size at 2, 3 and 4 ranks) plus 2 trailing slots,
    /// in buckets of 100 elements as backward would finish them in segments of 64.
    private static let gradients = 1001, trailing = 2

    private static func values(rank: Int) -> [Float] {
        (0..<(gradients + trailing)).map { index in
            // Magnitudes over eight binades, so the order of the additions shows in the bits.
            Float(sin(Double(index * 7 + rank * 13 + 1))) * Float(1 << ((index + rank) % 8)) + Float(rank) / 3
        }
    }

    private struct Outcome {
        var buffer: [Float]
        var owned: Range<Int>
        var finite: Bool
        var squaredNorm: Double
    }

    private func run(worldSize: Int, overlap: Bool, poison: (rank: Int, index: Int)? = nil) throws -> [Outcome] {
        try InProcessGroup.run(worldSize: worldSize) { communicator -> Outcome in
            var values = Self.values(rank: communicator.rank)
            if let poison, poison.rank == communicator.rank { values[poison.index] = .nan }
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
            defer { buffer.deallocate() }
            _ = buffer.initialize(from: values)
            let readyPoints = Array(stride(from: Self.gradients - 64, to: 0, by: -64)) + [0]
            let reduction = GradientReduction(
                communicator: communicator, mode: .sharded, overlap: overlap, buffer: buffer,
                readyPoints: readyPoints, bucketByteCount: 400, shardedCount: Self.gradients)
            reduction.beginStep()
            for point in readyPoints { try reduction.ready(from: point) }
            let finite = try reduction.finish()
            return Outcome(buffer: Array(buffer), owned: reduction.ownedRange, finite: finite, squaredNorm: reduction.squaredNorm)
        }.map { try $0.get() }
    }

    func testEachRankReceivesTheRingSumsOfItsSliceAndEveryRankTheTrailingSlots() throws {
        for worldSize in 1...4 {
            let ranks = (0..<worldSize).map(Self.values(rank:))
            for overlap in [false, true] {
                let outcomes = try run(worldSize: worldSize, overlap: overlap)
                // The slices tile the gradients in rank order, sizes differing by at most one.
                XCTAssertEqual(outcomes.map(\.owned), (0..<worldSize).map { BlockPartition(count: Self.gradients, parts: worldSize).range(of: $0) })
                var exactSquares = 0.0
                for (rank, outcome) in outcomes.enumerated() {
                    for index in outcome.owned {
                        // The documented order: ((x[r+1] + x[r+2]) + …) + x[r].
                        var sum = ranks[(rank + 1) % worldSize][index]
                        for step in stride(from: 2, through: worldSize, by: 1) { sum += ranks[(rank + step) % worldSize][index] }
                        XCTAssertEqual(outcome.buffer[index].bitPattern, sum.bitPattern, "\(worldSize) ranks, rank \(rank), element \(index)")
                        exactSquares += Double(sum) * Double(sum)
                    }
                    for index in Self.gradients..<(Self.gradients + Self.trailing) {
                        let exact = ranks.reduce(0.0) { $0 + Double($1[index]) }, magnitude = ranks.reduce(0.0) { $0 + abs(Double($1[index])) }
                        XCTAssertEqual(Double(outcome.buffer[index]), exact, accuracy: Double(worldSize - 1) * 0x1p-24 * magnitude,
                                       "trailing slot \(index) on rank \(rank)")
                    }
                }
                // Σ gᵢ² over the whole reduced gradient, identical on every rank.
                XCTAssertEqual(Set(outcomes.map(\.squaredNorm.bitPattern)).count, 1, "\(worldSize) ranks")
                XCTAssertEqual(outcomes[0].squaredNorm, exactSquares, accuracy: exactSquares * 1e-12, "\(worldSize) ranks")
                XCTAssertTrue(outcomes.allSatisfy(\.finite))
            }
        }
    }

    func testANonFiniteGradientInAnyRanksSliceSkipsTheStepOnEveryRank() throws {
        for worldSize in 2...4 {
            // A NaN in the last rank's slice, sent by rank 0, and one in a trailing slot.
            for index in [Self.gradients - 1, Self.gradients] {
                let outcomes = try run(worldSize: worldSize, overlap: true, poison: (0, index))
                XCTAssertEqual(outcomes.map(\.finite), Array(repeating: false, count: worldSize), "\(worldSize) ranks, NaN at \(index)")
            }
        }
    }

    func testTheRingAndAllgatherSumEveryElementOnEveryRank() throws {
        for worldSize in 1...4 {
            let results = try InProcessGroup.run(worldSize: worldSize) { communicator -> [Float] in
                var values = Self.values(rank: communicator.rank)
                try values.withUnsafeMutableBufferPointer { try communicator.sumByRingReduceScatterAllgather($0) }
                return values
            }.map { try $0.get() }
            let ranks = (0..<worldSize).map(Self.values(rank:))
            for result in results {
                XCTAssertEqual(result.map(\.bitPattern), results[0].map(\.bitPattern), "\(worldSize) ranks")
                for (index, value) in result.enumerated() {
                    // N − 1 roundings, each at most half an ulp of a partial sum no larger than Σ|x|.
                    let exact = ranks.reduce(0.0) { $0 + Double($1[index]) }, magnitude = ranks.reduce(0.0) { $0 + abs(Double($1[index])) }
                    XCTAssertEqual(Double(value), exact, accuracy: Double(worldSize - 1) * 0x1p-24 * magnitude, "element \(index)")
                }
            }
        }
    }

    /// A checkpoint's optimizer state: every rank's slice lands at its offset on rank 0 (the
    /// elements its owner holds, bit for bit), and the other ranks receive nothing.
    func testGatherAssemblesTheSlicesOnRankZeroOnly() throws {
        for worldSize in 1...4 {
            let partition = BlockPartition(count: 1_001, parts: worldSize)
            let results = try InProcessGroup.run(worldSize: worldSize) { communicator -> [Float]? in
                let slice = Self.values(rank: communicator.rank)[partition.range(of: communicator.rank)]
                let whole = communicator.rank == 0 ? UnsafeMutableBufferPointer<Float>.allocate(capacity: 1_001) : nil
                defer { whole?.deallocate() }
                whole?.initialize(repeating: .nan)
                try Array(slice).withUnsafeBufferPointer {
                    try communicator.gather($0, into: whole, blockCounts: communicator.blockCounts(of: partition), root: 0)
                }
                return whole.map(Array.init)
            }.map { try $0.get() }
            let owners = (0..<worldSize).flatMap { owner in partition.range(of: owner).map { _ in owner } }
            let expected = (0..<1_001).map { index in Self.values(rank: owners[index])[index] }
            XCTAssertEqual(results[0]?.map(\.bitPattern), expected.map(\.bitPattern), "\(worldSize) ranks")
            XCTAssertTrue(results.dropFirst().allSatisfy { $0 == nil })
        }
    }
}
