import Foundation
import TestSupport
import XCTest

/// Issue 15's crash list (each a trap or a hang before) is a usage error naming the option; two
/// runs started in the same second get two run directories; a run directory that holds a run is
/// not started afresh in, unless `--overwrite`; a model too large for the node is refused in a
/// second with the numbers.
final class HardeningCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try ProcessRunner.temporaryDirectory("hardening") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private static let small = ["--limit-train", "640", "--limit-test", "100", "--epochs", "1", "--progress", "none"]

    func testHugeAndTinyValuesAreUsageErrorsNotCrashes() throws {
        let cases: [([String], String)] = [
            (["--global-batch", "9223372036854775807"], "--global-batch must be in 1…16777216 samples, got 9223372036854775807"),
            (["--eval-batch", "9223372036854775807"], "--eval-batch must be in 1…16777216 samples, got 9223372036854775807"),
            (["--bucket-mb", "1e300"], "--bucket-mb must be a number of MiB in 0.0001…4096, got 1e+300"),
            (["--bucket-mb", "9223372036854775807"], "--bucket-mb must be a number of MiB in 0.0001…4096, got 9.223372036854776e+18"),
            (["--blas-threads", "9223372036854775807"], "--blas-threads must be in 1…1024, got 9223372036854775807"),
            (["--gamma", "1e-320"], "the decay factor gamma = 1e-320 is below 2.2250738585072014e-308"),
            (["--half-life", "1e-320"], "the decay factor gamma = 0.0 is below 2.2250738585072014e-308"),
            (["--unit", "step", "--epochs", "3000000000000000000"], "--epochs must be in 1…1000000, got 3000000000000000000"),
        ]
        for (arguments, message) in cases {
            let run = directory.appendingPathComponent("never")
            let result = try ProcessRunner.lockstep(["train"] + Self.small + arguments + ["--run-dir", run.path], timeout: 60)
            XCTAssertEqual(result.exitCode, 64, "\(arguments): \(result.combinedOutput)")
            XCTAssertTrue(result.standardError.contains(message), "\(arguments): \(result.standardError)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: run.path), "\(arguments): nothing written")
        }
    }

    /// Fault injection never acts unannounced: rank 0 says so once at the start.
    func testFaultInjectionIsAnnounced() throws {
        let result = try ProcessRunner.mpirun(
            ranks: 2, ["train", "--no-plots", "--global-batch", "64"] + Self.small + ["--run-dir", directory.appendingPathComponent("f").path],
            environment: ["LOCKSTEP_FAULT": "bitflip:rank=1:step=100"], timeout: 120)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)  // step 100 is never reached
        let warnings = result.combinedOutput.split(separator: "\n").filter { $0.contains("fault injection active") }
        XCTAssertEqual(warnings.count, 1, result.combinedOutput)
        XCTAssertTrue(warnings.first?.hasSuffix("warning: fault injection active: LOCKSTEP_FAULT=bitflip:rank=1:step=100 (a testing aid; unset it for real runs)") ?? false,
                      result.combinedOutput)
    }

    func testAModelTooLargeForTheNodeIsRefusedWithTheNumbers() throws {
        let result = try ProcessRunner.lockstep(["train", "--hidden", "45000,45000", "--run-dir", directory.appendingPathComponent("x").path], timeout: 30)
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertLessThan(result.seconds, 10)
        XCTAssertTrue(result.standardError.contains("error: the model 784-45000-45000-10 is too large: it needs about "), result.standardError)
        XCTAssertTrue(result.standardError.contains(" per rank × 1 rank on this node; "), result.standardError)
    }

    /// Under `ulimit -v 3000000` (3.07 GB), a 784-8000-8000-10 MLP (2.0 GB of buffers; its address
    /// space peaks above 3.1 GB) is refused up front instead of dying in an allocation, and a
    /// 784-7000-7000-10 one (address space peak measured at 2.48 GB) trains.
    func testAnAddressSpaceLimitIsCountedWithWhatTheProcessHolds() throws {
        func train(_ hidden: String) throws -> ProcessResult {
            let command = ["'\(ProcessRunner.lockstepBinary)'", "train", "--no-plots", "--hidden", hidden, "--epochs", "1",
                           "--limit-train", "1280", "--limit-test", "100", "--progress", "none",
                           "--run-dir", "'\(directory.appendingPathComponent(hidden).path)'"].joined(separator: " ")
            return try ProcessRunner.run("/bin/sh", ["-c", "ulimit -v 3000000 && exec \(command)"], timeout: 120)
        }
        let refused = try train("8000,8000")
        XCTAssertEqual(refused.exitCode, 64, refused.combinedOutput)
        XCTAssertTrue(refused.standardError.contains(
            "error: the model 784-8000-8000-10 is too large: it needs about "), refused.combinedOutput)
        XCTAssertTrue(refused.standardError.contains("the address-space limit (ulimit -v) is 3.07 GB per process"), refused.combinedOutput)
        let admitted = try train("7000,7000")
        XCTAssertEqual(admitted.exitCode, 0, admitted.combinedOutput)
    }

    func testRunsStartedTogetherGetTwoFoldersAndAUsedFolderIsRefused() throws {
        let environment = ["LOCKSTEP_RUNS_DIR": directory.appendingPathComponent("runs").path]
        let arguments = ["train", "--no-plots"] + Self.small
        // Started together by one shell, in the same second (the name has one-second resolution):
        // two folders, each whole.
        let command = (arguments.map { "'\($0)'" }.joined(separator: " "))
        let binary = ProcessRunner.lockstepBinary
        let both = try ProcessRunner.run(
            "/bin/sh", ["-c", "'\(binary)' \(command) > /dev/null & '\(binary)' \(command) > /dev/null & wait"],
            environment: environment, timeout: 120)
        XCTAssertEqual(both.exitCode, 0, both.combinedOutput)
        let folders = try FileManager.default.contentsOfDirectory(atPath: environment["LOCKSTEP_RUNS_DIR"]!).sorted()
        XCTAssertEqual(folders.count, 2, "\(folders)")
        for folder in folders {
            let run = directory.appendingPathComponent("runs").appendingPathComponent(folder)
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("config.toml").path), folder)
            XCTAssertEqual(try readJSONLines(run.appendingPathComponent("metrics.jsonl").path).count, 1, folder)
        }

        // The same --run-dir again without --resume: refused, the old run intact.
        let used = directory.appendingPathComponent("runs").appendingPathComponent(folders[0])
        let before = try Data(contentsOf: used.appendingPathComponent("metrics.jsonl"))
        let again = try ProcessRunner.lockstep(arguments + ["--seed", "9", "--run-dir", used.path], timeout: 60)
        XCTAssertEqual(again.exitCode, 64, again.combinedOutput)
        XCTAssertEqual(again.standardError, """
            error: --run-dir \(used.path) already holds a run: config.toml, metrics.jsonl, checkpoints/ (1 checkpoint)
            hint: continue it with --resume auto, choose another --run-dir, or pass --overwrite to replace it

            """)
        XCTAssertEqual(try Data(contentsOf: used.appendingPathComponent("metrics.jsonl")), before)
        // --overwrite replaces it.
        let replaced = try ProcessRunner.lockstep(arguments + ["--seed", "9", "--run-dir", used.path, "--overwrite"], timeout: 60)
        XCTAssertEqual(replaced.exitCode, 0, replaced.combinedOutput)
        XCTAssertNotEqual(try Data(contentsOf: used.appendingPathComponent("metrics.jsonl")), before)

        // A --checkpoint-dir of its own that holds another run's checkpoints: refused, untouched;
        // --overwrite deletes them first, so --keep-last never counts them.
        let shared = directory.appendingPathComponent("shared-checkpoints")
        let first = try ProcessRunner.lockstep(
            arguments + ["--epochs", "2", "--run-dir", directory.appendingPathComponent("a").path, "--checkpoint-dir", shared.path], timeout: 60)
        XCTAssertEqual(first.exitCode, 0, first.combinedOutput)
        let firstFiles = try FileManager.default.contentsOfDirectory(atPath: shared.path).sorted()
        let second = try ProcessRunner.lockstep(
            arguments + ["--run-dir", directory.appendingPathComponent("b").path, "--checkpoint-dir", shared.path], timeout: 60)
        XCTAssertEqual(second.exitCode, 64, second.combinedOutput)
        XCTAssertTrue(second.standardError.hasPrefix(
            "error: --checkpoint-dir \(shared.path) already holds 2 checkpoints (steps 5…10) of another run\n"), second.combinedOutput)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: shared.path).sorted(), firstFiles)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("b").path), "nothing created")
        let overwritten = try ProcessRunner.lockstep(
            arguments + ["--run-dir", directory.appendingPathComponent("b").path, "--checkpoint-dir", shared.path, "--overwrite"], timeout: 60)
        XCTAssertEqual(overwritten.exitCode, 0, overwritten.combinedOutput)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: shared.path), ["ckpt-step-000000000005.safetensors"])

        // A run that cannot start leaves no folder behind.
        let refused = try ProcessRunner.lockstep(arguments + ["--data", "/nonexistent.npz"], environment: environment, timeout: 60)
        XCTAssertEqual(refused.exitCode, 66, refused.combinedOutput)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: environment["LOCKSTEP_RUNS_DIR"]!).count, 2)
    }
}
