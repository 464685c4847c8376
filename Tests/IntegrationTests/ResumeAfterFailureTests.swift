import Checkpoints
import Foundation
import TestSupport
import XCTest

/// A job killed mid-run, killed while writing a checkpoint, or failing to write one, under
/// `mpirun` with 2 ranks: the job ends non-zero, the previous checkpoint survives, and
/// `--resume auto` finishes the run with the uninterrupted run's final parameters. Resuming on 3
/// ranks continues correctly and says it is not bitwise.
final class ResumeAfterFailureTests: XCTestCase {
    /// 960 samples = 10 global batches of 96 (divisible by 2 and 3 ranks), 2 epochs.
    static let arguments = [
        "train", "--limit-train", "960", "--limit-test", "500", "--epochs", "2", "--global-batch", "96",
        "--hidden", "32", "--lr", "0.05", "--verify-every", "5",
    ]

    /// The uninterrupted run, once for the class: its final checkpoint, hash and metrics lines.
    nonisolated(unsafe) static var classDirectory: URL?
    nonisolated(unsafe) static var reference: Result<(checkpoint: Checkpoint, hash: String, metrics: [NSDictionary]), Error>?

    override class func setUp() {
        reference = Result {
            let directory = try ProcessRunner.temporaryDirectory("resume-after-failure")
            classDirectory = directory
            let checkpoints = directory.appendingPathComponent("straight")
            let metrics = directory.appendingPathComponent("straight.jsonl").path
            let result = try ProcessRunner.mpirun(
                ranks: 2, arguments + ["--checkpoint-dir", checkpoints.path, "--metrics", metrics], timeout: 120)
            guard result.exitCode == 0, let hash = verifiedParameterHash(in: result.standardOutput) else {
                throw RunFailure(output: result.combinedOutput)
            }
            return (try ResumeSupport.checkpoint(checkpoints, step: 20), hash, ResumeSupport.withoutTiming(try readJSONLines(metrics)))
        }
    }

    override class func tearDown() {
        if let classDirectory { try? FileManager.default.removeItem(at: classDirectory) }
    }

    var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("resume-after-failure-case")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func train(
        ranks: Int = 2, _ extra: [String], fault: String? = nil
    ) throws -> ProcessResult {
        try ProcessRunner.mpirun(
            ranks: ranks, Self.arguments + extra, environment: fault.map { ["LOCKSTEP_FAULT": $0] } ?? [:], timeout: 90)
    }

    /// Resumes `checkpoints` and checks the result equals the uninterrupted run.
    func assertResumeFinishesLikeTheUninterruptedRun(
        _ checkpoints: URL, metrics: String, from step: Int64, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let reference = try XCTUnwrap(Self.reference).get()
        let resumed = try train(["--checkpoint-dir", checkpoints.path, "--checkpoint-every", "4", "--metrics", metrics, "--resume", "auto"])
        XCTAssertEqual(resumed.exitCode, 0, resumed.combinedOutput, file: file, line: line)
        XCTAssertTrue(resumed.standardOutput.contains(
            "--resume auto: the newest valid checkpoint is \(CheckpointDirectory(url: checkpoints).url(step: step).path)\n"),
            resumed.combinedOutput, file: file, line: line)
        XCTAssertEqual(verifiedParameterHash(in: resumed.standardOutput), reference.hash, file: file, line: line)
        try ResumeSupport.assertSameState(
            try ResumeSupport.checkpoint(checkpoints, step: 20), reference.checkpoint, file: file, line: line)
        // The resumed run rewrote epoch 1's line from the checkpoint: the file is the straight run's.
        XCTAssertEqual(ResumeSupport.withoutTiming(try readJSONLines(metrics)), reference.metrics, file: file, line: line)
    }

    func testKillingARankMidRunEndsTheJobAndResumeAutoFinishesIt() throws {
        let checkpoints = directory.appendingPathComponent("checkpoints")
        let metrics = directory.appendingPathComponent("metrics.jsonl").path
        let killed = try train(
            ["--checkpoint-dir", checkpoints.path, "--checkpoint-every", "4", "--metrics", metrics],
            fault: "kill:rank=1:step=13")
        XCTAssertNotEqual(killed.exitCode, 0, killed.combinedOutput)
        XCTAssertFalse(killed.timedOut, "the job ended by itself")
        XCTAssertEqual(try ResumeSupport.steps(checkpoints), [8, 10, 12], "checkpoints at 4, 8, 10 (epoch end), 12; --keep-last 3")
        try assertResumeFinishesLikeTheUninterruptedRun(checkpoints, metrics: metrics, from: 12)
    }

