import Checkpoints
import Datasets
import Foundation
import Reporting

/// Resuming: checking a checkpoint against this run and restoring it.
///
/// Every rank decodes the same bytes (rank 0 read and broadcast them) and checks them against the
/// run: format, configuration, data, tensor shapes, counters, and the values derived from the
/// configuration (the data order and the learning rate); only when every check passes does it
/// restore the parameters, optimizer state and counters. So every rank throws the same error.
extension RunState {
    /// Configuration fields a resumed run may change without `--allow-config-change` (they do
    /// not change what is trained; each change is logged): paths, checks, the evaluation batch,
    /// and how gradients travel (`--no-overlap` gives the same bytes; another `--bucket-mb` may
    /// let MPI pick another algorithm, so it sums in another order, as a new world size would).
    static let freeFields: Set<String> = TrainingConfiguration.rankLocalFields.union(
        ["verifyEvery", "stallTimeout", "evaluationBatchSize", "overlap", "bucketMegabytes", "dataCopies", "onDivergence",
         "reduction", "sharedParameters"])

    /// Fields that can never change on resume, even with `--allow-config-change`: the tensor
    /// shapes (`--model`, `--hidden`), the optimizer's state buffers (`--optimizer`, `--amsgrad`) and the
    /// position in the data (the seed's data order, the batches and steps per epoch, the samples
    /// held out for validation, what the features mean to the model).
    static let fixedFields: Set<String> = [
        "model", "hiddenSizes", "optimizer.kind", "optimizer.amsgrad", "seed", "globalBatchSize", "limitTrain",
        "validationSplit", "normalize",
    ]

    // MARK: - Checking and restoring

