import Collectives
import Datasets
import Determinism
import Foundation
import Kernels
import Logging
import Models
import Optimizers
import Reporting
import Schedules

/// Synchronous data-parallel training of an MLP: every rank computes gradients on its share of
/// each global batch, the ranks sum them in one collective, and every rank applies the same
/// update, so all ranks stay bitwise identical (checked, not assumed).
///
/// One step (DESIGN.md §3): gather this rank's samples into the input buffer; forward and
/// backward into the flat gradient buffer, scaled by 1/global batch; sum across ranks; decide
/// from the reduced bytes whether the step is finite; the learning rate of the global step from
/// the schedule, in Double; the optimizer update. Nothing in the step allocates.
public final class Trainer {
    public let configuration: TrainingConfiguration
    let communicator: Communicator
    let data: TrainingData
    let logger: Logger
    let faults: FaultPlan
    let watchdog: StallWatchdog
    /// Checkpoint writing, resume and early stop (`--checkpoint-dir`, `--resume`, …).
    public let checkpointing: CheckpointPolicy

    public let layout: ParameterLayout
    let model: MLP
    let sampler: DistributedSampler
    let optimizer: any Optimizer
    public let schedule: ExponentialSchedule
    let reduction: GradientReduction

    /// The epoch's sample order `[training samples]`, refreshed once per epoch.
    let permutation: UnsafeMutableBufferPointer<Int32>
    /// Labels of the current batch `[maximum batch]`.
    let labels: UnsafeMutableBufferPointer<Int32>
    /// Sample indices of the current evaluation batch `[evaluation batch]`.
    let evaluationIndices: UnsafeMutableBufferPointer<Int32>

    /// Called on rank 0 after every step; must be cheap (it runs inside the training loop).
    public var onStep: ((StepProgress) -> Void)?
    /// Called on rank 0 after every epoch's evaluation.
    public var onEpoch: ((EpochMetrics) -> Void)?
    /// Called on rank 0 once the run has been agreed and its state prepared (started from the seed
    /// or restored and checked), before the first step: where the caller creates its outputs, so
    /// that a run that cannot start leaves nothing behind. An error it throws ends every rank.
    public var beforeTraining: (() throws -> Void)?

    /// Optimizer steps attempted so far, skipped ones included: the schedule's clock.
    public internal(set) var globalStep: Int64 = 0
    /// Steps whose update every rank skipped because the reduced loss or gradient was not finite.
    public internal(set) var skippedSteps: Int64 = 0
    private var lastPhase: SchedulePhase?

    // MARK: Position and the epoch's partial sums (checkpointed, so a resumed epoch continues them)
    /// The 0-based epoch of the next step (`configuration.epochs` once training is complete).
    var epoch = 0
    /// Steps of `epoch` already taken.
    var stepInEpoch = 0
    /// Σ over the epoch's applied steps of the global batch's mean loss, read from the reduced
    /// buffer: identical on every rank, in step order, so no end-of-epoch collective is needed
    /// and a resumed epoch continues the same sum.
    var epochLossSum = 0.0
    var epochAppliedSteps = 0
    /// Gradient norms before clipping in the current epoch (only with `--clip-grad-norm`).
    var gradientNorms = NormStatistics()
    /// One line per finished epoch (restored on resume, stored in every checkpoint).
    var metricsHistory: [EpochMetrics] = []
    /// Steps taken by this invocation (for `--stop-after-steps`).
    var stepsThisRun = 0

    /// Slots after the gradients in the reduction buffer: [0] the step's loss / global batch.
    static let trailingSlots = 1

