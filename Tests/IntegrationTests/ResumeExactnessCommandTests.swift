import Checkpoints
import Foundation
import TestSupport
import XCTest

/// Exact resume of `lockstep train` under `mpirun` with 2 ranks: training 20 steps straight, and
/// training k steps, stopping (`--stop-after-steps`) and resuming (`--resume auto`) for the rest,
/// give bitwise-identical parameters, optimizer state, counters and metrics.
///
/// The run uses `--lr-scaling linear` with a global batch of 256 (reference 128), so the
/// effective LR is twice `--lr` at every step, and a NaN injected at step 4 that every rank skips
/// (`--on-nonfinite skip`). Its schedule (per step): linear warmup over steps 0-5 from 0.001
/// (1% of the scaled 0.1), 0.1 at step 6, then 0.1·0.7^(t − 6) down to the floor 0.02 (scaled
/// from `--min-lr 0.01`), reached at step 11 (0.1·0.7^5 = 0.0168 < 0.02 < 0.1·0.7^4 = 0.024).
/// 10 steps per epoch.
final class ResumeExactnessCommandTests: XCTestCase {
    static let arguments = [
        "train", "--limit-train", "2560", "--limit-test", "500", "--epochs", "2", "--global-batch", "256",
        "--hidden", "32", "--lr", "0.05", "--lr-scaling", "linear", "--unit", "step", "--warmup", "6",
        "--gamma", "0.7", "--min-lr", "0.01", "--on-nonfinite", "skip", "--verify-every", "5", "--seed", "7",
    ]
    static let fault = ["LOCKSTEP_FAULT": "nan:rank=1:step=4"]

    var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("resume-exactness")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func train(_ extra: [String]) throws -> ProcessResult {
        let result = try ProcessRunner.mpirun(ranks: 2, Self.arguments + extra, environment: Self.fault, timeout: 120)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        return result
    }

    /// One uninterrupted run against a chain of runs, each resuming the previous one's last
    /// checkpoint (`--resume auto`) and stopping after a few steps: resumed inside warmup (3),
    /// after the skipped step 4 (5), at the warmup boundary (6), at the epoch boundary (10) and on
    /// the floor inside epoch 2 (14). Every stop writes a checkpoint; the chain's final state and
    /// every intermediate checkpoint must equal the uninterrupted run's.
    func testAChainOfResumesInWarmupAtItsEndAfterASkippedStepAtAnEpochEndAndOnTheFloorIsBitwiseExact() throws {
        let straightDirectory = directory.appendingPathComponent("straight")
        let straight = try train(["--checkpoint-dir", straightDirectory.path, "--checkpoint-every", "1", "--keep-last", "20"])
        let log = straight.standardOutput + straight.standardError
        XCTAssertTrue(log.contains("warmup ended at step 6: lr 0.1\n"), log)
        XCTAssertTrue(log.contains("lr reached its floor at step 11: 0.02\n"), log)
        XCTAssertTrue(log.contains("non-finite loss (nan) at step 4: update skipped on every rank"), log)
        let hash = try XCTUnwrap(verifiedParameterHash(in: straight.standardOutput))

        let chain = directory.appendingPathComponent("chain")
        var position = 0
        for stop in [3, 5, 6, 10, 14, 20] {
            let resume = position == 0 ? [] : ["--resume", "auto"]
            let run = try train(
                ["--checkpoint-dir", chain.path, "--keep-last", "20", "--stop-after-steps", String(stop - position)] + resume)
            if position > 0 {
                XCTAssertTrue(run.standardOutput.contains(
                    "resumed from \(CheckpointDirectory(url: chain).url(step: Int64(position)).path) at step \(position) ("),
                    run.combinedOutput)
            }
            XCTAssertTrue(run.standardOutput.contains("stopped after \(stop - position) steps (--stop-after-steps) at step \(stop) ("),
                          run.combinedOutput)
            try ResumeSupport.assertSameState(
                try ResumeSupport.checkpoint(chain, step: Int64(stop)), try ResumeSupport.checkpoint(straightDirectory, step: Int64(stop)),
                "checkpoint at step \(stop)")
            position = stop
            if stop == 20 { XCTAssertEqual(verifiedParameterHash(in: run.standardOutput), hash) }
        }
        XCTAssertEqual(try ResumeSupport.steps(chain), [3, 5, 6, 10, 14, 20])
        try assertTheLearningRateIsScaledOnce(chain)
    }

    /// The effective schedule is scaled once and stored; a resumed run uses it and stores it
    /// unchanged (a public bug elsewhere: the LR compounding on every resume). `directory` holds
    /// the checkpoints of a chain of resumed runs.
    func assertTheLearningRateIsScaledOnce(_ runDirectory: URL) throws {
        for step: Int64 in [3, 10, 20] {
            let checkpoint = try ResumeSupport.checkpoint(runDirectory, step: step)
            let effective = try ResumeSupport.decode(StoredScheduleState.self, checkpoint, "schedule_state").schedule.configuration
            XCTAssertEqual(effective.learningRate, 0.1, "2 × --lr 0.05 at step \(step)")
            XCTAssertEqual(effective.minimumLearningRate, 0.02, "2 × --min-lr 0.01 at step \(step)")
            let given = try ResumeSupport.decode(StoredConfiguration.self, checkpoint, "configuration").schedule
            XCTAssertEqual(given.learningRate, 0.05, "the configuration keeps --lr as given")
        }
        // lr(t) = 2 × the unscaled schedule. At step 3, the checkpoint's next update, in warmup:
        // start + (lr0 − start)·3/6 with start = 0.001, lr0 = 0.1: 0.0505 (= 2 × 0.02525).
        let atThree = try ResumeSupport.decode(StoredLearningRate.self, try ResumeSupport.checkpoint(runDirectory, step: 3), "learning_rate")
        assertClose(atThree.value, 0.0505, relative: 1e-15)
        // The last update of epoch 1 (step 9): 0.1·0.7^3 = 2 × 0.05·0.7^3 = 0.0343; of epoch 2: the floor.
        let metrics = try ResumeSupport.decode([StoredLearningRate].self, try ResumeSupport.checkpoint(runDirectory, step: 20), "metrics")
        XCTAssertEqual(metrics.count, 2)
        assertClose(metrics[0].lr, 0.0343, relative: 1e-15)
        XCTAssertEqual(metrics[1].lr, 0.02)
    }
}

// The parts of the metadata these tests read (decoded with JSONDecoder: exact Doubles).
private struct StoredScheduleState: Decodable {
    struct Schedule: Decodable {
        struct Configuration: Decodable {
            let learningRate: Double
            let minimumLearningRate: Double?
        }
        let configuration: Configuration
    }
    let schedule: Schedule
}

private struct StoredConfiguration: Decodable {
    struct Schedule: Decodable { let learningRate: Double }
    let schedule: Schedule
}

/// `learning_rate` has `value`; a metrics line has `lr`.
private struct StoredLearningRate: Decodable {
    let value: Double
    var lr: Double { value }

    enum CodingKeys: String, CodingKey { case value, lr }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        value = try container.decodeIfPresent(Double.self, forKey: .value) ?? container.decode(Double.self, forKey: .lr)
    }
}
