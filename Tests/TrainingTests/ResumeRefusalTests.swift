import Optimizers
import Datasets
import Checkpoints
import Collectives
import Coordination
import Foundation
import Logging
import Reporting
import TestSupport
@testable import Training
import XCTest

/// Every check a resume makes, shown firing on a checkpoint changed in one respect, and the
/// deliberate changes `--allow-config-change` permits.
final class ResumeRefusalTests: XCTestCase {
    var directory: URL!
    /// A checkpoint at step 8 (epoch 2, step 2 of 6).
    var source: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("resume-refusal")
        let written = directory.appendingPathComponent("written")
        _ = try TrainingFixtures.train(
            TrainingFixtures.configuration(), CheckpointPolicy(directory: written.path, stopAfterSteps: 8))
        source = CheckpointDirectory(url: written).url(step: 8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - Helpers

    /// `source` with `change` applied, written (valid CRCs) to a new file.
    func modified(_ change: (inout Checkpoint) throws -> Void) throws -> URL {
        var checkpoint = try CheckpointReader.read(from: source)
        try change(&checkpoint)
        let url = directory.appendingPathComponent("modified-\(UUID().uuidString).safetensors")
        try CheckpointWriter.write(checkpoint, to: url)
        return url
    }

    /// Replaces `old` by `new` in the JSON text of metadata `key` (which must contain `old`).
    func replace(_ old: String, with new: String, in key: String, of checkpoint: inout Checkpoint) {
        let text = checkpoint.metadata[key] ?? ""
        XCTAssertTrue(text.contains(old), "\(key) = \(text) has no \(old)")
        checkpoint.metadata[key] = text.replacingOccurrences(of: old, with: new)
    }

    /// Resumes from `url` and returns the error, which must be a `CollectiveFailure` (every rank
    /// detects it from the same bytes; rank 0 alone reports it).
    func refusal(
        resuming url: URL, _ configuration: TrainingConfiguration = TrainingFixtures.configuration(),
        allowChange: Bool = false, data: TrainingData = TrainingFixtures.data,
        file: StaticString = #filePath, line: UInt = #line
    ) -> CollectiveFailure? {
        do {
            _ = try TrainingFixtures.train(
                configuration, CheckpointPolicy(resume: .path(url.path), allowConfigurationChange: allowChange), data: data)
            XCTFail("resumed from a checkpoint that should be refused", file: file, line: line)
            return nil
        } catch let failure as CollectiveFailure {
            return failure
        } catch {
            XCTFail("\(error) is not a CollectiveFailure", file: file, line: line)
            return nil
        }
    }

    // MARK: - Configuration

    func testADifferentLearningRateIsRefusedNamingTheFieldAndFlag() throws {
        var changed = TrainingFixtures.configuration()
        changed.schedule.learningRate = 0.02
        let failure = try XCTUnwrap(refusal(resuming: source, changed))
        XCTAssertEqual(failure.description, """
            checkpoint \(source.path) was written with a different configuration (checkpoint → command line): \
            schedule.learningRate (--lr): 0.01 → 0.02
            """)
        XCTAssertEqual(failure.exitStatus, .usage)
        XCTAssertEqual(failure.hint, ResumeError.configurationDiffers(file: "", differences: []).hint)
    }

    func testAllowConfigChangePermitsMoreEpochsAndALearningRateAndLogsThem() throws {
        var changed = TrainingFixtures.configuration()
        changed.epochs = 4
        changed.schedule.learningRate = 0.02
        let run = try TrainingFixtures.train(
            changed, CheckpointPolicy(resume: .path(source.path), allowConfigurationChange: true))
        XCTAssertEqual(run.summary.epochs.map(\.epoch), [1, 2, 3, 4])
        XCTAssertTrue(run.log.contains("warning: configuration changed on resume: epochs (--epochs): 3 → 4"), "\(run.log)")
        XCTAssertTrue(run.log.contains("warning: configuration changed on resume: schedule.learningRate (--lr): 0.01 → 0.02"), "\(run.log)")
        // lr(8) = max(lr0·0.8^(8 − 3), 0.005): 0.01 · 0.8^5 = 0.0032768 → 0.005 (floor); 0.02 · 0.8^5 = 0.0065536.
        XCTAssertTrue(run.log.contains { $0.hasPrefix("warning: the learning rate at step 8 changes from 0.005 (bits ") && $0.contains(" to 0.0065536") },
                      "\(run.log)")
    }

    func testFieldsThatCanNeverChangeAreRefusedEvenWithAllowConfigChange() throws {
        var changed = TrainingFixtures.configuration()
        changed.hiddenSizes = [9]
        changed.seed = 4
        changed.epochs = 4  // may change, but the fixed fields are reported first
        let failure = try XCTUnwrap(refusal(resuming: source, changed, allowChange: true))
        XCTAssertEqual(failure.description, """
            checkpoint \(source.path) cannot be resumed with a different hiddenSizes (--hidden), seed (--seed) \
            (checkpoint → command line: [8] → [9]; 3 → 4): the tensor shapes, the optimizer state or the position \
            in the data depend on them
            """)
        XCTAssertEqual(failure.exitStatus, .usage)
    }

    /// Every field of `RunState.fixedFields`, changed alone, is refused by name even with
    /// `--allow-config-change` (issue 15: before, only `--hidden` and `--seed` were shown).
    func testEveryFixedFieldIsRefusedByName() throws {
        let changes: [String: (inout TrainingConfiguration) -> Void] = [
            "model": { $0.model = "flatten linear(8) relu linear(3)" },
            "hiddenSizes": { $0.hiddenSizes = [9] },
            "optimizer.kind": { $0.optimizer = OptimizerConfiguration(kind: .sgd) },
            "optimizer.amsgrad": { $0.optimizer.amsgrad = true },
            "seed": { $0.seed = 4 },
            "globalBatchSize": { $0.globalBatchSize = 4 },
            "limitTrain": { $0.limitTrain = 40 },
            "validationSplit": { $0.validationSplit = 0.25 },
            "normalize": { $0.normalize = Normalization.Kind.none },
        ]
        XCTAssertEqual(Set(changes.keys), RunState.fixedFields, "a fixed field without a change here")
        for (field, change) in changes.sorted(by: { $0.key < $1.key }) {
            var changed = TrainingFixtures.configuration()
            change(&changed)
            let failure = refusal(resuming: source, changed, allowChange: true)
            XCTAssertTrue(failure?.description.contains("cannot be resumed with a different \(field) (") ?? false,
                          "\(field): \(failure?.description ?? "accepted")")
        }
    }

    func testFreeFieldsChangeWithoutTheFlagAndAreLogged() throws {
        var changed = TrainingFixtures.configuration()
        changed.verifyEvery = 0
        changed.evaluationBatchSize = 20
        let run = try TrainingFixtures.train(changed, CheckpointPolicy(resume: .path(source.path)))
        XCTAssertTrue(run.log.contains("warning: configuration changed on resume: verifyEvery (--verify-every): 4 → 0"), "\(run.log)")
        XCTAssertTrue(run.log.contains("warning: configuration changed on resume: evaluationBatchSize (--eval-batch): 7 → 20"), "\(run.log)")
    }

    func testTheEpochsCannotBeLoweredBelowTheCheckpoint() throws {
        var changed = TrainingFixtures.configuration()
        changed.epochs = 1
        let failure = try XCTUnwrap(refusal(resuming: source, changed, allowChange: true))
        XCTAssertEqual(failure.description, "checkpoint \(source.path) is at epoch 2, beyond the end of this run (--epochs 1)")
    }

    // MARK: - Data and tensors

    func testADifferentTrainingSetIsRefused() throws {
        let other = TrainingData(training: TrainingFixtures.images(count: 48, seed: 9), test: TrainingFixtures.data.test)
        let failure = try XCTUnwrap(refusal(resuming: source, data: other))
        XCTAssertTrue(failure.description.hasPrefix(
            "checkpoint \(source.path) was trained on a different training set: the training labels' CRC-32 is "), failure.description)
        XCTAssertEqual(failure.exitStatus, .data)
    }

    func testTensorsThatDoNotFitTheModelAreRefused() throws {
        let url = try modified { checkpoint in
            let index = checkpoint.tensors.firstIndex { $0.name == "3.bias" }!
            checkpoint.tensors[index] = CheckpointTensor(name: "3.bias", shape: [2], values: [0, 0])
            checkpoint.tensors.removeAll { $0.name == "optimizer.exp_avg_sq.1.bias" }
        }
        let failure = try XCTUnwrap(refusal(resuming: url))
        XCTAssertEqual(failure.description, """
            checkpoint \(url.path) does not match the model: missing "optimizer.exp_avg_sq.1.bias"; \
            shape mismatch 3.bias (model [3], checkpoint [2])
            """)
        XCTAssertEqual(failure.exitStatus, .data)
    }

    func testAMissingMetadataKeyIsRefused() throws {
        let url = try modified { $0.metadata.removeValue(forKey: "epoch_progress") }
        XCTAssertEqual(refusal(resuming: url)?.description, "checkpoint \(url.path) has no metadata \"epoch_progress\"")
    }

    // MARK: - Counters and derived values

    func testAStoredLearningRateThatDiffersFromTheRecomputedOneIsRefused() throws {
        let url = try modified { self.replace("\"bits\":\"3f747ae147ae147b\"", with: "\"bits\":\"3f747ae147ae147c\"", in: "learning_rate", of: &$0) }
        XCTAssertEqual(refusal(resuming: url)?.description, """
            checkpoint \(url.path): the learning rate at step 8 recomputed from the configuration is 0.005 (bits \
            3f747ae147ae147b), the checkpoint stored 0.005 (bits 3f747ae147ae147c)
            """)
    }

    func testAStoredScheduleThatDiffersFromTheRebuiltOneIsRefused() throws {
        let url = try modified {
            self.replace("\"gamma\":0.8", with: "\"gamma\":0.81", in: "schedule_state", of: &$0)
        }
        let failure = try XCTUnwrap(refusal(resuming: url))
        XCTAssertTrue(failure.description.hasPrefix("checkpoint \(url.path): the learning-rate schedule recomputed from the configuration is {"),
                      failure.description)
        XCTAssertTrue(failure.description.contains("\"gamma\":0.81"), failure.description)
    }

    func testADifferentDataOrderIsRefused() throws {
        let url = try modified { checkpoint in
            let text = checkpoint.metadata["rng_state"]!
            let hash = text.range(of: #""permutation_hash":"[0-9a-f]{16}""#, options: .regularExpression)!
            checkpoint.metadata["rng_state"] = text.replacingCharacters(in: hash, with: #""permutation_hash":"0123456789abcdef""#)
        }
        let failure = try XCTUnwrap(refusal(resuming: url))
        XCTAssertTrue(failure.description.contains("was trained on a different training set: the data order of epoch 2 "), failure.description)
        XCTAssertTrue(failure.description.contains("0123456789abcdef"), failure.description)
    }

    func testInconsistentCountersAreRefused() throws {
        let cases: [(key: String, old: String, new: String, reason: String)] = [
            ("position", "\"global_step\":8", "\"global_step\":9",
             "position epoch 1, step 2 of 6 does not give global step 9"),
            ("schedule_state", "\"optimizer_step\":8", "\"optimizer_step\":7",
             "global step 8, schedule state at step 8 with 7 updates and 0 skipped, learning rate of step 8"),
            ("epoch_progress", "\"applied_steps\":2", "\"applied_steps\":3", "3 applied steps in an epoch at step 2"),
            ("metrics", "\"epoch\":1", "\"epoch\":2", "metrics for epochs [2], expected 1 to 1"),
        ]
        for (key, old, new, reason) in cases {
            let url = try modified { self.replace(old, with: new, in: key, of: &$0) }
            XCTAssertEqual(refusal(resuming: url)?.description, "checkpoint \(url.path) is inconsistent: \(reason)", key)
        }
    }

    // MARK: - Nothing partially loaded

    func testARefusedRestoreLeavesTheStateUntouched() throws {
        let url = try modified { self.replace("\"bits\":\"3f747ae147ae147b\"", with: "\"bits\":\"0000000000000000\"", in: "learning_rate", of: &$0) }
        let trainer = try Trainer(
            configuration: TrainingFixtures.configuration(), communicator: SingleProcessCommunicator(),
            data: TrainingFixtures.data, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let state = trainer.state
        state.model.initialize(seed: 11)
        let before = state.model.parameters.array
        let bytes = try [UInt8](Data(contentsOf: url))
        XCTAssertThrowsError(try state.restore(bytes, source: url.path, allowConfigurationChange: false)) { error in
            XCTAssertTrue(error is ResumeError, "\(error)")
        }
        XCTAssertEqual(state.model.parameters.array, before)
        XCTAssertEqual(state.globalStep, 0)
        XCTAssertEqual(state.epoch, 0)
        // The unmodified checkpoint restores.
        _ = try state.restore(try [UInt8](Data(contentsOf: source)), source: source.path, allowConfigurationChange: false)
        XCTAssertEqual(state.globalStep, 8)
        XCTAssertEqual([state.epoch, state.stepInEpoch], [1, 2])
    }

    // MARK: - Finding the checkpoint

    func testResumeAutoInADirectoryWithOnlyATemporaryFileIsRefused() throws {
        let stray = directory.appendingPathComponent("stray")
        try FileManager.default.createDirectory(at: stray, withIntermediateDirectories: true)
        let temporary = stray.appendingPathComponent(".ckpt-step-000000000012.safetensors.tmp-4242")
        try Data([1, 2, 3]).write(to: temporary)
        do {
            _ = try TrainingFixtures.train(TrainingFixtures.configuration(), CheckpointPolicy(directory: stray.path, resume: .auto))
            XCTFail("resumed from a directory with only a temporary file")
        } catch let failure as CollectiveFailure {
            XCTAssertEqual(failure.description, """
                checkpoint directory \(stray.path) holds no checkpoint, only the temporary file \
                .ckpt-step-000000000012.safetensors.tmp-4242 of an interrupted write
                """)
            XCTAssertEqual(failure.exitStatus, .data)
        }
    }

    func testResumeAutoInAnEmptyDirectoryStartsAfresh() throws {
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let run = try TrainingFixtures.train(
            TrainingFixtures.configuration(), CheckpointPolicy(directory: empty.path, resume: .auto, stopAfterSteps: 1))
        XCTAssertTrue(run.log.contains("info: --resume auto: no checkpoint in \(empty.path), starting afresh"), "\(run.log)")
        XCTAssertEqual(try CheckpointDirectory(url: empty).list().checkpoints.map(\.step), [1])
    }

    /// A directory that does not exist (a mistyped --run-dir, or a job script's first submission)
    /// also starts afresh, with a warning that says so.
    func testResumeAutoInAMissingDirectoryWarnsAndStartsAfresh() throws {
        let missing = directory.appendingPathComponent("mistyped")
        let run = try TrainingFixtures.train(
            TrainingFixtures.configuration(), CheckpointPolicy(directory: missing.path, resume: .auto, stopAfterSteps: 1))
        XCTAssertTrue(run.log.contains(
            "warning: --resume auto: \(missing.path) does not exist, so this run starts afresh (check the --run-dir or "
                + "--checkpoint-dir if you meant to continue a run)"), "\(run.log)")
        XCTAssertEqual(try CheckpointDirectory(url: missing).list().checkpoints.map(\.step), [1])
    }

    func testAFailedCheckpointWriteEndsTheRunAndKeepsThePreviousCheckpoint() throws {
        let failing = directory.appendingPathComponent("failing")
        do {
            _ = try TrainingFixtures.train(
                TrainingFixtures.configuration(), CheckpointPolicy(directory: failing.path, everySteps: 2),
                faults: try FaultPlan(parsing: "checkpoint-fail:rank=0:step=4:bytes=100"))
            XCTFail("a failed write did not end the run")
        } catch let failure as CollectiveFailure {
            XCTAssertTrue(failure.description.hasPrefix("writing checkpoint failed: write \(failing.path)/.ckpt-step-000000000004.safetensors.tmp-"),
                          failure.description)
            XCTAssertTrue(failure.description.hasSuffix(": No space left on device (errno 28) (injected)"), failure.description)
            XCTAssertEqual(failure.exitStatus, .io)
        }
        let listing = try CheckpointDirectory(url: failing).list()
        XCTAssertEqual(listing.checkpoints.map(\.step), [2])
        XCTAssertEqual(listing.temporaryFiles, [], "the failed write removed its temporary file")
        XCTAssertNoThrow(try CheckpointReader.read(from: listing.checkpoints[0].url))
    }
}