    /// Builds the model, sampler, optimizer and schedule. Throws `SamplerError` or `ScheduleError`
    /// for settings that cannot work with this data and world size.
    /// - Parameters:
    ///   - faults: test-only fault injection (`LOCKSTEP_FAULT`); empty in production.
    ///   - checkpointing: where to write checkpoints and resume from; none by default.
    public init(
        configuration: TrainingConfiguration, communicator: Communicator, data: TrainingData, logger: Logger,
        faults: FaultPlan = FaultPlan(), checkpointing: CheckpointPolicy = CheckpointPolicy()
    ) throws {
        self.configuration = configuration
        self.communicator = communicator
        self.data = data
        self.logger = logger
        self.faults = faults
        self.checkpointing = checkpointing
        let layerSizes = [data.training.featureCount] + configuration.hiddenSizes + [data.training.classCount]
        try ModelSizeError.check(
            layerSizes: layerSizes, optimizerBuffers: configuration.optimizer.stateBufferCount,
            maximumBatch: max(configuration.globalBatchSize, configuration.evaluationBatchSize))
        layout = ParameterLayout(layerSizes: layerSizes)
        sampler = try DistributedSampler(
            sampleCount: data.training.count, globalBatchSize: configuration.globalBatchSize,
            worldSize: communicator.worldSize, rank: communicator.rank, seed: configuration.seed)
        let totalUnits = configuration.schedule.unit == .epoch
            ? configuration.epochs : configuration.epochs * sampler.stepsPerEpoch
        schedule = try ExponentialSchedule(
            configuration.scaledSchedule, stepsPerEpoch: sampler.stepsPerEpoch, totalUnits: totalUnits)

        let reductionBuffer = FloatBuffer(count: layout.parameterCount + Self.trailingSlots)
        let maximumBatch = max(sampler.localBatchSize, configuration.evaluationBatchSize)
        model = MLP(
            layout: layout, maximumBatchSize: maximumBatch, maximumTrainingBatchSize: sampler.localBatchSize,
            gradientStorage: reductionBuffer)
        optimizer = makeOptimizer(configuration.optimizer, parameterCount: layout.parameterCount)
        reduction = GradientReduction(
            communicator: communicator, mode: configuration.reduction, overlap: configuration.overlap,
            buffer: reductionBuffer, readyPoints: model.gradientReadyPoints,
            bucketByteCount: Int(configuration.bucketMegabytes * 1_048_576))

        permutation = .allocate(capacity: data.training.count)
        labels = .allocate(capacity: maximumBatch)
        evaluationIndices = .allocate(capacity: configuration.evaluationBatchSize)
        watchdog = StallWatchdog(
            timeout: configuration.stallTimeout, rank: communicator.rank, abort: communicator.abortFromAnyThread)
    }

    deinit {
        watchdog.stop()
        permutation.deallocate()
        labels.deallocate()
        evaluationIndices.deallocate()
    }

    public var stepsPerEpoch: Int { sampler.stepsPerEpoch }
    public var localBatchSize: Int { sampler.localBatchSize }

    // MARK: - Run

    /// Agrees on the run with the other ranks, starts from the seed or resumes from a checkpoint,
    /// trains until `configuration.epochs` epochs are done (or `--stop-after-steps`), evaluating
    /// after each epoch and writing checkpoints as `checkpointing` says, and verifies at the end
    /// that every rank holds the same state. Collective.
    public func run() throws -> TrainingSummary {
        try FloatingPointEnvironment.withFlushToZero { try runWithFlushToZero() }
    }

    private func runWithFlushToZero() throws -> TrainingSummary {
        watchdog.enter(.startup, step: globalStep)
        var fingerprint = try StartupAgreement.fingerprint(
            configuration: configuration, layout: layout, data: data, worldSize: communicator.worldSize)
        fingerprint.merge(checkpointing.fingerprintFields) { $1 }
        try StartupAgreement.check(fingerprint, communicator: communicator)
        try prepareState()
        var writer: MetricsWriter?
        _ = try communicator.runOnRankZero {
            try prepareCheckpointDirectory()
            try beforeTraining?()
            writer = try configuration.metricsPath.map(MetricsWriter.init)
            return []
        }
        logStart()
        // A resumed run rewrites the finished epochs' lines, so the file is the uninterrupted run's.
        for line in metricsHistory { try writer?.append(line) }
        if epoch >= configuration.epochs {
            logger.info("training was complete at step \(globalStep) (\(configuration.epochs) epochs): nothing left to train")
        }
        while epoch < configuration.epochs {
            guard let training = try trainEpoch() else { break }  // stopped inside the epoch
            let evaluationStart = communicator.wallTime()
            let test = try evaluate()
            let evaluationSeconds = communicator.wallTime() - evaluationStart
            let line = EpochMetrics(
                epoch: epoch + 1, step: globalStep, lr: training.lastLearningRate, train_loss: training.meanLoss,
                test_loss: test.meanLoss, test_accuracy: test.accuracy,
                samples_per_s: Double(training.steps * configuration.globalBatchSize) / training.seconds,
                epoch_seconds: training.seconds, eval_seconds: evaluationSeconds, skipped_steps: skippedSteps,
                grad_norm_mean: gradientNorms.mean, grad_norm_max: gradientNorms.maximum)
            metricsHistory.append(line)
            try writer?.append(line)
            if communicator.rank == 0 { onEpoch?(line) }
            logger.info("\(Self.format(line, epochs: configuration.epochs))")
            try verifyState(context: "end of epoch \(epoch + 1)")
            epoch += 1
            stepInEpoch = 0
            epochLossSum = 0
            epochAppliedSteps = 0
            gradientNorms = NormStatistics()
            try writeCheckpoint()
            if reachedStepLimit {
                logStop()
                break
            }
        }
        let parameterHash = try verifyState(context: "final check").parameters
        watchdog.stop()
        logger.info("lockstep verified: \(communicator.worldSize) ranks, params hash \(StateHash.hex(parameterHash))")
        return TrainingSummary(
            epochs: metricsHistory, parameterHash: parameterHash, worldSize: communicator.worldSize,
            skippedSteps: skippedSteps)
    }

