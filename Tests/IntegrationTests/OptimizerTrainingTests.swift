import Foundation
import TestSupport
import XCTest

/// The optimizers and large-batch rules through `lockstep train` under mpirun.
final class OptimizerTrainingTests: XCTestCase {
    /// Issue 7's acceptance run: Adam at lr 1e-3, 2 ranks, 5 epochs on all of Fashion-MNIST.
    func testAdamReachesEightySevenPercentInFiveEpochsAtTwoRanks() throws {
        let directory = try ProcessRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let metrics = directory.appendingPathComponent("adam.jsonl").path
        let result = try ProcessRunner.mpirun(
            ranks: 2, ["train", "--optimizer", "adam", "--lr", "1e-3", "--epochs", "5", "--metrics", metrics], timeout: 600)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertNotNil(verifiedParameterHash(in: result.standardOutput), result.combinedOutput)
        let accuracy = try readJSONLines(metrics).last?["test_accuracy"] as? Double ?? 0
        XCTAssertGreaterThanOrEqual(accuracy, 0.87, result.standardOutput)
    }

    func testEveryOptimizerVariantTrainsInLockstep() throws {
        let variants: [[String]] = [
            ["--optimizer", "sgd", "--nesterov", "--weight-decay", "1e-4"],
            ["--optimizer", "sgd", "--momentum", "0.8", "--dampening", "0.1"],
            ["--optimizer", "adam", "--lr", "1e-3", "--amsgrad", "--weight-decay", "1e-4"],
            ["--optimizer", "adamw", "--lr", "1e-3", "--weight-decay", "0.01"],
            ["--clip-grad-norm", "0.5"],
            ["--lr-scaling", "linear", "--lr-reference-batch", "48"],
        ]
        for variant in variants {
            let result = try ProcessRunner.mpirun(
                ranks: 2, ["train", "--limit-train", "1920", "--limit-test", "200", "--epochs", "2", "--global-batch", "96",
                           "--hidden", "32", "--verify-every", "4"] + variant)
            XCTAssertEqual(result.exitCode, 0, "\(variant): \(result.combinedOutput)")
            XCTAssertNotNil(verifiedParameterHash(in: result.standardOutput), "\(variant): \(result.combinedOutput)")
            if variant.contains("--clip-grad-norm") {
                XCTAssertTrue(result.standardOutput.contains("grad norm mean"), result.standardOutput)
            }
            if variant.contains("--lr-scaling") {
                XCTAssertTrue(result.standardOutput.contains("epoch 1/2  lr 0.2 "), "0.1 × 96/48: \(result.standardOutput)")
            }
        }
    }

    func testAFlagThatDoesNotApplyToTheOptimizerIsRefused() throws {
        let result = try ProcessRunner.lockstep(["train", "--optimizer", "adam", "--nesterov"])
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("--nesterov"), result.combinedOutput)
    }
}
