import Collectives
import Coordination
import Datasets
import Determinism
import Foundation
import Kernels
import Logging
import Models
import Optimizers
import Reporting
import Schedules
import Tracing

/// Synchronous data-parallel training: the loop over epochs and steps, with evaluation, metrics,
/// checkpoints and the lockstep checks. Every rank runs the same loop, so all ranks stay bitwise
/// identical (checked, not assumed).
///
/// Three parts, each in its own place:
/// - `TrainingStep`: the math of one global batch (forward, backward, reduction, update);
/// - `RunState`: the counters, position and progress, with checkpoint encoding and resume;
/// - this loop: the order of steps, evaluations, verifications and checkpoints, the non-finite
///   policy, and what rank 0 reports.
/// Fault injection and the stall watchdog are handed to the step as `StepObserver`s.
public final class Trainer {
    public let configuration: TrainingConfiguration
    let communicator: Communicator
    let data: TrainingData
    let logger: Logger
    let faults: FaultInjector
    let watchdog: StallWatchdog
    /// Checkpoint writing, resume and early stop (`--checkpoint-dir`, `--resume`, …).
    public let checkpointing: CheckpointPolicy

    let sampler: DistributedSampler
    public let schedule: ExponentialSchedule
    let step: TrainingStep
    let state: RunState
    /// `784-512-256-10` for the `mlp` preset, else the layer list.
    let modelName: String

    /// The epoch's sample order `[training samples]`, refreshed once per epoch.
    let permutation: UnsafeMutableBufferPointer<Int32>
    /// Sample indices and labels of the current evaluation batch `[evaluation batch]`.
    let evaluationIndices: UnsafeMutableBufferPointer<Int32>
    let evaluationLabels: UnsafeMutableBufferPointer<Int32>

    /// Called on rank 0 after every step; must be cheap (it runs inside the training loop).
    public var onStep: ((StepProgress) -> Void)?
    /// Called on rank 0 after every epoch's evaluation.
    public var onEpoch: ((EpochMetrics) -> Void)?
    /// Called on rank 0 once the run has been agreed and its state prepared (started from the seed
    /// or restored and checked), before the first step: where the caller creates its outputs, so
    /// that a run that cannot start leaves nothing behind. An error it throws ends every rank.
    public var beforeTraining: (() throws -> Void)?

    /// The stop signal this rank has received (0: none), read at the start of every step; the
    /// ranks agree through the step's reduction and stop after it, with a checkpoint
    /// (`TrainingSummary.stop`). The job installs the handlers (`StopSignals`).
    public var stopSignal: () -> Int32 {
        get { step.stopSignal }
        set { step.stopSignal = newValue }
    }

    /// `--trace FILE`: record a timeline of every rank and write it at the end of the run (or
    /// on a stop). Set before `run`; every rank must set it alike (the start-up agreement checks).
    public var trace: TraceOutput?
    /// The timeline being recorded (with `trace`, from the start of `run`).
    var traceSession: TraceSession?

    /// Steps taken by this invocation (for `--stop-after-steps`).
    private var stepsThisRun = 0
    /// The newest checkpoint this run wrote (as the user gave its directory), on rank 0.
    var lastCheckpoint: String?
    /// The signals the ranks agreed to stop for (set after the step that carried them).
    private var agreedSignals: [SignalCount] = []
    private var lastPhase: SchedulePhase?
    /// Every rank's host (by rank), gathered at the start of `run` when there are several ranks.
    private var hosts: [String] = []

    /// Checks the model's size, builds the sampler, the schedule, the step (model, optimizer,
    /// reduction) and the run's state. Throws `ModelSizeError`, `SamplerError` or `ScheduleError`
    /// for settings that cannot work with this data and world size, before allocating the model.
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
        self.checkpointing = checkpointing
        let plan = try ModelPlan(
            configuration: configuration, samples: data.training,
            maximumBatch: max(configuration.globalBatchSize, configuration.evaluationBatchSize))
        modelName = plan.name
        sampler = try DistributedSampler(
            sampleCount: data.training.count, globalBatchSize: configuration.globalBatchSize,
            worldSize: communicator.worldSize, rank: communicator.rank, seed: configuration.seed,
            microBatchSize: configuration.invariantMicroBatchSize)
        let totalUnits = configuration.schedule.unit == .epoch
            ? configuration.epochs : configuration.epochs * sampler.stepsPerEpoch
        schedule = try ExponentialSchedule(
            configuration.scaledSchedule, stepsPerEpoch: sampler.stepsPerEpoch, totalUnits: totalUnits)

