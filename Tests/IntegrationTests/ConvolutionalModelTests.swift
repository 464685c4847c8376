import Foundation
import TestSupport
import XCTest

/// The `cnn` preset under `mpirun`: trains and verifies at 2 and 3 ranks, resumes bitwise from a
/// mid-epoch checkpoint, and its checkpoint loads into PyTorch's `nn.Sequential` (strict) with
/// the same test accuracy as `lockstep evaluate` (scripts/torch_sequential.py).
final class ConvolutionalModelTests: XCTestCase {
    static let arguments = [
        "train", "--model", "cnn", "--limit-train", "768", "--limit-test", "200", "--epochs", "2", "--global-batch", "48",
        "--progress", "none", "--seed", "5",
    ]  // 16 steps per epoch

    var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("cnn")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func train(ranks: Int, _ extra: [String]) throws -> ProcessResult {
        let result = try ProcessRunner.mpirun(ranks: ranks, Self.arguments + extra, timeout: 300)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        return result
    }

    func testTheCNNResumesBitwiseFromAMidEpochCheckpointAtTwoAndThreeRanks() throws {
        for ranks in [2, 3] {
            let straight = try train(ranks: ranks, ["--run-dir", directory.appendingPathComponent("straight-\(ranks)").path])
            XCTAssertTrue(straight.standardOutput.contains("model conv2d(32,3,padding=1) relu maxpool2d(2) conv2d(64,3,padding=1) relu maxpool2d(2) flatten linear(128) relu linear(10) (421,642 parameters)"),
                          straight.standardOutput)
            let hash = try XCTUnwrap(verifiedParameterHash(in: straight.standardOutput), straight.combinedOutput)
            let run = directory.appendingPathComponent("resumed-\(ranks)").path
            _ = try train(ranks: ranks, ["--run-dir", run, "--stop-after-steps", "21"])  // epoch 2, step 5 of 16
            let resumed = try train(ranks: ranks, ["--run-dir", run, "--resume", "auto"])
            XCTAssertTrue(resumed.standardOutput.contains("resumed from"), resumed.standardOutput)
            XCTAssertEqual(verifiedParameterHash(in: resumed.standardOutput), hash, "\(ranks) ranks")
        }
    }

    func testPyTorchLoadsTheCheckpointStrictlyAndEvaluatesToTheSameAccuracy() throws {
        let run = directory.appendingPathComponent("run")
        _ = try train(ranks: 2, ["--run-dir", run.path, "--epochs", "1"])
        let checkpoint = run.appendingPathComponent("checkpoints/ckpt-step-000000000016.safetensors").path
        let ours = try ProcessRunner.mpirun(ranks: 2, ["evaluate", "--checkpoint", checkpoint, "--limit-test", "500", "--json"])
        XCTAssertEqual(ours.exitCode, 0, ours.combinedOutput)
        let expected = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(ours.standardOutput.utf8)) as? [String: Any])
        let torch = try ProcessRunner.run(
            "/usr/bin/env", ["python3", TorchSequentialScript.path, checkpoint, "--limit-test", "500", "--json"], timeout: 300)
        XCTAssertEqual(torch.exitCode, 0, torch.combinedOutput)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(torch.standardOutput.utf8)) as? [String: Any])
        XCTAssertEqual(report["test_accuracy"] as? Double, expected["test_accuracy"] as? Double, torch.standardOutput)
        XCTAssertEqual(report["test_loss"] as? Double ?? 0, expected["test_loss"] as? Double ?? 1, accuracy: 1e-5)
        XCTAssertEqual(report["layers"] as? String, "conv2d(32,3,padding=1) relu maxpool2d(2) conv2d(64,3,padding=1) relu maxpool2d(2) flatten linear(128) relu linear(10)")
    }

    /// A layer list that cannot be built ends the job with exit 64 and one message naming the
    /// layer, at any number of ranks, before anything is written.
    func testABadLayerListIsRefusedOnceWithItsLayer() throws {
        let run = directory.appendingPathComponent("refused")
        let twoRanks = try ProcessRunner.mpirun(
            ranks: 2, ["train", "--model", "conv2d(8,3) relu maxpol2d(2) flatten linear(10)", "--run-dir", run.path])
        XCTAssertEqual(twoRanks.exitCode, 64, twoRanks.combinedOutput)
        let lines = twoRanks.standardError.split(separator: "\n").filter { $0.contains("unknown layer") }
        XCTAssertEqual(lines, ["error: layer 3 maxpol2d(2): unknown layer"], twoRanks.combinedOutput)
        let shape = try ProcessRunner.lockstep(
            ["train", "--model", "conv2d(32,5,stride=4) relu maxpool2d(3) conv2d(64,3) flatten linear(10)", "--run-dir", run.path])
        XCTAssertEqual(shape.exitCode, 64, shape.combinedOutput)
        XCTAssertEqual(shape.standardError, "error: layer 4 conv2d(64,3): input 32×2×2 is smaller than the 3×3 kernel (padding 0)\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path), "nothing written")
    }

    func testPyTorchLoadsTheVersion1FixtureAsTheMLPItWas() throws {
        let fixture = CheckpointFormatVersion1Tests.fixture.path
        let torch = try ProcessRunner.run(
            "/usr/bin/env", ["python3", TorchSequentialScript.path, fixture, "--limit-test", "300", "--json"], timeout: 300)
        XCTAssertEqual(torch.exitCode, 0, torch.combinedOutput)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(torch.standardOutput.utf8)) as? [String: Any])
        XCTAssertEqual(report["correct"] as? Int, 198, "0.66 of 300, as the build that wrote it evaluated it")
        XCTAssertEqual(report["test_loss"] as? Double ?? 0, 0.972698, accuracy: 1e-6)
        // A truncated file: one error line, no traceback.
        let truncated = directory.appendingPathComponent("truncated.safetensors")
        try Data(try Data(contentsOf: CheckpointFormatVersion1Tests.fixture).prefix(1000)).write(to: truncated)
        let refused = try ProcessRunner.run("/usr/bin/env", ["python3", TorchSequentialScript.path, truncated.path], timeout: 300)
        XCTAssertEqual(refused.exitCode, 1, refused.combinedOutput)
        XCTAssertTrue(refused.standardError.hasPrefix("error: cannot read \(truncated.path) as a safetensors checkpoint: "),
                      refused.combinedOutput)
        XCTAssertFalse(refused.combinedOutput.contains("Traceback"), refused.combinedOutput)
    }
}

/// scripts/torch_sequential.py in this checkout.
enum TorchSequentialScript {
    static var path: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/torch_sequential.py").path
    }
}
