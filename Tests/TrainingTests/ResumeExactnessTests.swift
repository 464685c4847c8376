import Checkpoints
import Foundation
import TestSupport
import Training
import XCTest

/// Exact resume in one process (a world of one), at every step of a small run: stopping after k
/// steps and resuming gives the uninterrupted run's parameters, optimizer state, counters and
/// metrics bit for bit. The same under `mpirun` is in IntegrationTests/ResumeTests.
final class ResumeExactnessTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("resume-exactness")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Adam with clipping (so the gradient-norm sums are checkpointed too), warmup, a floor, and a
    /// NaN at step 4 that every rank skips.
    func configuration() -> TrainingConfiguration {
        var configuration = TrainingFixtures.configuration()
        configuration.onNonFinite = .skip
        return configuration
    }

    let faults = try! FaultPlan(parsing: "nan:rank=0:step=4")
    let totalSteps: Int64 = 18

    func testStoppingAndResumingAtEveryStepGivesTheUninterruptedRunBitForBit() throws {
        let straightDirectory = directory.appendingPathComponent("straight")
        let straight = try TrainingFixtures.train(
            configuration(), CheckpointPolicy(directory: straightDirectory.path), faults: faults)
        // The resume points below cover: inside warmup (1, 2), the warmup boundary (3), just after
        // the skipped step 4 (5), epoch boundaries (6, 12), the floor (7 on), mid-epoch (most).
        XCTAssertTrue(straight.log.contains("info: warmup ended at step 3: lr 0.01"), "\(straight.log)")
        XCTAssertTrue(straight.log.contains("info: lr reached its floor at step 7: 0.005"), "\(straight.log)")
        XCTAssertEqual(straight.summary.skippedSteps, 1)
        let reference = try TrainingFixtures.checkpoint(in: straightDirectory, step: totalSteps)

        for stop in 1..<Int(totalSteps) {
            let runDirectory = directory.appendingPathComponent("stop-\(stop)")
            let first = try TrainingFixtures.train(
                configuration(), CheckpointPolicy(directory: runDirectory.path, stopAfterSteps: stop), faults: faults)
            XCTAssertTrue(first.log.contains { $0.hasPrefix("info: stopped after \(stop) steps (--stop-after-steps) at step \(stop) (") },
                          "\(first.log)")
            let resumed = try TrainingFixtures.train(
                configuration(), CheckpointPolicy(directory: runDirectory.path, resume: .auto), faults: faults)
            XCTAssertTrue(resumed.log.contains { $0.hasPrefix("info: resumed from \(runDirectory.path)/ckpt-step-0000000000") },
                          "\(resumed.log)")
            XCTAssertEqual(resumed.summary.parameterHash, straight.summary.parameterHash, "stop at \(stop)")
            XCTAssertEqual(resumed.summary.epochs.map(\.withoutTiming), straight.summary.epochs.map(\.withoutTiming), "stop at \(stop)")
            try assertSameState(try TrainingFixtures.checkpoint(in: runDirectory, step: totalSteps), reference, "stop at \(stop)")
        }
    }

    /// A job chain: the same command with --stop-after-steps 5 --resume auto, run until done.
    func testAChainOfShortJobsEqualsOneLongRun() throws {
        let straight = try TrainingFixtures.train(configuration(), CheckpointPolicy(), faults: faults)
        let chain = directory.appendingPathComponent("chain")
        var last: TrainingSummary?
        for _ in 0..<4 {  // 5 + 5 + 5 + 3 steps
            last = try TrainingFixtures.train(
                configuration(), CheckpointPolicy(directory: chain.path, resume: .auto, stopAfterSteps: 5), faults: faults
            ).summary
        }
        XCTAssertEqual(last?.parameterHash, straight.summary.parameterHash)
        XCTAssertEqual(last?.epochs.map(\.withoutTiming), straight.summary.epochs.map(\.withoutTiming))
        XCTAssertEqual(try CheckpointDirectory(url: chain).list().checkpoints.map(\.step), [12, 15, 18], "--keep-last 3")
        // A fifth run finds the training complete and changes nothing.
        let again = try TrainingFixtures.train(
            configuration(), CheckpointPolicy(directory: chain.path, resume: .auto, stopAfterSteps: 5), faults: faults)
        XCTAssertTrue(again.log.contains("info: training was complete at step 18 (3 epochs): nothing left to train"), "\(again.log)")
        XCTAssertEqual(again.summary.parameterHash, straight.summary.parameterHash)
        XCTAssertEqual(again.summary.epochs.count, 3)
    }

    /// Tensors bit for bit, and every metadata value (metrics without their timing fields).
    func assertSameState(_ actual: Checkpoint, _ expected: Checkpoint, _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(actual.tensors.map(\.name), expected.tensors.map(\.name), message, file: file, line: line)
        XCTAssertTrue(actual.tensors == expected.tensors, "\(message): tensors differ", file: file, line: line)
        XCTAssertEqual(Set(actual.metadata.keys), Set(expected.metadata.keys), message, file: file, line: line)
        for key in expected.metadata.keys.sorted() where key != "metrics" {
            XCTAssertEqual(actual.metadata[key], expected.metadata[key], "\(message): metadata \(key)", file: file, line: line)
        }
        let decode = { (checkpoint: Checkpoint) in
            try JSONDecoder().decode([EpochMetrics].self, from: Data(checkpoint.metadata["metrics", default: ""].utf8)).map(\.withoutTiming)
        }
        XCTAssertEqual(try decode(actual), try decode(expected), "\(message): metrics", file: file, line: line)
    }
}

extension EpochMetrics {
    /// The line with its wall-clock fields zeroed: what an exact resume must reproduce.
    var withoutTiming: EpochMetrics {
        var copy = self
        copy.samplesPerSecond = 0
        copy.epochSeconds = 0
        copy.evaluationSeconds = 0
        return copy
    }
}
