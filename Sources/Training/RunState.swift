import Datasets
import Models
import Optimizers
import Schedules

/// Everything a run has reached: the counters and the position in the data, the epoch's partial
/// sums and the finished epochs' metrics, over the model's parameters and the optimizer's state.
/// What a checkpoint stores (`makeTrainingCheckpoint`) and a resume restores (`restore`), and
/// what the ranks compare (`stateParts`, `scheduleState`).
///
/// The values derived from the configuration (the schedule, the data order) are held here to be
/// recomputed and compared, never stored as state (DESIGN.md §1.6).
final class RunState {
    let configuration: TrainingConfiguration
    let data: TrainingData
    let model: LayerStack
    /// The optimizer of `shard`.
    let optimizer: any Optimizer
    /// The parameters whose optimizer state this rank holds: all, or with `--reduction sharded`
    /// its slice (`TrainingStep.shard`).
    let shard: Range<Int>
    /// With `--reduction sharded`: every rank's slice size, in rank order; else nil.
    let shardCounts: [Int64]?
    let schedule: ExponentialSchedule
    let sampler: DistributedSampler
    let worldSize: Int

    /// Optimizer steps attempted so far, skipped ones included: the schedule's clock.
    var globalStep: Int64 = 0
    /// Steps whose update every rank skipped because the reduced loss or gradient was not finite.
    var skippedSteps: Int64 = 0

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

    init(
        configuration: TrainingConfiguration, data: TrainingData, step: TrainingStep, schedule: ExponentialSchedule,
        sampler: DistributedSampler, worldSize: Int
    ) {
        self.configuration = configuration
        self.data = data
        model = step.model
        optimizer = step.optimizer
        shard = step.shard
        shardCounts = step.shardCounts
        self.schedule = schedule
        self.sampler = sampler
        self.worldSize = worldSize
    }

    var stepsPerEpoch: Int { sampler.stepsPerEpoch }

    // MARK: - Advancing

    /// Records the outcome of global step `globalStep` (step `stepInEpoch` of the epoch).
    func record(_ outcome: TrainingStep.Outcome) {
        switch outcome {
        case let .applied(loss, gradientNorm):
            epochLossSum += loss
            epochAppliedSteps += 1
            if let gradientNorm { gradientNorms.record(gradientNorm) }
        case .nonFinite:
            skippedSteps += 1
        }
        globalStep += 1
        stepInEpoch += 1
    }

    /// The mean training loss of the epoch's applied steps so far.
    var epochMeanLoss: Double { epochLossSum / Double(max(epochAppliedSteps, 1)) }

    /// Closes the finished epoch (its line already in `metricsHistory`): the next step is the
    /// first of the next epoch.
    func beginNextEpoch() {
        epoch += 1
        stepInEpoch = 0
        epochLossSum = 0
        epochAppliedSteps = 0
        gradientNorms = NormStatistics()
    }

    /// "end of epoch 2" or "epoch 3, step 5/10": where the current state is.
    var positionDescription: String {
        stepInEpoch == 0 ? "end of epoch \(epoch)" : "epoch \(epoch + 1), step \(stepInEpoch)/\(stepsPerEpoch)"
    }
}
