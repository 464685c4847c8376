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

    /// Ctrl-C (SIGINT) or SIGTERM to the script: it passes SIGUSR1 to mpirun, which forwards it
    /// to every rank at once; the ranks stop with a checkpoint and the script exits 80.
    func testASignalToTheScriptStopsTheRunWithACheckpointAndExit80() throws {
        let directory = try ProcessRunner.temporaryDirectory("train-script-signal")
        defer { try? FileManager.default.removeItem(at: directory) }
        for (signal, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            let run = directory.appendingPathComponent(name)
            let script = try BackgroundProcess(Self.script, [
                "--limit-train", "25600", "--limit-test", "1000", "--epochs", "5", "--run-dir", run.path, "--no-plots",
                "--progress", "none",
            ], environment: ["NP": "2", "LOCKSTEP_BINARY": ProcessRunner.lockstepBinary])
            let first = run.appendingPathComponent("checkpoints/ckpt-step-000000000200.safetensors").path
            XCTAssertTrue(script.wait(timeout: 60) { FileManager.default.fileExists(atPath: first) }, script.standardError)
            script.send(signal)
            let result = script.finish(timeout: 30)
            XCTAssertEqual(result.exitCode, 80, "\(name): \(result.combinedOutput)")
            XCTAssertTrue(result.standardError.contains(
                "scripts/train.sh: \(name): asking the ranks to stop at the next step (SIGUSR1 to mpirun)"), result.combinedOutput)
            // mpirun forwards the signal to both ranks; the step that carries it may see it on one.
            XCTAssertNotNil(result.standardOutput.range(of: #"stopped by SIGUSR1( \(on 1 of 2 ranks\))? at step "#, options: .regularExpression),
                            result.combinedOutput)
            XCTAssertGreaterThan(try ResumeSupport.steps(run.appendingPathComponent("checkpoints")).count, 1, "a checkpoint where it stopped")
        }
    }
}
