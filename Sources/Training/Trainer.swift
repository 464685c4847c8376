import Collectives
import Datasets
import Foundation
import Kernels
import LockstepCore
import Logging
import Models
import Optimizers
import Schedules
import Tensors

/// Where a run is, reported to `Trainer.onStep` on rank 0 after every step (for progress lines).
public struct StepProgress: Sendable {
    /// 0-based epoch.
    public let epoch: Int
    public let epochs: Int
    /// Steps completed in this epoch (1 after the first).
    public let stepInEpoch: Int
    public let stepsPerEpoch: Int
    /// Global optimizer steps completed.
    public let globalStep: Int64
    /// This step's mean loss over the global batch (from the reduced buffer, in Float precision).
    public let loss: Double
    /// The learning rate this step used.
    public let learningRate: Double
    /// Seconds since the epoch started.
    public let epochSeconds: Double
    /// Samples per global batch.
    public let globalBatchSize: Int
}

/// What a finished run reports.
public struct TrainingSummary: Sendable {
    /// One entry per epoch.
    public let epochs: [EpochMetrics]
    /// The hash of the final parameters, identical on every rank (verified).
    public let parameterHash: UInt64
    public let worldSize: Int
}

/// Synchronous data-parallel training of an MLP: every rank computes gradients on its share of
/// each global batch, the ranks sum them in one collective, and every rank applies the same
/// update, so all ranks stay bitwise identical (checked, not assumed).
///
/// One step (DESIGN.md §3): gather this rank's samples into the input buffer; forward and
/// backward into the flat gradient buffer, scaled by 1/global batch; sum across ranks; the
/// learning rate of the global step from the schedule, in Double; the optimizer update.
/// Nothing in the step allocates.
public final class Trainer {
    public let configuration: TrainingConfiguration
    private let communicator: Communicator
    private let data: TrainingData
    private let logger: Logger

    public let layout: ParameterLayout
    private let model: MLP
    private let sampler: DistributedSampler
    private let optimizer: any Optimizer
    public let schedule: ExponentialSchedule
    private let reduction: GradientReduction
    private let verifier: LockstepVerifier

    /// The epoch's sample order `[training samples]`, refreshed once per epoch.
    private let permutation: UnsafeMutableBufferPointer<Int32>
    /// Labels of the current batch `[maximum batch]`.
    private let labels: UnsafeMutableBufferPointer<Int32>
    /// Sample indices of the current evaluation batch `[evaluation batch]`.
    private let evaluationIndices: UnsafeMutableBufferPointer<Int32>

    /// Called on rank 0 after every step; must be cheap (it runs inside the training loop).
    public var onStep: ((StepProgress) -> Void)?
    /// Called on rank 0 after every epoch's evaluation.
    public var onEpoch: ((EpochMetrics) -> Void)?

    /// Optimizer updates attempted so far (the schedule's clock).
    public private(set) var globalStep: Int64 = 0
    private var lastPhase: SchedulePhase?
    /// Gradient norms before clipping in the current epoch (only with `--clip-grad-norm`).
    private var gradientNorms = NormStatistics()

    /// Slots after the gradients in the reduction buffer: [0] the step's loss / global batch.
    private static let trailingSlots = 1

    /// Builds the model, sampler, optimizer and schedule. Throws `SamplerError` or `ScheduleError`
    /// for settings that cannot work with this data and world size.
    public init(configuration: TrainingConfiguration, communicator: Communicator, data: TrainingData, logger: Logger) throws {
        self.configuration = configuration
        self.communicator = communicator
        self.data = data
        self.logger = logger
        layout = ParameterLayout(
            layerSizes: [data.training.featureCount] + configuration.hiddenSizes + [data.training.classCount])
        sampler = try DistributedSampler(
            sampleCount: data.training.count, globalBatchSize: configuration.globalBatchSize,
            worldSize: communicator.worldSize, rank: communicator.rank, seed: configuration.seed)
        let totalUnits = configuration.schedule.unit == .epoch
            ? configuration.epochs : configuration.epochs * sampler.stepsPerEpoch
        schedule = try ExponentialSchedule(
            configuration.scaledSchedule, stepsPerEpoch: sampler.stepsPerEpoch, totalUnits: totalUnits)

        let reductionBuffer = FloatBuffer(count: layout.parameterCount + Self.trailingSlots)
        let maximumBatch = max(sampler.localBatchSize, configuration.evaluationBatchSize)
        model = MLP(layout: layout, maximumBatchSize: maximumBatch, gradientStorage: reductionBuffer)
        optimizer = makeOptimizer(configuration.optimizer, parameterCount: layout.parameterCount)
        reduction = GradientReduction(communicator: communicator, mode: configuration.reduction, buffer: reductionBuffer)
        verifier = LockstepVerifier(communicator: communicator)

        permutation = .allocate(capacity: data.training.count)
        labels = .allocate(capacity: maximumBatch)
        evaluationIndices = .allocate(capacity: configuration.evaluationBatchSize)
    }

