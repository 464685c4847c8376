import Foundation
import TestSupport
import XCTest

/// `scripts/train.sh`'s refusals, which come before it sets up or builds anything: a rank count
/// that is not a number, and `--np` (the script takes the rank count from `NP`).
final class TrainScriptTests: XCTestCase {
    private static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/train.sh").path

    func testABadRankCountIsAUsageErrorThatNamesNP() throws {
        for np in ["abc", "0", "-2", "1e3", "4 "] {
            let result = try ProcessRunner.run(Self.script, [], environment: ["NP": np], timeout: 30)
            XCTAssertEqual(result.exitCode, 64, "NP=\(np): \(result.combinedOutput)")
            XCTAssertTrue(result.standardError.contains("error: NP must be a whole number of ranks from 1 to 999999, got '\(np)'"),
                          result.combinedOutput)
        }
    }

    func testNpAsAnArgumentPointsToNP() throws {
        for arguments in [["--np", "4"], ["--epochs", "3", "-np", "4"], ["--np=4"]] {
            let result = try ProcessRunner.run(Self.script, arguments, environment: ["NP": ""], timeout: 30)
            XCTAssertEqual(result.exitCode, 64, "\(arguments): \(result.combinedOutput)")
            XCTAssertTrue(result.standardError.contains("error: scripts/train.sh does not take \(arguments.first { $0.contains("np") }!)"),
                          result.combinedOutput)
            XCTAssertTrue(result.standardError.contains("hint: set the number of ranks with NP=4 scripts/train.sh"), result.combinedOutput)
            XCTAssertFalse(result.combinedOutput.contains("Unknown option"), result.combinedOutput)
        }
    }
}
