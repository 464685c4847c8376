import Checkpoints
import Foundation
import Reporting

/// Starting a run: from the seed, or from a checkpoint (`--resume`).
///
/// Resume protocol: rank 0 finds the file and reads its bytes, and broadcasts them (no shared file
/// system needed); every rank decodes the same bytes, checks them against this run (format,
/// configuration, data, tensor shapes, counters, and the values derived from the configuration:
/// the data order and the learning rate), and only then restores the parameters, optimizer state
/// and counters; then rank 0's state is broadcast and every rank checks it holds the same.
/// Training continues from the exact next sample.
extension Trainer {
    /// Configuration fields a resumed run may change without `--allow-config-change` (they do
    /// not change what is trained; each change is logged): paths, checks, the evaluation batch,
    /// and how gradients travel (`--no-overlap` gives the same bytes; another `--bucket-mb` may
    /// let MPI pick another algorithm, so it sums in another order, as a new world size would).
    static let freeFields: Set<String> = TrainingConfiguration.rankLocalFields.union(
        ["verifyEvery", "stallTimeout", "evaluationBatchSize", "overlap", "bucketMegabytes"])

    /// Fields that can never change on resume, even with `--allow-config-change`: the tensor
    /// shapes (`--hidden`), the optimizer's state buffers (`--optimizer`, `--amsgrad`) and the
    /// position in the data (the seed's data order, the batches and steps per epoch).
    static let fixedFields: Set<String> = [
        "hiddenSizes", "optimizer.kind", "optimizer.amsgrad", "seed", "globalBatchSize", "limitTrain",
    ]

    /// Initialises the state from the seed, or restores the checkpoint `checkpointing.resume`
    /// names; then agrees on rank 0's state. Collective.
    func prepareState() throws {
        guard let source = try locateCheckpoint() else {
            model.initialize(seed: configuration.seed)
            try agreeOnState(context: "initial state from seed \(configuration.seed)")
            return
        }
        watchdog.enter(.checkpoint, step: globalStep)
        let bytes = try communicator.runOnRankZero { try CheckpointReader.readBytes(from: URL(fileURLWithPath: source)) }
        let notes = try CollectiveFailure.collectively { try restore(bytes, source: source) }
        if communicator.rank == 0 {
            logger.info("resumed from \(source) at step \(globalStep) (\(positionDescription))")
            for note in notes { logger.warning("\(note)") }
        }
        try agreeOnState(context: "state restored from \(source)")
    }

    /// The checkpoint to resume from, as rank 0 sees it (nil: a fresh start). Logs the choice and
    /// `CheckpointDirectory.latest()`'s warnings. Collective.
    private func locateCheckpoint() throws -> String? {
        guard checkpointing.resume != .none else { return nil }
        let answer = try communicator.runOnRankZero {
            switch checkpointing.resume {
            case .none: return []
            case let .path(path): return Array(path.utf8)
            case .auto:
                guard let directoryPath = checkpointing.directory else {
                    throw UsageError("--resume auto needs --checkpoint-dir", hint: "give --checkpoint-dir DIR, or --resume PATH")
                }
                guard let latest = try CheckpointDirectory(url: URL(fileURLWithPath: directoryPath)).latest() else {
                    logger.info("--resume auto: no checkpoint in \(directoryPath), starting afresh")
                    return []
                }
                for warning in latest.warnings { logger.warning("\(warning)") }
                let shown = (directoryPath as NSString).appendingPathComponent(latest.url.lastPathComponent)
                logger.info("--resume auto: the newest valid checkpoint is \(shown)")
                return Array(shown.utf8)
            }
        }
        return answer.isEmpty ? nil : String(decoding: answer, as: UTF8.self)
    }

    // MARK: - Checking and restoring

