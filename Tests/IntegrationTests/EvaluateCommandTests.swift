import Checkpoints
import Datasets
import Foundation
import TestSupport
import XCTest

/// `lockstep evaluate --checkpoint` on 1 and 2 ranks, against the training run's own end-of-epoch
/// evaluation and against numpy (scripts/checkpoint_interop.py).
final class EvaluateCommandTests: XCTestCase {
    nonisolated(unsafe) static var classDirectory: URL?
    /// The 2-rank training run's checkpoints and `--metrics` lines (2 epochs, 1,000 test samples).
    nonisolated(unsafe) static var run: Result<(checkpoints: URL, metrics: [EpochLine]), Error>?

    struct EpochLine: Decodable, Equatable {
        let test_loss: Double
        let test_accuracy: Double
    }

    struct Evaluation: Decodable {
        let checkpoint: String
        let global_step: Int64
        let epoch: Int
        let step_in_epoch: Int
        let world_size: Int
        let test_samples: Int
        let test_loss: Double
        let test_accuracy: Double
    }

    override class func setUp() {
        run = Result {
            let directory = try ProcessRunner.temporaryDirectory("evaluate-command")
            classDirectory = directory
            let checkpoints = directory.appendingPathComponent("checkpoints")
            let metrics = directory.appendingPathComponent("metrics.jsonl")
            let result = try ProcessRunner.mpirun(ranks: 2, [
                "train", "--limit-train", "960", "--limit-test", "1000", "--epochs", "2", "--global-batch", "96",
                "--hidden", "32", "--lr", "0.05", "--checkpoint-dir", checkpoints.path, "--metrics", metrics.path,
            ], timeout: 120)
            guard result.exitCode == 0 else { throw EvaluateRunFailure(output: result.combinedOutput) }
            let lines = try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n")
                .map { try JSONDecoder().decode(EpochLine.self, from: Data($0.utf8)) }
            return (checkpoints, lines)
        }
    }

    override class func tearDown() {
        if let classDirectory { try? FileManager.default.removeItem(at: classDirectory) }
    }

    func evaluate(ranks: Int?, _ arguments: [String]) throws -> Evaluation {
        let all = ["evaluate", "--json"] + arguments
        let result = try ranks.map { try ProcessRunner.mpirun(ranks: $0, all, timeout: 60) } ?? ProcessRunner.lockstep(all)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        return try JSONDecoder().decode(Evaluation.self, from: Data(result.standardOutput.utf8))
    }

    func testEvaluateReproducesTheEpochsTestLossAndAccuracyOnAnyNumberOfRanks() throws {
        let (checkpoints, metrics) = try XCTUnwrap(Self.run).get()
        let path = CheckpointDirectory(url: checkpoints).url(step: 10).path
        // Two ranks, as in training: the same shards and batches, so the very same sums.
        let two = try evaluate(ranks: 2, ["--checkpoint", path, "--limit-test", "1000"])
        XCTAssertEqual(two.test_accuracy, metrics[0].test_accuracy)
        XCTAssertEqual(two.test_loss, metrics[0].test_loss)
        XCTAssertEqual([two.global_step, Int64(two.epoch), Int64(two.step_in_epoch)], [10, 1, 0])
        XCTAssertEqual([two.world_size, two.test_samples], [2, 1000])
        XCTAssertEqual(two.checkpoint, path)
        // One rank: the same counts; the loss summed in another order.
        let one = try evaluate(ranks: nil, ["--checkpoint", path, "--limit-test", "1000"])
        XCTAssertEqual(one.test_accuracy, metrics[0].test_accuracy)
        assertClose(one.test_loss, metrics[0].test_loss, relative: 1e-12)

        let text = try ProcessRunner.lockstep(["evaluate", "--checkpoint", path, "--limit-test", "1000"])
        XCTAssertEqual(text.standardOutput, "checkpoint \(path) (step 10, end of epoch 1): "
            + String(format: "test loss %.4f  test acc %.4f", one.test_loss, one.test_accuracy) + "  (1000 samples, 1 rank)\n")
    }

    func testNumpyComputesTheSameTestAccuracyFromTheCheckpoint() throws {
        let probe = try ProcessRunner.run("/usr/bin/env", ["python3", "-c", "import safetensors, numpy"])
        guard probe.exitCode == 0 else {
            throw missingTool("python3 with safetensors and numpy is not installed (scripts/test.sh installs them): \(probe.standardError)")
        }
        let (checkpoints, _) = try XCTUnwrap(Self.run).get()
        let path = CheckpointDirectory(url: checkpoints).url(step: 20).path
        let ours = try evaluate(ranks: 2, ["--checkpoint", path])
        XCTAssertEqual(ours.test_samples, 10_000)
        let python = try ProcessRunner.run(
            "/usr/bin/env", ["python3", CheckpointInteropScript.path, path, "--json", "--data-dir", FashionMNIST.defaultDirectory])
        XCTAssertEqual(python.exitCode, 0, python.combinedOutput)
        struct Report: Decodable {
            struct Test: Decodable {
                let samples: Int
                let loss: Double
                let accuracy: Double
            }
            let test: Test
            let problems: [String]
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(python.standardOutput.utf8))
        XCTAssertEqual(report.problems, [])
        XCTAssertEqual(report.test.samples, 10_000)
        // numpy in float64 vs our float32 sgemm: the same argmax for every sample, the loss to rounding.
        XCTAssertEqual(report.test.accuracy, ours.test_accuracy, accuracy: 1e-6)
        XCTAssertEqual(report.test.loss, ours.test_loss, accuracy: 1e-6)
    }

    func testEvaluateRefusesADamagedCheckpoint() throws {
        let (checkpoints, _) = try XCTUnwrap(Self.run).get()
        var bytes = try [UInt8](Data(contentsOf: CheckpointDirectory(url: checkpoints).url(step: 20)))
        bytes.removeLast(4)
        let damaged = FileManager.default.temporaryDirectory.appendingPathComponent("evaluate-damaged-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: damaged) }
        try Data(bytes).write(to: damaged)
        let result = try ProcessRunner.mpirun(ranks: 2, ["evaluate", "--checkpoint", damaged.path, "--limit-test", "100"], timeout: 60)
        XCTAssertEqual(result.exitCode, 65, result.combinedOutput)
        let errors = result.standardError.split(separator: "\n").filter { $0.contains("error:") }
        XCTAssertEqual(errors.count, 1, "rank 0 alone reports it: \(result.combinedOutput)")
        XCTAssertTrue(errors.first?.hasPrefix("error: checkpoint \(damaged.path) is truncated: ") == true, result.combinedOutput)
    }
}

/// scripts/checkpoint_interop.py in this checkout.
enum CheckpointInteropScript {
    static var path: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/checkpoint_interop.py").path
    }
}

private struct EvaluateRunFailure: Error, CustomStringConvertible {
    let output: String
    var description: String { "the training run failed:\n\(output)" }
}