        step = TrainingStep(
            configuration: configuration, communicator: communicator, plan: plan,
            training: data.training, localBatchSize: sampler.localBatchSize,
            evaluationBatchSize: configuration.evaluationBatchSize,
            sharedParameters: try NodeSharedParameters.make(
                configuration: configuration, communicator: communicator, parameterCount: LayerStack.parameterCount(of: plan.layers)))
        state = RunState(
            configuration: configuration, data: data, step: step, schedule: schedule, sampler: sampler,
            worldSize: communicator.worldSize)
        permutation = .allocate(capacity: data.training.count)
        evaluationIndices = .allocate(capacity: configuration.evaluationBatchSize)
        evaluationLabels = .allocate(capacity: configuration.evaluationBatchSize)
        watchdog = StallWatchdog(
            timeout: configuration.stallTimeout, rank: communicator.rank,
            onStall: StallWatchdog.reportAndAbort(communicator.abortFromAnyThread))
        self.faults = FaultInjector(plan: faults, rank: communicator.rank, optimizer: step.optimizer) {
            var byte: UInt8 = 0
            try withUnsafeMutableBytes(of: &byte) { try communicator.broadcast($0, root: communicator.worldSize) }
        }
        step.observers = [watchdog, self.faults]
    }

    deinit {
        watchdog.stop()
        permutation.deallocate()
        evaluationIndices.deallocate()
        evaluationLabels.deallocate()
    }

    /// The trained model's parameter count.
    public var parameterCount: Int { step.model.parameterCount }
    public var stepsPerEpoch: Int { sampler.stepsPerEpoch }
    public var localBatchSize: Int { sampler.localBatchSize }
    /// Optimizer steps attempted so far, skipped ones included: the schedule's clock.
    public var globalStep: Int64 { state.globalStep }
    /// Steps whose update every rank skipped because the reduced loss or gradient was not finite.
    public var skippedSteps: Int64 { state.skippedSteps }

    // MARK: - Run

    /// Agrees on the run with the other ranks, starts from the seed or resumes from a checkpoint,
    /// trains until `configuration.epochs` epochs are done (or `--stop-after-steps`), evaluating
    /// after each epoch and writing checkpoints as `checkpointing` says, and verifies at the end
    /// that every rank holds the same state. Collective.
    public func run() throws -> TrainingSummary {
        do {
            return try FloatingPointEnvironment.withFlushToZero { try runWithFlushToZero() }
        } catch let error as ReportableError where faults.plan.explains(error) {
            throw InjectedError(error)
        }
    }

    private func runWithFlushToZero() throws -> TrainingSummary {
        watchdog.enter(.startup, step: state.globalStep)
        var fingerprint = RunFingerprint.fields(
            configuration: configuration, model: step.model, data: data, worldSize: communicator.worldSize)
        fingerprint.merge(checkpointing.fingerprintFields) { $1 }
        fingerprint["trace.spans"] = trace.map { String($0.capacity) } ?? "off"
        try FingerprintAgreement.check(fingerprint, communicator: communicator, flagName: TrainingConfiguration.flagName)
        try prepareState()
        if communicator.worldSize > 1 { hosts = try RankHosts.gather(communicator) }
        if let trace {
            traceSession = try TraceSession(trace, communicator: communicator)
            step.timeline = traceSession!.timeline
        }
        var writer: MetricsWriter?
        _ = try communicator.runOnRankZero {
            try prepareCheckpointDirectory()
            try beforeTraining?()
            writer = try configuration.metricsPath.map(MetricsWriter.init)
            return []
        }
        logStart()
        // A resumed run rewrites the finished epochs' lines, so the file is the uninterrupted run's.
        for line in state.metricsHistory { try writer?.append(line) }
        if state.epoch >= configuration.epochs {
            logger.info("training was complete at step \(state.globalStep) (\(configuration.epochs) epochs): nothing left to train")
        }
        while state.epoch < configuration.epochs {
            guard let training = try trainEpoch() else { break }  // stopped inside the epoch
            let balance = try ComputeBalance.gather(step.computeSeconds, communicator: communicator)
            let evaluationStart = communicator.wallTime(), spanStart = Timeline.now()
            let test = try evaluate(data.test)
            let validation = try data.validation.map { try evaluate($0) }
            recordSpan(\.evaluation, from: spanStart)
            // Finite training losses can still leave parameters whose outputs overflow: the
            // evaluation's loss is the same reduced value on every rank, so every rank stops here.
            for (set, result) in [("test", test), ("validation", validation)] {
                if let result, !result.meanLoss.isFinite {
                    throw NonFiniteEvaluationError(set: set, epoch: state.epoch + 1, loss: result.meanLoss)
                }
            }
            let evaluationSeconds = communicator.wallTime() - evaluationStart
            let line = EpochMetrics(
                epoch: state.epoch + 1, step: state.globalStep, lr: training.lastLearningRate,
                trainLoss: state.epochMeanLoss, testLoss: test.meanLoss, testAccuracy: test.accuracy,
                samplesPerSecond: Double(training.steps * configuration.globalBatchSize) / training.seconds,
                epochSeconds: training.seconds, evaluationSeconds: evaluationSeconds, skippedSteps: state.skippedSteps,
                gradientNormMean: state.gradientNorms.mean, gradientNormMaximum: state.gradientNorms.maximum,
                validationLoss: validation?.meanLoss, validationAccuracy: validation?.accuracy,
                slowestRank: balance?.slowestRank, slowestHost: balance.map { hosts[$0.slowestRank] },
                slowestExcess: balance?.slowestExcess)
            // From the reduced metrics, the same on every rank: every rank decides alike.
            let divergence = Divergence.check(line, earlier: state.metricsHistory, classes: data.training.classCount)
            state.metricsHistory.append(line)
            try writer?.append(line)
            if communicator.rank == 0 { onEpoch?(line) }
            let slowest = balance.flatMap { $0.isNotable ? "  \($0.description(hosts: hosts))" : nil } ?? ""
            logger.info("\(line.summary(epochs: configuration.epochs))\(slowest)")
            if let divergence, communicator.rank == 0 { logger.warning("\(divergence.warning(epoch: line.epoch))") }
            try verifyState(context: "end of epoch \(state.epoch + 1)")
            state.beginNextEpoch()
            let lastGoodCheckpoint = lastCheckpoint
            try writeCheckpoint()
            if let divergence, configuration.onDivergence == .stop {
                throw DivergenceError(epoch: line.epoch, evidence: divergence.evidence, lastGoodCheckpoint: lastGoodCheckpoint)
            }
            if !agreedSignals.isEmpty { break }
            if reachedStepLimit {
                logStop()
                break
            }
        }
        let parameterHash = try verifyState(context: "final check").parameters
        watchdog.stop()
        logger.info("lockstep verified: \(communicator.worldSize) \(communicator.worldSize == 1 ? "rank" : "ranks"), params hash \(StateHash.hex(parameterHash))")
        if let line = try traceSession?.write(communicator: communicator), communicator.rank == 0 { logger.info("\(line)") }
        let stop = agreedSignals.isEmpty || state.epoch >= configuration.epochs  // finished anyway
            ? nil : AgreedStop(signals: agreedSignals, step: state.globalStep, position: state.positionDescription)
        return TrainingSummary(
            epochs: state.metricsHistory, parameterHash: parameterHash, worldSize: communicator.worldSize,
            skippedSteps: state.skippedSteps, stop: stop)
    }

    // MARK: - Training

    private struct EpochTraining {
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
            stopped after \(stepsThisRun) steps (--stop-after-steps) at step \(state.globalStep) \
            (\(state.positionDescription)): \(saved)
            """)
    }

    /// Trains the rest of epoch `state.epoch` from step `state.stepInEpoch`, writing the
    /// checkpoints due inside it; returns nil when `--stop-after-steps` stops the run inside the epoch.
    private func trainEpoch() throws -> EpochTraining? {
        let start = communicator.wallTime()
        step.resetComputeSeconds()
        sampler.fillPermutation(epoch: state.epoch, into: permutation)
        let firstStep = state.stepInEpoch
        var learningRate = 0.0
        for stepInEpoch in firstStep..<stepsPerEpoch {
            learningRate = schedule.lr(at: state.globalStep)
            logPhaseChange()
            try trainStep(samples: sampler.localRange(step: stepInEpoch), learningRate: learningRate)
            stepsThisRun += 1
            if let onStep, communicator.rank == 0 {
                onStep(StepProgress(
                    epoch: state.epoch, epochs: configuration.epochs, stepInEpoch: state.stepInEpoch,
                    stepsPerEpoch: stepsPerEpoch, globalStep: state.globalStep,
                    loss: Double(step.model.gradientBuffer.loss), learningRate: learningRate,
                    epochSeconds: communicator.wallTime() - start, globalBatchSize: configuration.globalBatchSize))
            }
            if configuration.verifyEvery > 0, state.globalStep % Int64(configuration.verifyEvery) == 0 {
                try verifyState(context: "periodic check")
            }
            agreedSignals = step.agreedStopRequests  // from the reduced bytes: the same on every rank
            // The epoch's last step is checkpointed after the evaluation, with the epoch's metrics.
            guard state.stepInEpoch < stepsPerEpoch else { break }
            let signalled = !agreedSignals.isEmpty
            let stopping = signalled || reachedStepLimit
            if stopping || (checkpointing.everySteps > 0 && state.globalStep % Int64(checkpointing.everySteps) == 0) {
                try writeCheckpoint()
            }
            if stopping {
                if !signalled { logStop() }
                return nil
            }
        }
        return EpochTraining(
            seconds: communicator.wallTime() - start, steps: stepsPerEpoch - firstStep, lastLearningRate: learningRate)
    }

    /// One global step on this rank's samples `permutation[samples]`, with the non-finite policy:
    /// a non-finite reduced loss or gradient ends the job (`--on-nonfinite abort`) or skips the
    /// update on every rank (`skip`). Collective.
    @inline(__always)
    private func trainStep(samples: Range<Int>, learningRate: Double) throws {
        let outcome = try step.run(
            samples: UnsafeBufferPointer(rebasing: permutation[samples]), learningRate: learningRate,
            step: state.globalStep)
        if case .nonFinite(let loss) = outcome {
            let error = NonFiniteError(step: state.globalStep, loss: loss)
            guard configuration.onNonFinite == .skip else { throw error }
            if communicator.rank == 0 {  // every rank decided alike: one of them says so
                logger.warning("\(error.description): update skipped on every rank (\(state.skippedSteps + 1) skipped so far)")
            }
        }
        state.record(outcome)
    }

    private func logPhaseChange() {
        let phase = schedule.phase(at: state.globalStep)
        defer { lastPhase = phase }
        guard let previous = lastPhase, previous != phase else { return }
        if previous == .warmup {
            logger.info("warmup ended at step \(state.globalStep): lr \(schedule.lr(at: state.globalStep))")
        }
        if phase == .floor {
            logger.info("lr reached its floor at step \(state.globalStep): \(schedule.lr(at: state.globalStep))")
        }
    }

    /// Loss and accuracy over the whole of `samples` (the test set, the validation set), sharded
    /// across ranks. Collective.
    private func evaluate(_ samples: LabeledSamples) throws -> Evaluation {
        try Evaluation.sharded(
            model: step.model, test: samples, communicator: communicator, batchSize: configuration.evaluationBatchSize,
            indices: evaluationIndices, labels: evaluationLabels
        ) { watchdog.enter(.evaluation, step: state.globalStep) }
    }

    /// Records a span of the loop's own (evaluation, checkpoint, verification) from `start` to
    /// now, at the steps taken so far, when tracing.
    func recordSpan(_ name: KeyPath<TraceSession, Timeline.Name>, from start: UInt64) {
        guard let traceSession else { return }
        traceSession.timeline.step = state.globalStep
        traceSession.timeline.record(traceSession[keyPath: name], from: start)
    }

    // MARK: - Output

    /// `128 (64 per rank)`, or with micro-batches `128 in 8 micro-batches of 16 (2-3 per rank), world-size-invariant`.
    private var batchDescription: String {
        let batch = configuration.globalBatchSize
        guard let micro = sampler.microBatchSize else { return "\(batch) (\(sampler.localBatchSize) per rank)" }
        let count = sampler.microBatchCount, fewest = count / communicator.worldSize
        let perRank = count % communicator.worldSize == 0 ? "\(fewest)" : "\(fewest)-\(fewest + 1)"
        return "\(batch) in \(count) micro-batches of \(micro) (\(perRank) per rank), world-size-invariant"
    }

    /// `, state 4.29 MB per rank`, or with `--reduction sharded`
    /// `, state 2.14 MB per rank (267,909 of the 535,818 parameters)`; empty for plain SGD.
    private var optimizerStateDescription: String {
        let bytes = step.optimizer.stateBuffers.reduce(0) { $0 + $1.buffer.byteCount }
        guard bytes > 0 else { return "" }
        let shard = step.shardCounts == nil ? "" : " (\(step.shard.count.formatted()) of the \(parameterCount.formatted()) parameters)"
        return String(format: ", state %.2f MB per rank", Double(bytes) / 1e6) + shard
    }

    private func logStart() {
        let count = parameterCount.formatted()
        logger.info("""
            lockstep: \(communicator.worldSize) rank\(communicator.worldSize == 1 ? "" : "s"), model \(modelName) (\(count) parameters), \
            global batch \(batchDescription), \
            \(stepsPerEpoch) steps/epoch, BLAS \(BLASRuntime.coreName) × \(BLASRuntime.threadCount) thread\
            \(BLASRuntime.threadCount == 1 ? "" : "s"), reduction \(step.invariantSum.map { "exact \($0.width)-bit fixed-point sum" } ?? configuration.reduction.rawValue), \
            optimizer \(configuration.optimizer.kind.rawValue)\(optimizerStateDescription)
            """)
        if configuration.invariantMicroBatchSize != nil, configuration.reduction != .allreduce || !configuration.overlap,
           communicator.rank == 0 {
            let ignored = [configuration.reduction != .allreduce ? "--reduction \(configuration.reduction.rawValue)" : nil,
                           configuration.overlap ? nil : "--no-overlap"].compactMap { $0 }.joined(separator: " and ")
            let verb = ignored.contains(" and ") ? "do" : "does"
            logger.warning("\(ignored) \(verb) not apply with --world-size-invariant: its exact sum is its own reduction and always overlaps with backward")
        }
        let training = data.training
        let normalization = training.normalization.kind == .standard
            ? "standard (mean \(training.normalization.mean.prefix(3).map { String(format: "%.4g", $0) }.joined(separator: ", "))"
                + "\(training.channelCount > 3 ? ", …" : ""))"
            : training.normalization.kind.rawValue
        logger.info("""
            data: \(data.origin): \(training.count.formatted()) training samples of \(training.shapeDescription) \
            \(training.features.typeName)\(data.validation.map { " (+ \($0.count.formatted()) held out for validation)" } ?? ""), \
            \(data.test.count.formatted()) test, \(training.classCount) classes, normalize \(normalization), \
            \(data.copies) (\(data.byteCount < 1_000_000 ? String(format: "%.1f kB", Double(data.byteCount) / 1e3) : String(format: "%.1f MB", Double(data.byteCount) / 1e6)))
            """)
    }
}

/// A non-finite loss over the test or validation set at an epoch's end: the parameters diverged.
public struct NonFiniteEvaluationError: ReportableError, Equatable {
    public let set: String
    public let epoch: Int
    public let loss: Double
    public var exitStatus: ExitStatus { .nonFinite }
    public var isCollective: Bool { true }
    public var description: String {
        "non-finite \(set) loss (\(loss.isNaN ? "nan" : "\(loss)")) at the end of epoch \(epoch): the parameters diverged"
    }
    public var hint: String? { "lower --lr or --weight-decay, add warmup (--warmup) or clipping (--clip-grad-norm)" }
}

/// A non-finite reduced loss or gradient (with `--on-nonfinite abort`).
public struct NonFiniteError: ReportableError, Equatable {
    public let step: Int64
    /// The global batch's mean loss as reduced (NaN or ±Inf when the loss itself was non-finite).
    public let loss: Double

    public init(step: Int64, loss: Double) {
        self.step = step
        self.loss = loss
    }

    public var exitStatus: ExitStatus { .nonFinite }
    public var isCollective: Bool { true }
    public var description: String {
        // A NaN's sign means nothing: "nan", never "-nan".
        "non-finite \(loss.isFinite ? "gradient" : "loss (\(loss.isNaN ? "nan" : "\(loss)"))") at step \(step)"
    }
    public var hint: String? { "lower --lr, add warmup (--warmup) or clipping, or pass --on-nonfinite skip" }
}
