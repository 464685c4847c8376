import Coordination
import XCTest

/// The slowest rank against the median of every rank's compute seconds.
final class ComputeBalanceTests: XCTestCase {
    func testTheSlowestRankAndItsExcessOverTheMedian() throws {
        // Odd count: the median is the middle value, 1.2.
        let odd = try XCTUnwrap(ComputeBalance(computeSeconds: [1.0, 1.2, 1.704, 1.1, 1.3]))
        XCTAssertEqual(odd.slowestRank, 2)
        XCTAssertEqual(odd.medianSeconds, 1.2)
        XCTAssertEqual(odd.slowestExcess, 1.704 / 1.2 - 1, accuracy: 1e-15)
        XCTAssertTrue(odd.isNotable)
        XCTAssertEqual(odd.description(hosts: ["h0", "h0", "h1", "h1", "h2"]), "slowest rank 2 on h1: +42% compute (median 1.20 s)")
        // Even count: the mean of the two middle values, (2 + 3) / 2.
        let even = try XCTUnwrap(ComputeBalance(computeSeconds: [2, 3, 1, 4]))
        XCTAssertEqual(even.medianSeconds, 2.5)
        XCTAssertEqual(even.slowestRank, 3)
        XCTAssertEqual(even.slowestExcess, 0.6, accuracy: 1e-15)
        XCTAssertEqual(even.description(hosts: ["a", "b", "c", "d"]), "slowest rank 3 on d: +60% compute (median 2.50 s)")
        XCTAssertEqual(
            ComputeBalance(computeSeconds: [0.0216, 0.05])?.description(hosts: ["a", "b"]),
            "slowest rank 1 on b: +40% compute (median 0.0358 s)")
        // A tie names the lowest rank.
        XCTAssertEqual(ComputeBalance(computeSeconds: [1, 5, 5])?.slowestRank, 1)
    }

    func testFifteenPercentIsTheThreshold() throws {
        XCTAssertFalse(try XCTUnwrap(ComputeBalance(computeSeconds: [1, 1, 1.15])).isNotable, "exactly 15 %: not above")
        XCTAssertTrue(try XCTUnwrap(ComputeBalance(computeSeconds: [1, 1, 1.1501])).isNotable)
        XCTAssertFalse(try XCTUnwrap(ComputeBalance(computeSeconds: [1, 1, 1])).isNotable)
    }

    func testOneRankOrNoComputeHasNoBalance() {
        XCTAssertNil(ComputeBalance(computeSeconds: [3]))
        XCTAssertNil(ComputeBalance(computeSeconds: []))
        XCTAssertNil(ComputeBalance(computeSeconds: [0, 0, 1]))
    }
}