    // MARK: - Training

    private struct EpochTraining {
        var meanLoss: Double
        /// Seconds and steps of this invocation (less than the epoch when it resumed inside it).
        var seconds: Double
        var steps: Int
        var lastLearningRate: Double
    }

    /// True once this invocation has taken its `--stop-after-steps`.
    private var reachedStepLimit: Bool {
        checkpointing.stopAfterSteps.map { stepsThisRun >= $0 } ?? false
    }

    private func logStop() {
        let saved = checkpointing.directory == nil
            ? "checkpoints are off (--no-checkpoints), so this state is not saved"
            : "continue with the same command and --resume auto"
        logger.info("""
            stopped after \(stepsThisRun) steps (--stop-after-steps) at step \(globalStep) (\(positionDescription)): \(saved)
            """)
    }

    /// Trains the rest of epoch `epoch` from step `stepInEpoch`, writing the checkpoints due inside
    /// it; returns nil when `--stop-after-steps` stops the run inside the epoch.
    private func trainEpoch() throws -> EpochTraining? {
        let start = communicator.wallTime()
        sampler.fillPermutation(epoch: epoch, into: permutation)
        let firstStep = stepInEpoch
        var learningRate = 0.0
        for step in firstStep..<stepsPerEpoch {
            learningRate = schedule.lr(at: globalStep)
            logPhaseChange()
            if let loss = try trainStep(samples: sampler.localRange(step: step), learningRate: learningRate) {
                epochLossSum += loss
                epochAppliedSteps += 1
            }
            stepInEpoch = step + 1
            stepsThisRun += 1
            if let onStep, communicator.rank == 0 {
                onStep(StepProgress(
                    epoch: epoch, epochs: configuration.epochs, stepInEpoch: step + 1, stepsPerEpoch: stepsPerEpoch,
                    globalStep: globalStep, loss: Double(reduction.buffer[layout.parameterCount]),
                    learningRate: learningRate, epochSeconds: communicator.wallTime() - start,
                    globalBatchSize: configuration.globalBatchSize))
            }
            if configuration.verifyEvery > 0, globalStep % Int64(configuration.verifyEvery) == 0 {
                try verifyState(context: "periodic check")
            }
            // The epoch's last step is checkpointed after the evaluation, with the epoch's metrics.
            guard stepInEpoch < stepsPerEpoch else { break }
            let stopping = reachedStepLimit
            if stopping || (checkpointing.everySteps > 0 && globalStep % Int64(checkpointing.everySteps) == 0) {
                try writeCheckpoint()
            }
            if stopping {
                logStop()
                return nil
            }
        }
        return EpochTraining(
            meanLoss: epochLossSum / Double(max(epochAppliedSteps, 1)), seconds: communicator.wallTime() - start,
            steps: stepsPerEpoch - firstStep, lastLearningRate: learningRate)
    }

