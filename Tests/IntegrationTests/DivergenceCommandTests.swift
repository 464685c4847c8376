import Foundation
import TestSupport
import XCTest

/// `--lr 10` at 2 ranks: every run warns from its first epoch; `--on-divergence stop` ends with
/// exit 81 after the epoch's checkpoint, which a lower learning rate can resume from.
final class DivergenceCommandTests: XCTestCase {
    static let arguments = ["train", "--limit-train", "12800", "--limit-test", "2000", "--epochs", "2", "--lr", "10"]

    func testLearningRateTenWarnsAndStopEndsWithItsStatusAndAResumableCheckpoint() throws {
        let directory = try ProcessRunner.temporaryDirectory("divergence")
        defer { try? FileManager.default.removeItem(at: directory) }
        let warned = try ProcessRunner.mpirun(ranks: 2, Self.arguments + ["--run-dir", directory.appendingPathComponent("warn").path])
        XCTAssertEqual(warned.exitCode, 0, warned.combinedOutput)
        XCTAssertNotNil(warned.standardError.range(
            of: #"warning: training is diverging at epoch 1 \(train loss [0-9.e+]+, above the 2.3026 of uniform guessing\): lower --lr"#,
            options: .regularExpression), warned.combinedOutput)
        XCTAssertEqual(warned.standardError.components(separatedBy: "training is diverging at epoch 1").count - 1, 1, "rank 0 alone")

        let run = directory.appendingPathComponent("stop")
        let stopped = try ProcessRunner.mpirun(ranks: 2, Self.arguments + ["--run-dir", run.path, "--on-divergence", "stop"])
        XCTAssertEqual(stopped.exitCode, 81, stopped.combinedOutput)
        XCTAssertTrue(stopped.standardError.contains("error: training diverged at epoch 1 (train loss "), stopped.combinedOutput)
        XCTAssertFalse(stopped.standardOutput.contains("epoch 2/2"), "stopped after epoch 1")
        XCTAssertFalse(stopped.standardError.contains("MPI_ABORT"), "an agreed, orderly stop")
        let checkpoint = run.appendingPathComponent("checkpoints/ckpt-step-000000000100.safetensors")
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint.path), stopped.combinedOutput)
        // The checkpoint resumes (with a lower rate, a deliberate change).
        let resumed = try ProcessRunner.mpirun(ranks: 2, Self.arguments + [
            "--run-dir", run.path, "--resume", "auto", "--allow-config-change", "--lr", "0.01",
        ])
        XCTAssertEqual(resumed.exitCode, 0, resumed.combinedOutput)
        XCTAssertTrue(resumed.standardOutput.contains("resumed from \(checkpoint.path) at step 100"), resumed.combinedOutput)
        XCTAssertNotNil(verifiedParameterHash(in: resumed.standardOutput), resumed.combinedOutput)
    }
}
