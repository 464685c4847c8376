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

/// The same table for every other command's own options (the option groups they share with
/// `train`, such as the model's and the data's, are covered above), and for every option of
/// `train` given as a configuration-file value (TOML literals: integers, floats, nan, inf, strings).
final class CommandValueTableTests: XCTestCase {
    static let values = OptionValueTableTests.values
    /// As for the command line: a learning rate or weight decay of 1e20 trains into infinities (79).
    static let expected: Set<Int32> = [ExitStatus.success, .usage, .data, .missingInput, .nonFinite].map(\.rawValue)
        .reduce(into: []) { $0.insert($1) }
    /// A version-1 checkpoint of the default MLP, for evaluate and checkpoint inspect.
    static let checkpoint = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("IntegrationTests/Fixtures/v1-ckpt-step-000000000015.safetensors").path

    /// Each command with the arguments that keep an accepted value's run short.
    static let commands: [(catalog: ArgumentCatalog, base: [String])] = [
        (ArgumentCatalog(BenchCommand.Step.self), ["bench", "step", "--synthetic", "256", "--global-batch", "64", "--hidden", "8",
                                  "--warmup", "1", "--steps", "2", "--repetitions", "1"]),
        (ArgumentCatalog(BenchCommand.GEMM.self), ["bench", "gemm", "--hidden", "8", "--batch", "8", "--repetitions", "1"]),
        (ArgumentCatalog(BenchCommand.Allreduce.self), ["bench", "allreduce", "--max-bytes", "64K", "--repetitions", "1", "--calls", "2"]),
        (ArgumentCatalog(ScheduleCommand.Table.self), ["schedule", "table", "--count", "3"]),
        (ArgumentCatalog(ScheduleCommand.Analyze.self), ["schedule", "analyze", "--total", "10"]),
        (ArgumentCatalog(EvaluateCommand.self), ["evaluate", "--checkpoint", checkpoint, "--limit-test", "100"]),
        (ArgumentCatalog(CheckpointCommand.Inspect.self), ["checkpoint", "inspect", checkpoint]),
        (ArgumentCatalog(PlotCommand.self), ["plot", "no-such-metrics.jsonl"]),
        (ArgumentCatalog(DiagnoseReductionCommand.self), ["diagnose", "reduction", "--sizes", "3", "--repeats", "1"]),
        (ArgumentCatalog(DiagnoseBLASCommand.self), ["diagnose", "blas", "--batch", "2"]),
    ]

    private func assertEndsCleanly(_ arguments: [String], in directory: URL, _ what: String) throws -> Int32 {
        let result = try ProcessRunner.run(ProcessRunner.lockstepBinary, arguments, workingDirectory: directory.path, timeout: 60)
        XCTAssertFalse(result.timedOut, "\(what) hung")
        XCTAssertFalse(result.terminatedBySignal, "\(what) ended by signal \(result.exitCode): \(result.combinedOutput)")
        XCTAssertTrue(Self.expected.contains(result.exitCode), "\(what): exit \(result.exitCode): \(result.standardError)")
        XCTAssertFalse(result.standardError.contains("Fatal error"), "\(what): \(result.standardError)")
        return result.exitCode
    }

    func testNoValueOfAnyOtherCommandsOptionCrashesOrHangs() throws {
        let trainOptions = Set(ArgumentCatalog(TrainCommand.self).entries.map(\.key))
        var tried = 0
        for (catalog, base) in Self.commands {
            let options = catalog.configurableEntries
                .filter { $0.kind == .option && !trainOptions.contains($0.key) }.map(\.key)
            for option in options {
                for value in Self.values {
                    let directory = try temporaryDirectory(for: self)
                    defer { try? FileManager.default.removeItem(at: directory) }
                    _ = try assertEndsCleanly(base + ["--\(option)", value], in: directory, "\(base.prefix(2).joined(separator: " ")) --\(option) '\(value)'")
                    tried += 1
                }
            }
        }
        XCTAssertGreaterThan(tried, 150, "every command's own options")
    }

    func testNoConfigFileValueCrashesOrHangs() throws {
        let options = ArgumentCatalog(TrainCommand.self).configurableEntries.filter { $0.kind == .option }.map(\.key)
        let literals = ["0", "-1", "9223372036854775807", "1e20", "1e308", "1e-320", "nan", "inf", "\"\"", "\"text\""]
        var outcomes: [Int32: Int] = [:]
        for option in options {
            for literal in literals {
                let directory = try temporaryDirectory(for: self)
                defer { try? FileManager.default.removeItem(at: directory) }
                let config = directory.appendingPathComponent("run.toml")
                try "\(option) = \(literal)\n".write(to: config, atomically: true, encoding: .utf8)
                let code = try assertEndsCleanly(
                    OptionValueTableTests.base + ["--config", config.path], in: directory, "config '\(option) = \(literal)'")
                outcomes[code, default: 0] += 1
            }
        }
        XCTAssertGreaterThan(outcomes[ExitStatus.usage.rawValue] ?? 0, options.count, "most values are refused: \(outcomes)")
    }
}

/// `missingTool`: a skip on a developer's machine, a failure under CI.
final class MissingToolTests: XCTestCase {
    func testMissingToolsFailUnderCIAndSkipElsewhere() {
        XCTAssertTrue(missingTool("x", environment: ["CI": "true"]) is MissingToolUnderCI)
        XCTAssertTrue(missingTool("x", environment: [:]) is XCTSkip)
    }
}