    /// One optimizer step on this rank's samples `permutation[samples]`; returns the global
    /// batch's mean loss (reduced, identical on every rank), or nil when every rank skipped the
    /// update (non-finite, `--on-nonfinite skip`).
    @inline(__always)
    func trainStep(samples: Range<Int>, learningRate: Double) throws -> Double? {
        let rank = communicator.rank
        watchdog.enter(.computingGradients, step: globalStep)
        faults.injectProcessFaults(rank: rank, step: globalStep)
        let batchSize = samples.count
        data.training.fillBatch(
            indices: UnsafeBufferPointer(rebasing: permutation[samples]), features: model.input.baseAddress,
            labels: labels.baseAddress!)
        let inverseGlobalBatch = 1 / Float(configuration.globalBatchSize)
        let trailer = reduction.buffer.baseAddress + layout.parameterCount
        let injectsNaN = faults.fires(.nan, rank: rank, step: globalStep)
        // The reduction's buckets start during backward (overlap): the trailer, in the first
        // bucket, is written as soon as the loss is known, and an injected NaN before the bucket
        // holding it starts.
        reduction.beginStep()
        _ = try model.computeGradients(
            batchSize: batchSize, labels: labels.baseAddress!, gradientScale: inverseGlobalBatch
        ) { event in
            switch event {
            case .lossComputed(let summary):
                trailer[0] = injectsNaN ? .nan : Float(summary.lossSum) * inverseGlobalBatch
            case .gradientsReady(from: 0) where injectsNaN:
                model.gradients[0] = .nan
            default: break
            }
            try reduction.observe(event)
        }
        watchdog.enter(.gradientReduction, step: globalStep)
        // Decided from the reduced bytes, identical on every rank, so every rank decides alike.
        guard try reduction.finish() else {
            let error = NonFiniteError(step: globalStep, loss: Double(trailer[0]))
            guard configuration.onNonFinite == .skip else { throw error }
            skippedSteps += 1
            if communicator.rank == 0 {  // every rank decided alike: one of them says so
                logger.warning("\(error.description): update skipped on every rank (\(skippedSteps) skipped so far)")
            }
            globalStep += 1
            return nil
        }
        if let maximumNorm = configuration.clipGradientNorm {
            gradientNorms.record(clipGradientNorm(model.gradients, maxNorm: maximumNorm))
        }
        optimizer.update(parameters: model.parameters, gradients: model.gradients, learningRate: learningRate)
        if faults.fires(.bitflip, rank: rank, step: globalStep) {
            let index = layout.parameterCount / 2
            model.parameters[index] = Float(bitPattern: model.parameters[index].bitPattern ^ (1 << 22))
        }
        globalStep += 1
        return Double(trailer[0])
    }

    private func logPhaseChange() {
        let phase = schedule.phase(at: globalStep)
        defer { lastPhase = phase }
        guard let previous = lastPhase, previous != phase else { return }
        if previous == .warmup {
            logger.info("warmup ended at step \(globalStep): lr \(schedule.lr(at: globalStep))")
        }
        if phase == .floor {
            logger.info("lr reached its floor at step \(globalStep): \(schedule.lr(at: globalStep))")
        }
    }

    // MARK: - Output

    private func logStart() {
        let count = layout.parameterCount.formatted()
        logger.info("""
            lockstep: \(communicator.worldSize) rank\(communicator.worldSize == 1 ? "" : "s"), model \(layout.shapeDescription) (\(count) parameters), \
            global batch \(configuration.globalBatchSize) (\(sampler.localBatchSize) per rank), \
            \(stepsPerEpoch) steps/epoch, BLAS \(BLASRuntime.coreName) × \(BLASRuntime.threadCount) thread\
            \(BLASRuntime.threadCount == 1 ? "" : "s"), reduction \(configuration.reduction.rawValue), \
            optimizer \(configuration.optimizer.kind.rawValue)
            """)
    }

    static func format(_ line: EpochMetrics, epochs: Int) -> String {
        func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
        return "epoch \(line.epoch)/\(epochs)  lr \(String(format: "%.6g", line.lr))  train loss \(fixed(line.train_loss, 4))  "
            + "test loss \(fixed(line.test_loss, 4))  test acc \(fixed(line.test_accuracy, 4))  "
            + "\(Int(line.samples_per_s.rounded())) samples/s  (\(fixed(line.epoch_seconds, 2)) s train, \(fixed(line.eval_seconds, 2)) s eval)"
            + (line.skipped_steps > 0 ? "  skipped \(line.skipped_steps)" : "")
            + (line.grad_norm_max.map { "  grad norm mean \(fixed(line.grad_norm_mean ?? 0, 3)) max \(fixed($0, 3))" } ?? "")
    }
}

/// A non-finite reduced loss or gradient (with `--on-nonfinite abort`).
public struct NonFiniteError: ReportableError, Equatable {
    public let step: Int64
    /// The global batch's mean loss as reduced (NaN or ±Inf when the loss itself was non-finite).
    public let loss: Double
    public var exitStatus: ExitStatus { .nonFinite }
    public var isCollective: Bool { true }
    public var description: String {
        "non-finite \(loss.isFinite ? "gradient" : "loss (\(loss))") at step \(step)"
    }
    public var hint: String? { "lower --lr, add warmup (--warmup) or clipping, or pass --on-nonfinite skip" }
}