    deinit {
        permutation.deallocate()
        labels.deallocate()
        evaluationIndices.deallocate()
    }

    public var stepsPerEpoch: Int { sampler.stepsPerEpoch }
    public var localBatchSize: Int { sampler.localBatchSize }

    // MARK: - Run

    /// Trains for `configuration.epochs` epochs, evaluating after each, and verifies at the end
    /// that every rank holds the same parameters. Collective.
    public func run() throws -> TrainingSummary {
        FloatingPointEnvironment.enableFlushToZero()
        try initializeParameters()
        logStart()
        var metrics: [EpochMetrics] = []
        let writer = try communicator.rank == 0 ? configuration.metricsPath.map(MetricsWriter.init) : nil
        for epoch in 0..<configuration.epochs {
            let training = try trainEpoch(epoch)
            let evaluationStart = communicator.wallTime()
            let test = try evaluate()
            let evaluationSeconds = communicator.wallTime() - evaluationStart
            let line = EpochMetrics(
                epoch: epoch + 1, step: globalStep, lr: training.lastLearningRate, train_loss: training.meanLoss,
                test_loss: test.meanLoss, test_accuracy: test.accuracy,
                samples_per_s: Double(stepsPerEpoch * configuration.globalBatchSize) / training.seconds,
                epoch_seconds: training.seconds, eval_seconds: evaluationSeconds,
                grad_norm_mean: gradientNorms.mean, grad_norm_max: gradientNorms.maximum)
            metrics.append(line)
            try writer?.append(line)
            if communicator.rank == 0 { onEpoch?(line) }
            logger.info("\(Self.format(line, epochs: configuration.epochs))")
            try verifyState(context: "end of epoch \(epoch + 1)")
        }
        let parameterHash = try verifyState(context: "final check").parameters
        logger.info("lockstep verified: \(communicator.worldSize) ranks, params hash \(StateHash.hex(parameterHash))")
        return TrainingSummary(epochs: metrics, parameterHash: parameterHash, worldSize: communicator.worldSize)
    }

    /// Every rank initialises the parameters from the seed; rank 0's are broadcast and every rank
    /// checks that what it computed equals what it received (a mismatch means the ranks run
    /// different code or libraries, and training would diverge).
    private func initializeParameters() throws {
        model.initialize(seed: configuration.seed)
        let received = FloatBuffer(count: layout.parameterCount)
        received.copy(from: model.parameters)
        try communicator.broadcast(UnsafeMutableRawBufferPointer(received.buffer), root: 0)
        let agrees = received.isBitwiseEqual(to: model.parameters)
        let disagreeing = try communicator.allreduce([Int64(agrees ? 0 : 1)], operation: .sum)[0]
        guard disagreeing == 0 else {
            throw LockstepViolation(
                step: 0, context: "initial parameters from seed \(configuration.seed)", differingParts: ["parameters"],
                rankGroups: [])
        }
        model.parameters.copy(from: received)
    }

    // MARK: - Training

    private struct EpochTraining {
        var meanLoss: Double
        var seconds: Double
        var lastLearningRate: Double
    }

    private func trainEpoch(_ epoch: Int) throws -> EpochTraining {
        let start = communicator.wallTime()
        gradientNorms = NormStatistics()
        sampler.fillPermutation(epoch: epoch, into: permutation)
        var localLossSum = 0.0
        var learningRate = 0.0
        for step in 0..<stepsPerEpoch {
            learningRate = schedule.lr(at: globalStep)
            logPhaseChange()
            localLossSum += try trainStep(samples: sampler.localRange(step: step), learningRate: learningRate)
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
        }
        let totalLoss = try communicator.allreduce([localLossSum], operation: .sum)[0]
        let seconds = communicator.wallTime() - start
        return EpochTraining(
            meanLoss: totalLoss / Double(stepsPerEpoch * configuration.globalBatchSize), seconds: seconds,
            lastLearningRate: learningRate)
    }

    /// One optimizer step on this rank's samples `permutation[samples]`; returns their loss sum.
    @inline(__always)
    private func trainStep(samples: Range<Int>, learningRate: Double) throws -> Double {
        let batchSize = samples.count
        data.training.fillBatch(
            indices: UnsafeBufferPointer(rebasing: permutation[samples]), features: model.input.baseAddress,
            labels: labels.baseAddress!)
        let inverseGlobalBatch = 1 / Float(configuration.globalBatchSize)
        let summary = model.computeGradients(batchSize: batchSize, labels: labels.baseAddress!, gradientScale: inverseGlobalBatch)
        let trailer = reduction.buffer.baseAddress + layout.parameterCount
        trailer[0] = Float(summary.lossSum) * inverseGlobalBatch
        try reduction.reduce()
        // Decided from the reduced bytes, so every rank decides alike.
        if !Self.allFinite(reduction.buffer) {
            throw NonFiniteError(step: globalStep, loss: Double(trailer[0]))
        }
        if let maximumNorm = configuration.clipGradientNorm {
            gradientNorms.record(clipGradientNorm(model.gradients, maxNorm: maximumNorm))
        }
        optimizer.update(parameters: model.parameters, gradients: model.gradients, learningRate: learningRate)
        globalStep += 1
        return summary.lossSum
    }

