import Foundation
import TestSupport
import XCTest

/// The documented exit statuses (README "Exit codes") that the command line can be made to
/// produce, each with its two-line message: `error: …` (what, where) and `hint: …` (what to do).
/// 69 (MPI), 75 (stalled), 76 (lockstep violation) and 79 (non-finite) need fault injection
/// and are tested with it.
final class ExitCodeTests: XCTestCase {
    /// Runs lockstep expecting `status`, no output on stdout and one or two lines on stderr:
    /// `error: …`, then `hint: …` when there is advice to give.
    private func failure(
        _ arguments: [String], status: Int32, environment: [String: String] = [:],
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> (error: String, hint: String?) {
        let result = try lockstep(arguments, environment: environment)
        XCTAssertEqual(result.exitCode, status, result.combinedOutput, file: file, line: line)
        let lines = result.standardError.split(separator: "\n").map(String.init)
        XCTAssertFalse(result.standardError.contains(escape), "no escape codes when stderr is a file", file: file, line: line)
        XCTAssertFalse(result.standardError.contains("Usage"), file: file, line: line)
        guard (1...2).contains(lines.count), lines[0].hasPrefix("error: "), lines.dropFirst().allSatisfy({ $0.hasPrefix("hint: ") }) else {
            XCTFail("error: and hint: lines expected, got \(result.standardError)", file: file, line: line)
            return ("", nil)
        }
        return (String(lines[0].dropFirst(7)), lines.count == 2 ? String(lines[1].dropFirst(6)) : nil)
    }

    // MARK: - 64, usage

    /// A misspelt command is named even with options after it (which would otherwise be reported
    /// as unknown options of the top-level command).
    func testAMisspeltCommandIsNamedEvenWithOptionsAfterIt() throws {
        for arguments in [["trian"], ["trian", "--epochs", "2"]] {
            let (error, hint) = try failure(arguments, status: 64)
            XCTAssertEqual(error, "Unexpected argument 'trian'", "\(arguments)")
            XCTAssertEqual(hint, "did you mean 'train'?; lockstep --help lists every option", "\(arguments)")
        }
    }

    /// A value left out says so; a negative number read as an option gets the equals-sign form.
    func testAMissingValueAndANegativeNumberGetTheirOwnHints() throws {
        let missing = try failure(["train", "--config"], status: 64)
        XCTAssertEqual(missing.error, "Missing value for '--config <file.toml>'")
        XCTAssertEqual(missing.hint, "--config needs a value; lockstep train --help lists every option")
        let negative = try failure(["train", "--lr", "-1"], status: 64)
        XCTAssertEqual(negative.hint, "a negative number goes after an equals sign: --lr=-1; lockstep train --help lists every option")
    }

    func testBadFlagValueIsUsage() throws {
        let report = try failure(["train", "--epochs", "0"], status: 64)
        XCTAssertEqual(report.error, "--epochs must be in 1…1000000, got 0")
        XCTAssertEqual(report.hint, "lockstep train --help lists every option")
    }

    func testUnparsableValueIsUsage() throws {
        let report = try failure(["train", "--global-batch", "many"], status: 64)
        XCTAssertEqual(report.error, "The value 'many' is invalid for '--global-batch <samples>'")
    }

    func testUnknownFlagIsUsageWithSuggestion() throws {
        let report = try failure(["train", "--lrr", "0.1"], status: 64)
        XCTAssertEqual(report.error, "Unknown option '--lrr'. Did you mean '--lr'?")
    }

    func testScheduleValidationIsUsageWithItsHint() throws {
        let directory = try temporaryDirectory(for: self)
        let report = try failure(
            ["train", "--final-lr", "1e-3", "--warmup", "5", "--epochs", "6", "--run-dir", directory.path], status: 64)
        XCTAssertTrue(report.error.hasPrefix("--final-lr 0.001 cannot be reached"), report.error)
        XCTAssertEqual(report.hint, "shorten --warmup, --hold or --staircase, or train longer")
    }

    func testUnknownConfigKeyIsUsage() throws {
        let directory = try temporaryDirectory(for: self)
        let config = try write("batch-size = 64\n", to: "run.toml", in: directory)
        let report = try failure(["train", "--config", config], status: 64)
        XCTAssertEqual(report.error, "\(config):1: unknown key 'batch-size'")
    }

    // MARK: - 65, malformed data

    func testMalformedDatasetIsDataError() throws {
        let directory = try temporaryDirectory(for: self)
        let images = try write("this is not an IDX file", to: "train-images-idx3-ubyte", in: directory)
        try write("neither is this", to: "train-labels-idx1-ubyte", in: directory)
        let report = try failure(
            ["train", "--data-dir", directory.path, "--run-dir", directory.appendingPathComponent("run").path], status: 65)
        XCTAssertTrue(report.error.contains(images), report.error)
    }

    // MARK: - 66, missing input

    func testMissingDataDirectoryIsMissingInput() throws {
        let directory = try temporaryDirectory(for: self)
        let report = try failure(
            ["train", "--data-dir", "/nonexistent/fashion", "--run-dir", directory.appendingPathComponent("run").path],
            status: 66)
        XCTAssertTrue(report.error.contains("/nonexistent/fashion/train-images-idx3-ubyte.gz"), report.error)
        XCTAssertFalse(
            FileManager.default.fileExists(atPath: directory.appendingPathComponent("run").path),
            "a run that cannot start leaves no run directory")
    }

    func testMissingConfigFileIsMissingInput() throws {
        let report = try failure(["train", "--config", "/nonexistent/run.toml"], status: 66)
        XCTAssertEqual(report.error, "config file /nonexistent/run.toml does not exist")
    }

    // MARK: - 74, I/O

    func testRunDirectoryThatCannotBeCreatedIsIOError() throws {
        let directory = try temporaryDirectory(for: self)
        let file = try write("a file, not a folder", to: "occupied", in: directory)
        let report = try failure(["train", "--run-dir", file + "/run", "--no-checkpoints"] + tinyRun, status: 74)
        XCTAssertEqual(report.error, "cannot create the run directory \(file)/run: \(file) is a file, not a folder")
    }

    /// A checkpoint directory that cannot be created fails the run at start, before any step,
    /// and before the run directory is created.
    func testCheckpointDirectoryThatCannotBeCreatedIsIOErrorAtStart() throws {
        let directory = try temporaryDirectory(for: self)
        let file = try write("a file, not a folder", to: "occupied", in: directory)
        let run = directory.appendingPathComponent("run").path
        let report = try failure(["train", "--run-dir", run, "--checkpoint-dir", file + "/ckpt"] + tinyRun, status: 74)
        XCTAssertEqual(report.error, "cannot create the checkpoint directory \(file)/ckpt: \(file) is a file, not a folder")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "nothing was created")
    }

    func testMetricsFileThatCannotBeWrittenIsIOError() throws {
        let directory = try temporaryDirectory(for: self)
        let file = try write("a file, not a folder", to: "occupied", in: directory)
        let result = try lockstep(
            ["train", "--run-dir", directory.appendingPathComponent("run").path, "--metrics", file + "/m.jsonl"] + tinyRun)
        XCTAssertEqual(result.exitCode, 74, result.combinedOutput)
        XCTAssertTrue(result.standardError.hasPrefix("error: cannot create the metrics file \(file)/m.jsonl"), result.standardError)
    }

    // MARK: - 0

    func testHelpIsSuccess() throws {
        let result = try lockstep(["train", "--help"])
        XCTAssertEqual(result.exitCode, 0)
        XCTAssertEqual(result.standardError, "")
    }
}