    func testKillingTheWriterMidCheckpointKeepsThePreviousOneAndResumeAutoFinishes() throws {
        let checkpoints = directory.appendingPathComponent("checkpoints")
        let metrics = directory.appendingPathComponent("metrics.jsonl").path
        let crashed = try train(
            ["--checkpoint-dir", checkpoints.path, "--checkpoint-every", "4", "--metrics", metrics],
            fault: "checkpoint-crash:rank=0:step=12:bytes=1000")
        XCTAssertNotEqual(crashed.exitCode, 0, crashed.combinedOutput)
        XCTAssertFalse(crashed.timedOut)
        let listing = try CheckpointDirectory(url: checkpoints).list()
        XCTAssertEqual(listing.checkpoints.map(\.step), [4, 8, 10])
        XCTAssertEqual(listing.temporaryFiles.count, 1)
        XCTAssertTrue(listing.temporaryFiles[0].lastPathComponent.hasPrefix(".ckpt-step-000000000012.safetensors.tmp-"))
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: listing.temporaryFiles[0].path)[.size] as? Int, 1000)
        XCTAssertNoThrow(try CheckpointReader.read(from: listing.checkpoints[2].url), "the previous checkpoint is intact")
        try assertResumeFinishesLikeTheUninterruptedRun(checkpoints, metrics: metrics, from: 10)
    }

    func testAFailedCheckpointWriteEndsEveryRankWithOneMessage() throws {
        let checkpoints = directory.appendingPathComponent("checkpoints")
        let failed = try train(
            ["--checkpoint-dir", checkpoints.path, "--checkpoint-every", "4"], fault: "checkpoint-fail:rank=0:step=8:bytes=100")
        XCTAssertEqual(failed.exitCode, 74, failed.combinedOutput)
        XCTAssertFalse(failed.timedOut)
        let errors = failed.standardError.split(separator: "\n").filter { $0.contains("error:") }
        XCTAssertEqual(errors.count, 1, "rank 0 alone reports it: \(failed.combinedOutput)")
        XCTAssertTrue(errors.first?.hasPrefix("error: writing checkpoint failed: write \(checkpoints.path)/.ckpt-step-000000000008.safetensors.tmp-") == true,
                      failed.combinedOutput)
        XCTAssertTrue(failed.standardError.contains("hint: free disk space or choose another --checkpoint-dir; the previous checkpoint is intact"),
                      failed.combinedOutput)
        let listing = try CheckpointDirectory(url: checkpoints).list()
        XCTAssertEqual(listing.checkpoints.map(\.step), [4])
        XCTAssertEqual(listing.temporaryFiles, [])
    }

    func testResumingOnThreeRanksKeepsTheGlobalBatchAndSaysItIsNotBitwise() throws {
        let reference = try XCTUnwrap(Self.reference).get()
        let checkpoints = directory.appendingPathComponent("checkpoints")
        let first = try train(["--checkpoint-dir", checkpoints.path, "--stop-after-steps", "5"])
        XCTAssertEqual(first.exitCode, 0, first.combinedOutput)
        let resumed = try train(ranks: 3, ["--checkpoint-dir", checkpoints.path, "--resume", "auto"])
        XCTAssertEqual(resumed.exitCode, 0, resumed.combinedOutput)
        XCTAssertTrue(resumed.standardError.contains("""
            warning: the checkpoint was written by 2 ranks, this run has 3: the global batch stays 96 (32 per rank) \
            and training continues correctly, but not bitwise as an uninterrupted 2-rank run
            """), resumed.combinedOutput)
        XCTAssertTrue(resumed.standardOutput.contains("lockstep verified: 3 ranks"), resumed.combinedOutput)
        // The same samples in the same order, summed in a different order: equal to rounding.
        let final = try ResumeSupport.checkpoint(checkpoints, step: 20)
        let metrics = try ResumeSupport.metrics(final)
        XCTAssertEqual(metrics.count, reference.metrics.count, "every epoch's line, not an empty list")
        XCTAssertFalse(metrics.isEmpty)
        for (line, expected) in zip(metrics, reference.metrics) {
            for key in ["train_loss", "test_loss"] {
                assertClose(try XCTUnwrap(line[key] as? Double), try XCTUnwrap(expected[key] as? Double), relative: 1e-4, key)
            }
        }
        XCTAssertEqual(try ResumeSupport.decode(Int.self, final, "world_size"), 3)
    }
}

/// The reference run failed; its output says why.
private struct RunFailure: Error, CustomStringConvertible {
    let output: String
    var description: String { "the uninterrupted run failed:\n\(output)" }
}