    /// Checks the checkpoint in `bytes` against this run and, only when every check passes,
    /// restores it. Runs on every rank with the same bytes, so every rank throws the same error.
    /// - Returns: warnings for the log (world size or configuration changes).
    /// - Throws: `CheckpointError` (format, metadata, tensors) or `ResumeError`.
    func restore(_ bytes: [UInt8], source file: String) throws -> [String] {
        let checkpoint = try CheckpointReader.decode(bytes, source: file).checkpoint
        let stored = try TrainingCheckpoint(decoding: checkpoint)
        var notes: [String] = []

        // What is trained: the configuration, the data, the tensors.
        let changes = try checkConfiguration(stored.configuration, file: file)
        notes += changes.map { "configuration changed on resume: \($0)" }
        let deliberate = changes.contains { !Self.freeFields.contains($0.field) }
        try checkData(stored.data, file: file)
        let parameterTensors = layout.tensors.map { (name: $0.name, shape: $0.shape) }
        try checkpoint.validateTensors(expected: TrainingCheckpoint.expectedTensors(
            parameters: parameterTensors, optimizerStates: optimizer.stateBuffers.map(\.name)))

        // Where: the counters agree with each other and with this run.
        let position = stored.position
        let state = stored.scheduleState
        try checkPosition(position, state: state, stored: stored, file: file)

        // Derived values, recomputed: the data order, the schedule, the learning rate.
        let order = randomState(epoch: position.epoch)
        if order != stored.randomState {
            throw ResumeError.dataDiffers(
                file: file, what: "the data order of epoch \(position.epoch + 1) (seed, stream, permutation hash)",
                stored: "\(stored.randomState.seed), \(stored.randomState.data_order_stream), \(stored.randomState.permutation_hash)",
                current: "\(order.seed), \(order.data_order_stream), \(order.permutation_hash)")
        }
        let recomputed = TrainingCheckpoint.LearningRate(globalStep: position.global_step, value: schedule.lr(at: position.global_step))
        if state.schedule != schedule || recomputed != stored.learningRate {
            let storedText = "\(stored.learningRate.value) (bits \(stored.learningRate.bits))"
            let recomputedText = "\(recomputed.value) (bits \(recomputed.bits))"
            guard deliberate else {
                throw state.schedule != schedule
                    ? ResumeError.derivedValueDiffers(
                        file: file, what: "learning-rate schedule", stored: Self.json(state.schedule), recomputed: Self.json(schedule))
                    : ResumeError.derivedValueDiffers(
                        file: file, what: "learning rate at step \(position.global_step)", stored: storedText, recomputed: recomputedText)
            }
            notes.append(recomputed == stored.learningRate
                ? "the learning-rate schedule is rebuilt from the changed configuration; the learning rate at step \(position.global_step) stays \(recomputed.value)"
                : "the learning rate at step \(position.global_step) changes from \(storedText) to \(recomputedText)")
        }
        if stored.lockstepVersion != LockstepVersion.current {
            notes.append("the checkpoint was written by lockstep \(stored.lockstepVersion), this is \(LockstepVersion.current)")
        }
        if stored.worldSize != communicator.worldSize {
            notes.append("""
                the checkpoint was written by \(stored.worldSize) ranks, this run has \(communicator.worldSize): the global \
                batch stays \(configuration.globalBatchSize) (\(localBatchSize) per rank) and training continues correctly, \
                but not bitwise as an uninterrupted \(stored.worldSize)-rank run (the gradients are summed in a different order)
                """)
        }

        // Everything checked: restore.
        for tensor in layout.tensors {
            copy(checkpoint.tensor(named: tensor.name)!, into: model.parameters.slice(tensor.range))
        }
        for (name, buffer) in optimizer.stateBuffers {
            for tensor in layout.tensors {
                let stateTensor = checkpoint.tensor(named: TrainingCheckpoint.optimizerTensorName(state: name, parameter: tensor.name))!
                copy(stateTensor, into: buffer.slice(tensor.range))
            }
        }
        optimizer.stepCount = state.optimizer_step
        globalStep = position.global_step
        skippedSteps = state.skipped_steps
        epoch = position.epoch
        stepInEpoch = position.step_in_epoch
        epochLossSum = stored.epochProgress.train_loss_sum
        epochAppliedSteps = stored.epochProgress.applied_steps
        gradientNorms = stored.epochProgress.gradient_norms
        metricsHistory = stored.metrics
        return notes
    }

