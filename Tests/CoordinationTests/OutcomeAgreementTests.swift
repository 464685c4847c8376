import Collectives
import Coordination
import Reporting
import XCTest

/// One decision taken together, at 1-4 ranks: rank 0's outcome broadcast to every rank
/// (`runOnRankZero`), and every rank's outcome agreed (`agreeOnOutcome`), success or failure.
final class OutcomeAgreementTests: XCTestCase {
    struct DiskFull: ReportableError {
        var description: String { "cannot write /x: no space left on device" }
        var hint: String? { "free space" }
        var exitStatus: ExitStatus { .io }
    }

    struct MissingFile: ReportableError {
        let rank: Int
        var description: String { "dataset file /data-\(rank) does not exist" }
        var exitStatus: ExitStatus { .missingInput }
    }

    // MARK: - runOnRankZero

    func testRankZerosBytesReachEveryRank() throws {
        try eachWorldSize({ communicator in
            try communicator.runOnRankZero { Array("chosen by rank \(communicator.rank)".utf8) }
        }) { size, results in
            for result in results { XCTAssertEqual(try result.get(), Array("chosen by rank 0".utf8), "world of \(size)") }
        }
    }

    func testRankZerosFailureEndsEveryRankWithItsMessageHintAndStatus() throws {
        try eachWorldSize({ communicator in
            try communicator.runOnRankZero { throw DiskFull() }
        }) { size, results in
            let expected = CollectiveFailure(
                description: "cannot write /x: no space left on device", hint: "free space", status: ExitStatus.io.rawValue)
            for result in results { XCTAssertEqual(result.error as? CollectiveFailure, expected, "world of \(size)") }
        }
    }

    func testOnlyRankZeroRunsTheBody() throws {
        try eachWorldSize({ communicator in
            var ran = false
            _ = try communicator.runOnRankZero {
                ran = true
                return []
            }
            return ran
        }) { _, results in
            XCTAssertEqual(results.map { try? $0.get() }, [true] + Array(repeating: false, count: results.count - 1))
        }
    }

    // MARK: - agreeOnOutcome

    func testEveryRanksValueWhenAllSucceed() throws {
        try eachWorldSize({ communicator in
            try communicator.agreeOnOutcome { communicator.rank * 10 }
        }) { _, results in
            XCTAssertEqual(results.map { try? $0.get() }, results.indices.map { $0 * 10 })
        }
    }

    func testOneFailingRankEndsEveryRankNamingIt() throws {
        try eachWorldSize(sizes: [2, 3, 4], { communicator in
            try communicator.agreeOnOutcome {
                if communicator.rank == communicator.worldSize - 1 { throw MissingFile(rank: communicator.rank) }
                return communicator.rank
            }
        }) { size, results in
            let last = size - 1
            let expected = CollectiveFailure(
                description: "rank \(last): dataset file /data-\(last) does not exist", hint: nil,
                status: ExitStatus.missingInput.rawValue)
            for result in results { XCTAssertEqual(result.error as? CollectiveFailure, expected, "world of \(size)") }
        }
    }

    func testTheSameFailureOnEveryRankIsSaidOnceWithoutRanks() throws {
        try eachWorldSize({ communicator in
            try communicator.agreeOnOutcome { () throws -> Int in throw DiskFull() }
        }) { size, results in
            for result in results {
                XCTAssertEqual((result.error as? CollectiveFailure)?.description, "cannot write /x: no space left on device", "world of \(size)")
            }
        }
    }

    func testDifferentFailuresAreListedByRankWithTheLowestRanksStatus() throws {
        try eachWorldSize(sizes: [3, 4], { communicator in
            try communicator.agreeOnOutcome {
                switch communicator.rank {
                case 1: throw DiskFull()
                case 2: throw MissingFile(rank: 2)
                default: return 0
                }
            }
        }) { _, results in
            let expected = CollectiveFailure(
                description: "rank 1: cannot write /x: no space left on device\nrank 2: dataset file /data-2 does not exist",
                hint: "free space", status: ExitStatus.io.rawValue)
            for result in results { XCTAssertEqual(result.error as? CollectiveFailure, expected) }
        }
    }

    // MARK: - CollectiveFailure

    func testAnyErrorBecomesACollectiveFailureWithItsStatus() throws {
        struct Plain: Error {}
        XCTAssertEqual(CollectiveFailure(DiskFull()).status, ExitStatus.io.rawValue)
        XCTAssertEqual(CollectiveFailure(Plain()).status, ExitStatus.software.rawValue)
        XCTAssertTrue(CollectiveFailure(Plain()).isCollective)
        XCTAssertThrowsError(try CollectiveFailure.collectively { throw MissingFile(rank: 3) }) { error in
            XCTAssertEqual(error as? CollectiveFailure, CollectiveFailure(description: "dataset file /data-3 does not exist", hint: nil, status: 66))
        }
    }
}
