import Foundation
import Reporting
import TestSupport
import XCTest
@testable import lockstep

/// Every option of `lockstep train`, taken from the parser's own list (so a new option is covered
/// without touching this test), given each of 0, −1, Int64.max, 10²⁰, 1e308, 1e-320, nan, inf, an
/// empty string and text: the run ends by itself with success, a usage error (64), a missing file
/// (66) or a diverged run (79: a learning rate of 1e20 trains into infinities), never by a signal
/// (a trap), a backtrace, a hang, or an error that is not the value's fault (before this test, a
/// `--weight-decay` of Int64.max ended with "cannot write metrics", exit 74).
final class OptionValueTableTests: XCTestCase {
    static let values = ["0", "-1", "9223372036854775807", "1e20", "1e308", "1e-320", "nan", "inf", "", "text"]
    /// A small run, so that an accepted value trains for a moment only.
    static let base = ["train", "--limit-train", "128", "--limit-test", "50", "--epochs", "1", "--global-batch", "64",
                       "--hidden", "8", "--no-plots", "--progress", "none", "--run-dir", "run"]

    func testNoValueOfAnyOptionCrashesOrHangs() throws {
        let options = ArgumentCatalog(TrainCommand.self).configurableEntries.filter { $0.kind == .option }.map(\.key)
        XCTAssertGreaterThan(options.count, 50, "the parser's option list")
        let expected: Set<Int32> = [ExitStatus.success, .usage, .data, .missingInput, .nonFinite].map(\.rawValue).reduce(into: []) { $0.insert($1) }
        var outcomes: [Int32: Int] = [:]
        var others: [String] = []
        for option in options {
            for value in Self.values {
                let directory = try temporaryDirectory(for: self)
                defer { try? FileManager.default.removeItem(at: directory) }
                let result = try ProcessRunner.run(
                    ProcessRunner.lockstepBinary, Self.base + ["--\(option)", value], workingDirectory: directory.path, timeout: 60)
                let what = "--\(option) '\(value)'"
                XCTAssertFalse(result.timedOut, "\(what) hung")
                XCTAssertFalse(result.terminatedBySignal, "\(what) ended by signal \(result.exitCode): \(result.combinedOutput)")
                XCTAssertTrue(expected.contains(result.exitCode), "\(what): exit \(result.exitCode): \(result.standardError)")
                XCTAssertFalse(result.standardError.contains("Fatal error"), "\(what): \(result.standardError)")
                outcomes[result.exitCode, default: 0] += 1
                if ![0, 64, 66].contains(result.exitCode) { others.append("\(what) → \(result.exitCode)") }
            }
        }
        print("option × value outcomes (exit status: count): \(outcomes.sorted { $0.key < $1.key }); others: \(others)")
    }
}

/// `missingTool`: a skip on a developer's machine, a failure under CI.
final class MissingToolTests: XCTestCase {
    func testMissingToolsFailUnderCIAndSkipElsewhere() {
        XCTAssertTrue(missingTool("x", environment: ["CI": "true"]) is MissingToolUnderCI)
        XCTAssertTrue(missingTool("x", environment: [:]) is XCTSkip)
    }
}
