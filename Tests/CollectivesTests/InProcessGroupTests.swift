import Collectives
import XCTest

/// The in-process group that the coordination tests run on: its collectives against values
/// computed here, at 1-4 ranks, and its refusal of a collective a rank never joins.
final class InProcessGroupTests: XCTestCase {
    func testSumsAreExactInRankOrderAndBitwiseIdenticalOnEveryRank() {
        for size in 1...4 {
            let results = InProcessGroup.run(worldSize: size) { communicator -> [Float] in
                var values: [Float] = [0.1 * Float(communicator.rank + 1), 1e8, -Float(communicator.rank)]
                try values.withUnsafeMutableBufferPointer { try communicator.allreduce($0, operation: .sum) }
                return values
            }
            // Rank 0's values, then each other rank's added in rank order (so rank 0's -0 stays -0).
            var expected: [Float] = [0.1, 1e8, -0.0]
            for rank in 1..<max(size, 1) {
                expected[0] += 0.1 * Float(rank + 1)
                expected[1] += 1e8
                expected[2] += -Float(rank)
            }
            for result in results {
                XCTAssertEqual(try result.get().map(\.bitPattern), expected.map(\.bitPattern), "world of \(size)")
            }
        }
    }

    func testMaxMinBroadcastAndAllgather() throws {
        let results = InProcessGroup.run(worldSize: 3) { communicator -> ([Int64], [Int64], [UInt8], [[UInt8]]) in
            let maximum = try communicator.allreduce([Int64(communicator.rank), 5], operation: .max)
            let minimum = try communicator.allreduce([Int64(communicator.rank), 5], operation: .min)
            let broadcast = try communicator.broadcast(bytes: Array("from \(communicator.rank)".utf8), root: 2)
            let gathered = try communicator.allgather(bytes: Array(repeating: UInt8(communicator.rank), count: communicator.rank))
            return (maximum, minimum, broadcast, gathered)
        }
        for result in results {
            let (maximum, minimum, broadcast, gathered) = try result.get()
            XCTAssertEqual(maximum, [2, 5])
            XCTAssertEqual(minimum, [0, 5])
            XCTAssertEqual(broadcast, Array("from 2".utf8))
            XCTAssertEqual(gathered, [[], [1], [2, 2]])
        }
    }

    func testACollectiveOneRankSkipsTimesOutInsteadOfHanging() {
        let results = InProcessGroup.run(worldSize: 2, timeout: 0.3) { communicator in
            if communicator.rank == 0 { try communicator.barrier() }
        }
        XCTAssertEqual(results[0].error as? InProcessGroupError, .timedOut(rank: 0, seconds: 0.3))
        XCTAssertNil(results[1].error)
    }

    func testMismatchedCountsAreRefused() {
        let results = InProcessGroup.run(worldSize: 2) { communicator in
            var values = [Double](repeating: 1, count: communicator.rank + 1)
            try values.withUnsafeMutableBufferPointer { try communicator.allreduce($0, operation: .sum) }
        }
        for result in results { XCTAssertNotNil(result.error as? InProcessGroupError) }
    }
}

extension Result {
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