    /// The configuration differences the run may proceed with (logged); throws for the others.
    private func checkConfiguration(_ stored: TrainingConfiguration, file: String) throws -> [ConfigurationDifference] {
        let differences = ConfigurationDifference.between(stored, configuration)
        let fixed = differences.filter { Self.fixedFields.contains($0.field) }
        if !fixed.isEmpty { throw ResumeError.fixedFieldsDiffer(file: file, differences: fixed) }
        let deliberate = differences.filter { !Self.freeFields.contains($0.field) }
        if !deliberate.isEmpty && !checkpointing.allowConfigurationChange {
            throw ResumeError.configurationDiffers(file: file, differences: deliberate)
        }
        return differences
    }

    private func checkData(_ stored: TrainingCheckpoint.DataFingerprint, file: String) throws {
        let current = TrainingCheckpoint.DataFingerprint(data)
        let fields: [(String, Int, Int)] = [
            ("the number of training samples", stored.training_samples, current.training_samples),
            ("the training labels' CRC-32", Int(stored.training_labels_crc32), Int(current.training_labels_crc32)),
            ("the number of features", stored.features, current.features),
            ("the number of classes", stored.classes, current.classes),
        ]
        for (what, storedValue, currentValue) in fields where storedValue != currentValue {
            throw ResumeError.dataDiffers(file: file, what: what, stored: String(storedValue), current: String(currentValue))
        }
    }

    private func checkPosition(
        _ position: TrainingCheckpoint.Position, state: ScheduleState, stored: TrainingCheckpoint, file: String
    ) throws {
        func inconsistent(_ reason: String) -> ResumeError { .inconsistentState(file: file, reason: reason) }
        guard position.steps_per_epoch == stepsPerEpoch else {
            throw inconsistent("it was written with \(position.steps_per_epoch) steps per epoch, this run has \(stepsPerEpoch)")
        }
        guard position.epoch >= 0, (0..<stepsPerEpoch).contains(position.step_in_epoch),
            position.global_step == Int64(position.epoch) * Int64(stepsPerEpoch) + Int64(position.step_in_epoch)
        else {
            throw inconsistent("""
                position epoch \(position.epoch), step \(position.step_in_epoch) of \(stepsPerEpoch) does not give \
                global step \(position.global_step)
                """)
        }
        guard position.epoch <= configuration.epochs else {
            throw ResumeError.beyondTheRun(file: file, epoch: position.epoch, epochs: configuration.epochs)
        }
        guard position.epoch < configuration.epochs || position.step_in_epoch == 0 else {
            throw ResumeError.beyondTheRun(file: file, epoch: position.epoch + 1, epochs: configuration.epochs)
        }
        guard state.global_step == position.global_step, stored.learningRate.global_step == position.global_step,
            state.optimizer_step >= 0, state.skipped_steps >= 0,
            state.optimizer_step + state.skipped_steps == position.global_step
        else {
            throw inconsistent("""
                global step \(position.global_step), schedule state at step \(state.global_step) with \
                \(state.optimizer_step) updates and \(state.skipped_steps) skipped, learning rate of step \
                \(stored.learningRate.global_step)
                """)
        }
        let progress = stored.epochProgress
        guard (0...position.step_in_epoch).contains(progress.applied_steps) else {
            throw inconsistent("\(progress.applied_steps) applied steps in an epoch at step \(position.step_in_epoch)")
        }
        guard stored.metrics.map(\.epoch) == Array(0..<position.epoch).map({ $0 + 1 }) else {
            throw inconsistent("metrics for epochs \(stored.metrics.map(\.epoch)), expected 1 to \(position.epoch)")
        }
    }

    private func copy(_ tensor: CheckpointTensor, into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(tensor.values.count == destination.count, "\(tensor) into \(destination.count) floats")
        _ = tensor.values.withUnsafeBufferPointer { destination.update(fromContentsOf: $0) }
    }

    private static func json<Value: Encodable>(_ value: Value) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
    }
}