    /// Checks the checkpoint in `bytes` against this run and, only when every check passes,
    /// restores it. Runs on every rank with the same bytes, so every rank throws the same error.
    /// - Returns: warnings for the log (world size or configuration changes), and facts to log
    ///   as information (a world-size change in the world-size-invariant mode).
    /// - Throws: `CheckpointError` (format, metadata, tensors) or `ResumeError`.
    func restore(
        _ bytes: [UInt8], source file: String, allowConfigurationChange: Bool
    ) throws -> (warnings: [String], information: [String]) {
        let decoded = try CheckpointReader.decode(bytes, source: file)
        let stored = try TrainingCheckpoint(decoding: decoded.checkpoint, formatVersion: decoded.layout.formatVersion)
        let checkpoint = Checkpoint(tensors: stored.tensors, metadata: decoded.checkpoint.metadata, source: file)
        var notes: [String] = [], information: [String] = []

        // What is trained: the configuration, the data, the tensors.
        let changes = try checkConfiguration(stored.configuration, file: file, allowChange: allowConfigurationChange)
        // Where files are (each run's own metrics file, each rank's data path) is not a change of
        // what is trained: not worth a warning.
        notes += changes.filter { !TrainingConfiguration.rankLocalFields.contains($0.field) }
            .map { "configuration changed on resume: \($0)" }
        let deliberate = changes.contains { !Self.freeFields.contains($0.field) }
        try checkData(stored.data, file: file)
        let parameterTensors = model.tensors.map { (name: $0.name, shape: $0.shape) }
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
                stored: "\(stored.randomState.seed), \(stored.randomState.dataOrderStream), \(stored.randomState.permutationHash)",
                current: "\(order.seed), \(order.dataOrderStream), \(order.permutationHash)")
        }
        let recomputed = TrainingCheckpoint.LearningRate(globalStep: position.globalStep, value: schedule.lr(at: position.globalStep))
        if state.schedule != schedule || recomputed != stored.learningRate {
            let storedText = "\(stored.learningRate.value) (bits \(stored.learningRate.bits))"
            let recomputedText = "\(recomputed.value) (bits \(recomputed.bits))"
            guard deliberate else {
                throw state.schedule != schedule
                    ? ResumeError.derivedValueDiffers(
                        file: file, what: "learning-rate schedule", stored: Self.json(state.schedule), recomputed: Self.json(schedule))
                    : ResumeError.derivedValueDiffers(
                        file: file, what: "learning rate at step \(position.globalStep)", stored: storedText, recomputed: recomputedText)
            }
            notes.append(recomputed == stored.learningRate
                ? "the learning-rate schedule is rebuilt from the changed configuration; the learning rate at step \(position.globalStep) stays \(recomputed.value)"
                : "the learning rate at step \(position.globalStep) changes from \(storedText) to \(recomputedText)")
        }
        if stored.lockstepVersion != LockstepVersion.current {
            notes.append("the checkpoint was written by lockstep \(stored.lockstepVersion), this is \(LockstepVersion.current)")
        }
        if stored.worldSize != worldSize, configuration.invariantMicroBatchSize != nil {
            information.append("""
                the checkpoint was written by \(stored.worldSize) ranks, this run has \(worldSize): training is \
                world-size-invariant, so it continues bitwise on the trajectory of an uninterrupted run
                """)
        } else if stored.worldSize != worldSize {
            notes.append("""
                the checkpoint was written by \(stored.worldSize) ranks, this run has \(worldSize): the global \
                batch stays \(configuration.globalBatchSize) (\(sampler.localBatchSize) per rank) and training continues correctly, \
                but not bitwise as an uninterrupted \(stored.worldSize)-rank run (the gradients are summed in a different order)
                """)
        }

        // Everything checked: restore.
        for tensor in model.tensors {
            copy(checkpoint.tensor(named: tensor.name)!, into: model.parameters.slice(tensor.range))
        }
        // The checkpoint holds the whole state; with --reduction sharded this rank takes its slice.
        for (name, buffer) in optimizer.stateBuffers {
            for tensor in model.tensors {
                let overlap = tensor.range.clamped(to: shard)
                guard !overlap.isEmpty else { continue }
                let stateTensor = checkpoint.tensor(named: TrainingCheckpoint.optimizerTensorName(state: name, parameter: tensor.name))!
                stateTensor.values.withUnsafeBufferPointer { values in
                    _ = buffer.slice((overlap.lowerBound - shard.lowerBound)..<(overlap.upperBound - shard.lowerBound))
                        .update(fromContentsOf: values[(overlap.lowerBound - tensor.range.lowerBound)..<(overlap.upperBound - tensor.range.lowerBound)])
                }
            }
        }
        optimizer.stepCount = state.optimizerStep
        globalStep = position.globalStep
        skippedSteps = state.skippedSteps
        epoch = position.epoch
        stepInEpoch = position.stepInEpoch
        epochLossSum = stored.epochProgress.trainLossSum
        epochAppliedSteps = stored.epochProgress.appliedSteps
        gradientNorms = stored.epochProgress.gradientNorms
        metricsHistory = stored.metrics
        return (notes, information)
    }

    /// The configuration differences the run may proceed with (logged); throws for the others.
    private func checkConfiguration(
        _ stored: TrainingConfiguration, file: String, allowChange: Bool
    ) throws -> [ConfigurationDifference] {
        let differences = ConfigurationDifference.between(stored, configuration)
        let fixed = differences.filter { Self.fixedFields.contains($0.field) }
        if !fixed.isEmpty { throw ResumeError.fixedFieldsDiffer(file: file, differences: fixed) }
        let deliberate = differences.filter { !Self.freeFields.contains($0.field) }
        if !deliberate.isEmpty && !allowChange {
            throw ResumeError.configurationDiffers(file: file, differences: deliberate)
        }
        return differences
    }

    private func checkData(_ stored: TrainingCheckpoint.DataFingerprint, file: String) throws {
        let current = TrainingCheckpoint.DataFingerprint(data)
        let fields: [(String, Int, Int)] = [
            ("the number of training samples", stored.trainingSamples, current.trainingSamples),
            ("the training labels' CRC-32", Int(stored.trainingLabelsCRC32), Int(current.trainingLabelsCRC32)),
            ("the number of features", stored.features, current.features),
            ("the number of classes", stored.classes, current.classes),
        ]
        for (what, storedValue, currentValue) in fields where storedValue != currentValue {
            throw ResumeError.dataDiffers(file: file, what: what, stored: String(storedValue), current: String(currentValue))
        }
        if stored.normalization != current.normalization {
            func text(_ n: Normalization?) -> String {
                guard let n else { return "unit" }
                return n.kind.rawValue + (n.mean.isEmpty ? "" : " (mean \(n.mean), std \(n.standardDeviation))")
            }
            throw ResumeError.dataDiffers(file: file, what: "the normalisation", stored: text(stored.normalization),
                                          current: text(current.normalization))
        }
    }

    private func checkPosition(
        _ position: TrainingCheckpoint.Position, state: ScheduleState, stored: TrainingCheckpoint, file: String
    ) throws {
        func inconsistent(_ reason: String) -> ResumeError { .inconsistentState(file: file, reason: reason) }
        guard position.stepsPerEpoch == stepsPerEpoch else {
            throw inconsistent("it was written with \(position.stepsPerEpoch) steps per epoch, this run has \(stepsPerEpoch)")
        }
        guard position.epoch >= 0, (0..<stepsPerEpoch).contains(position.stepInEpoch),
            position.globalStep == Int64(position.epoch) * Int64(stepsPerEpoch) + Int64(position.stepInEpoch)
        else {
            throw inconsistent("""
                position epoch \(position.epoch), step \(position.stepInEpoch) of \(stepsPerEpoch) does not give \
                global step \(position.globalStep)
                """)
        }
        guard position.epoch <= configuration.epochs else {
            throw ResumeError.beyondTheRun(file: file, epoch: position.epoch, epochs: configuration.epochs)
        }
        guard position.epoch < configuration.epochs || position.stepInEpoch == 0 else {
            throw ResumeError.beyondTheRun(file: file, epoch: position.epoch + 1, epochs: configuration.epochs)
        }
        guard state.globalStep == position.globalStep, stored.learningRate.globalStep == position.globalStep,
            state.optimizerStep >= 0, state.skippedSteps >= 0,
            state.optimizerStep + state.skippedSteps == position.globalStep
        else {
            throw inconsistent("""
                global step \(position.globalStep), schedule state at step \(state.globalStep) with \
                \(state.optimizerStep) updates and \(state.skippedSteps) skipped, learning rate of step \
                \(stored.learningRate.globalStep)
                """)
        }
        let progress = stored.epochProgress
        guard (0...position.stepInEpoch).contains(progress.appliedSteps) else {
            throw inconsistent("\(progress.appliedSteps) applied steps in an epoch at step \(position.stepInEpoch)")
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
