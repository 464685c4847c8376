import Collectives
import Coordination
import XCTest

/// The start-up agreement at 1-4 ranks: identical fingerprints pass; a rank that differs stops
/// every rank with the same error, naming the rank, the field, its flag and both values.
final class FingerprintAgreementTests: XCTestCase {
    static let flags = ["epochs": "--epochs"]

    func testIdenticalFingerprintsAgreeAtEveryWorldSize() throws {
        try eachWorldSize({ communicator in
            try FingerprintAgreement.check(["epochs": "10", "data.trainingSamples": "60000"], communicator: communicator)
        }) { size, results in
            for (rank, result) in results.enumerated() { XCTAssertNil(result.error, "rank \(rank) of \(size)") }
        }
    }

    func testTheLastRankDisagreeingStopsEveryRankWithTheSameNamedError() throws {
        try eachWorldSize(sizes: [2, 3, 4], { communicator in
            let epochs = communicator.rank == communicator.worldSize - 1 ? "11" : "10"
            try FingerprintAgreement.check(
                ["epochs": epochs, "seed": "0"], communicator: communicator, flagName: { Self.flags[$0] })
        }) { size, results in
            let last = size - 1
            let expected = StartupDisagreement(differences: [
                .init(field: "epochs", flag: "--epochs", rank: last, rankZeroValue: "10", value: "11"),
            ])
            for (rank, result) in results.enumerated() {
                XCTAssertEqual(result.error as? StartupDisagreement, expected, "rank \(rank) of \(size)")
            }
            XCTAssertEqual(
                expected.description,
                "ranks \(last) disagree with rank 0 at start-up: epochs (--epochs): rank 0 has 10, rank \(last) has 11")
            XCTAssertEqual(expected.exitStatus, .lockstepViolation)
        }
    }

    func testAFieldOnlyOneRankHasIsADifference() throws {
        try eachWorldSize(sizes: [2, 3], { communicator in
            var fingerprint = ["epochs": "10"]
            if communicator.rank == 1 { fingerprint["extra"] = "x" }
            try FingerprintAgreement.check(fingerprint, communicator: communicator)
        }) { _, results in
            for result in results {
                let disagreement = result.error as? StartupDisagreement
                XCTAssertEqual(disagreement?.differences.map(\.field), ["extra"])
                XCTAssertEqual(disagreement?.differences.first?.rankZeroValue, nil)
                XCTAssertTrue(disagreement?.description.contains("extra: rank 0 has (not set), rank 1 has x") ?? false)
            }
        }
    }
}