    /// True when no element is NaN or ±Inf (an integer max over the magnitude bits: vectorises).
    @inline(__always)
    static func allFinite(_ buffer: FloatBuffer) -> Bool {
        let bits = UnsafeRawPointer(buffer.baseAddress).assumingMemoryBound(to: UInt32.self)
        var largest: UInt32 = 0
        for i in 0..<buffer.count { largest = max(largest, bits[i] & 0x7FFF_FFFF) }
        return largest < 0x7F80_0000
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

    // MARK: - Evaluation

    private struct Evaluation {
        var meanLoss: Double
        var accuracy: Double
    }

    /// Test loss and accuracy over the whole test set, sharded across ranks; the sums are
    /// allreduced. Collective (ranks with an empty shard still join).
    private func evaluate() throws -> Evaluation {
        let shard = BlockPartition(count: data.test.count, parts: communicator.worldSize).range(of: communicator.rank)
        var lossSum = 0.0
        var correct = 0
        var start = shard.lowerBound
        while start < shard.upperBound {
            let count = min(configuration.evaluationBatchSize, shard.upperBound - start)
            for i in 0..<count { evaluationIndices[i] = Int32(start + i) }
            data.test.fillBatch(
                indices: UnsafeBufferPointer(rebasing: evaluationIndices[0..<count]), features: model.input.baseAddress,
                labels: labels.baseAddress!)
            let summary = model.evaluate(batchSize: count, labels: labels.baseAddress!)
            lossSum += summary.lossSum
            correct += summary.correctCount
            start += count
        }
        let totals = try communicator.allreduce([lossSum, Double(correct)], operation: .sum)
        let count = Double(max(data.test.count, 1))
        return Evaluation(meanLoss: totals[0] / count, accuracy: totals[1] / count)
    }

    // MARK: - Verification

    /// Hashes of the state every rank must share.
    private func stateParts() -> [LockstepVerifier.Part] {
        var parts = [LockstepVerifier.Part(name: "parameters", hash: LockstepVerifier.hash(model.parameters))]
        for (name, buffer) in optimizer.stateBuffers {
            parts.append(.init(name: "optimizer.\(name)", hash: LockstepVerifier.hash(buffer)))
        }
        parts.append(.init(
            name: "counters (global step, optimizer step, lr)",
            hash: LockstepVerifier.hash(words: [
                UInt64(bitPattern: globalStep), UInt64(bitPattern: optimizer.stepCount),
                schedule.lr(at: globalStep).bitPattern,
            ])))
        return parts
    }

    /// Compares the state across ranks; returns the parameters' hash. Collective.
    @discardableResult
    private func verifyState(context: String) throws -> (combined: UInt64, parameters: UInt64) {
        let parts = stateParts()
        let combined = try verifier.verify(parts, step: globalStep, context: context)
        return (combined, parts[0].hash)
    }

    // MARK: - Output

    private func logStart() {
        let count = layout.parameterCount.formatted()
        logger.info("""
            lockstep: \(communicator.worldSize) ranks, model \(layout.shapeDescription) (\(count) parameters), \
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
            + (line.grad_norm_max.map { "  grad norm mean \(fixed(line.grad_norm_mean ?? 0, 3)) max \(fixed($0, 3))" } ?? "")
    }
}

/// Mean and maximum of the gradient norms seen in an epoch.
struct NormStatistics {
    private var sum = 0.0
    private var count = 0
    private(set) var maximum: Double?

    mutating func record(_ norm: Double) {
        sum += norm
        count += 1
        maximum = max(maximum ?? norm, norm)
    }

    var mean: Double? { count == 0 ? nil : sum / Double(count) }
}

/// A non-finite loss or gradient (with `--on-nonfinite abort`).
public struct NonFiniteError: ReportableError, Equatable {
    public let step: Int64
    /// The global batch's mean loss as reduced (NaN or ±Inf when the loss itself was non-finite).
    public let loss: Double
    public var exitStatus: ExitStatus { .nonFinite }
    public var description: String {
        "non-finite \(loss.isFinite ? "gradient" : "loss (\(loss))") at step \(step)"
    }
    public var hint: String? { "lower --lr, add warmup (--warmup) or clipping, or pass --on-nonfinite skip" }
}
