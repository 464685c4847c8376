import Foundation
import TestSupport
import XCTest

/// `lockstep train --help` against a stored copy, so that a change to the help (an option
/// renamed, a default changed, a group lost) is a visible decision in review.
///
/// After an intended change, rewrite the snapshot and review its diff:
///     LOCKSTEP_UPDATE_SNAPSHOTS=1 swift test --filter HelpSnapshotTests
final class HelpSnapshotTests: XCTestCase {
    private static let snapshotDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Snapshots")

    private func assertSnapshot(_ arguments: [String], name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        // A fixed width, so the wrapping does not depend on the terminal running the tests.
        let result = try lockstep(arguments, environment: ["COLUMNS": "100"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput, file: file, line: line)
        let path = Self.snapshotDirectory.appendingPathComponent(name).path
        if ProcessInfo.processInfo.environment["LOCKSTEP_UPDATE_SNAPSHOTS"] == "1" {
            try result.standardOutput.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let stored = try String(contentsOfFile: path, encoding: .utf8)
        if stored != result.standardOutput {
            let storedLines = stored.split(separator: "\n", omittingEmptySubsequences: false)
            let actualLines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
            let first = Array(zip(storedLines, actualLines)).firstIndex { $0 != $1 } ?? min(storedLines.count, actualLines.count)
            XCTFail("""
                `lockstep \(arguments.joined(separator: " "))` differs from Snapshots/\(name) at line \(first + 1):
                  stored: \(first < storedLines.count ? storedLines[first] : "(end)")
                  actual: \(first < actualLines.count ? actualLines[first] : "(end)")
                If the change is intended: LOCKSTEP_UPDATE_SNAPSHOTS=1 swift test --filter HelpSnapshotTests
                """, file: file, line: line)
        }
    }

    func testTrainHelp() throws {
        try assertSnapshot(["train", "--help"], name: "train-help.txt")
    }

    func testTopLevelHelp() throws {
        try assertSnapshot(["--help"], name: "help.txt")
    }

    /// The groups the issue asks for, in order, each with at least one option.
    func testTrainHelpGroupsOptions() throws {
        let help = try lockstep(["train", "--help"], environment: ["COLUMNS": "100"]).standardOutput
        let groups = help.split(separator: "\n").filter { $0.hasSuffix(":") && $0 == $0.uppercased() }.map(String.init)
        XCTAssertEqual(groups, [
            "DATA:", "MODEL:", "TRAINING:", "OPTIMIZER:", "LEARNING-RATE SCHEDULE:", "DISTRIBUTION:", "RUN:",
            "CHECKPOINTS:", "PERFORMANCE:", "OPTIONS:",
        ], help)
    }
}
