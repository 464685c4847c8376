import Collectives
import Datasets
import Foundation
import Models
import Optimizers
import Schedules

/// Every setting of a training run, as one `Codable` value: the command line and configuration
/// files map onto it, checkpoints store it, and the ranks compare it at start-up.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    // MARK: Data
    /// Folder with the Fashion-MNIST IDX files.
    public var dataDirectory: String
    /// Use only the first N training samples (nil: all 60,000).
    public var limitTrain: Int?
    /// Use only the first N test samples (nil: all 10,000).
    public var limitTest: Int?
    /// The data files and how to read them (`--data` and the flags with it); nil for the IDX
    /// folder `dataDirectory`.
    public var dataSource: DataSource?
    /// How features become model input (`--normalize`); nil for `unit`.
    public var normalize: Normalization.Kind?
    /// The fraction of the training data held out for validation (`--validation-split`); nil: none.
    public var validationSplit: Double?
    /// One copy of the data per node or per rank (`--data-copies`); nil for `node`.
    public var dataCopies: DataCopies?

    // MARK: Model
    /// The model (`--model`): nil for the `mlp` preset (the default; so a configuration of an
    /// MLP, and every checkpoint written before layer lists existed, has no such field), `cnn`,
    /// or a layer list (`conv2d(16,5) relu maxpool2d(2) flatten linear(10)`) in its canonical text.
    public var model: String?
    /// Hidden layer widths of the `mlp` preset, input to output (`--hidden`).
    public var hiddenSizes: [Int]
    /// Seeds the initial weights and every epoch's data order.
    public var seed: UInt64

    // MARK: Optimization
    /// Number of passes over the training set.
    public var epochs: Int
    /// Samples per optimizer update over all ranks; each rank takes `globalBatchSize / worldSize`.
    public var globalBatchSize: Int
    public var optimizer: OptimizerConfiguration
    /// The schedule as the user gave it, before `learningRateScaling`.
    public var schedule: ScheduleConfiguration
    /// Clip the reduced gradient to this global L2 norm before each update (nil: no clipping).
    public var clipGradientNorm: Double?
    /// Scale every learning rate of the schedule from `learningRateReferenceBatch` to
    /// `globalBatchSize` (Goyal et al. 2017), once, when the schedule is built.
    public var learningRateScaling: LearningRateScaling
    /// The global batch the schedule's learning rates were tuned for, in samples.
    public var learningRateReferenceBatch: Int

    // MARK: Distribution
    /// How gradients are summed across ranks.
    public var reduction: ReductionMode
    /// Compare a hash of every rank's state every this many steps (0: only at epoch ends and at the end).
    public var verifyEvery: Int
    /// Gradient bucket size for the overlapped reduction, in MiB (`--bucket-mb`).
    public var bucketMegabytes: Double
    /// Start each bucket's reduction during backward (`--no-overlap` turns it off).
    public var overlap: Bool
    /// With `--reduction sharded` on one node: whether the ranks share one copy of the parameters
    /// (`NodeSharedParameters`, `--shared-parameters`; nil: no, the default, measured slower on
    /// this project's 2-core machine: README "Sharded optimizer update").
    public var sharedParameters: Bool?
    /// `sharedParameters`, with its default.
    public var sharesParametersOnNode: Bool { sharedParameters ?? false }
    /// What every rank does when the reduced loss or gradient holds a NaN or infinity.
    public var onNonFinite: NonFinitePolicy
    /// What every rank does when an epoch's metrics show divergence (`Divergence`); nil: `warn`.
    public var onDivergence: DivergencePolicy?
    /// End the job when a step makes no progress for this many seconds (0: never).
    public var stallTimeout: Double
    /// `--world-size-invariant`: the same bits at any world size (micro-batches of
    /// `microBatchSize` samples, gradients summed exactly in fixed point; `TrainingStep`). nil
    /// when off, so that configurations from before the option compare equal.
    public var worldSizeInvariant: Bool?
    /// `--micro-batch`: samples per micro-batch in the world-size-invariant mode.
    public var microBatchSize: Int?

    /// The micro-batch size when training is world-size-invariant, else nil.
    public var invariantMicroBatchSize: Int? { worldSizeInvariant == true ? microBatchSize : nil }

    // MARK: Output
    /// JSON Lines metrics file written by rank 0 (nil: none).
    public var metricsPath: String?

    // MARK: Performance
    /// Rows per evaluation batch.
    public var evaluationBatchSize: Int

    /// The schedule the run uses: `schedule` with `learningRateScaling` applied.
    public var scaledSchedule: ScheduleConfiguration {
        schedule.scaled(by: learningRateScaling, globalBatch: globalBatchSize, referenceBatch: learningRateReferenceBatch)
    }

    /// Every default in one place: what `lockstep train` runs with no options (the option groups
    /// take their defaults from here).
    public static let defaults = TrainingConfiguration(dataDirectory: FashionMNIST.defaultDirectory)

    /// The hidden widths of the default model, 784-512-256-10.
    public static var defaultHiddenSizes: [Int] { defaults.hiddenSizes }

    /// The layer list this configuration trains on data of `classes` classes: the `mlp` preset
    /// from `hiddenSizes`, the `cnn` preset, or the list in `model`.
    /// - Throws: `ModelDescriptionError` for a list that does not parse.
    public func modelDescription(classes: Int) throws(ModelDescriptionError) -> ModelDescription {
        switch model {
        case nil, "mlp": .mlp(hidden: hiddenSizes, classes: classes)
        case "cnn": .cnn(classes: classes)
        case let text?: try ModelDescription.parse(text)
        }
    }

    public init(
        dataDirectory: String, limitTrain: Int? = nil, limitTest: Int? = nil, dataSource: DataSource? = nil,
        normalize: Normalization.Kind? = nil, validationSplit: Double? = nil, dataCopies: DataCopies? = nil,
        model: String? = nil,
        hiddenSizes: [Int] = [512, 256],
        seed: UInt64 = 0, epochs: Int = 10, globalBatchSize: Int = 128,
        optimizer: OptimizerConfiguration = OptimizerConfiguration(),
        schedule: ScheduleConfiguration = ScheduleConfiguration(), clipGradientNorm: Double? = nil,
        learningRateScaling: LearningRateScaling = .none, learningRateReferenceBatch: Int = 128,
        reduction: ReductionMode = .allreduce, verifyEvery: Int = 200,
        bucketMegabytes: Double = TrainingConfiguration.defaultBucketMegabytes, overlap: Bool = true,
        onNonFinite: NonFinitePolicy = .abort, stallTimeout: Double = 300, metricsPath: String? = nil,
        evaluationBatchSize: Int = 500
    ) {
        self.dataDirectory = dataDirectory
        self.limitTrain = limitTrain
        self.limitTest = limitTest
        self.dataSource = dataSource
        self.normalize = normalize
        self.validationSplit = validationSplit
        self.dataCopies = dataCopies
        self.model = model
        self.hiddenSizes = hiddenSizes
        self.seed = seed
        self.epochs = epochs
        self.globalBatchSize = globalBatchSize
        self.optimizer = optimizer
        self.schedule = schedule
        self.clipGradientNorm = clipGradientNorm
        self.learningRateScaling = learningRateScaling
        self.learningRateReferenceBatch = learningRateReferenceBatch
        self.reduction = reduction
        self.verifyEvery = verifyEvery
        self.bucketMegabytes = bucketMegabytes
        self.overlap = overlap
        self.onNonFinite = onNonFinite
        self.stallTimeout = stallTimeout
        self.metricsPath = metricsPath
        self.evaluationBatchSize = evaluationBatchSize
    }
}

/// What the ranks do about a non-finite reduced loss or gradient (decided from the reduced
/// bytes, so identically on every rank).
public enum NonFinitePolicy: String, Codable, Sendable, CaseIterable {
    /// End the job with an error naming the step.
    case abort
    /// Every rank skips the update; the count of skipped steps is logged and kept.
    case skip
}

extension TrainingConfiguration {
    /// Fields that may differ between ranks (paths on each rank's file system); the start-up
    /// agreement compares the data itself by checksum instead.
    static let rankLocalFields: Set<String> = [
        "dataDirectory", "metricsPath", "dataSource.data", "dataSource.dataLabels", "dataSource.testData",
        "dataSource.testDataLabels",
    ]

    /// The command-line flag of a configuration field (a key path such as `schedule.learningRate`).
    public static func flagName(forField field: String) -> String? { flagNames[field] }

    /// Field → flag, for the messages this module writes (resume refusals, start-up
    /// disagreements). Kept here, next to the fields, because Training cannot see the command
    /// line; CommandLineTests' `FlagNameTests` checks it against the parser of `lockstep train`
    /// (every flag exists and sets its field), so it cannot drift from the options.
    public static let flagNames: [String: String] = [
        "dataDirectory": "--data-dir", "limitTrain": "--limit-train", "limitTest": "--limit-test",
        "dataSource.data": "--data", "dataSource.dataLabels": "--data-labels", "dataSource.testData": "--test-data",
        "dataSource.testDataLabels": "--test-data-labels", "dataSource.keys": "--data-keys",
        "dataSource.labelColumn": "--label-column", "dataSource.csvHeader": "--csv-header",
        "dataSource.csvType": "--csv-dtype", "dataSource.inputShape": "--input-shape", "dataSource.classes": "--classes",
        "normalize": "--normalize", "validationSplit": "--validation-split", "dataCopies": "--data-copies",
        "model": "--model", "hiddenSizes": "--hidden", "seed": "--seed", "epochs": "--epochs", "globalBatchSize": "--global-batch",
        "optimizer.kind": "--optimizer", "optimizer.momentum": "--momentum", "optimizer.dampening": "--dampening",
        "optimizer.nesterov": "--nesterov", "optimizer.weightDecay": "--weight-decay", "optimizer.beta1": "--beta1",
        "optimizer.beta2": "--beta2", "optimizer.epsilon": "--eps", "optimizer.amsgrad": "--amsgrad",
        "schedule.learningRate": "--lr", "schedule.gamma": "--gamma", "schedule.halfLife": "--half-life",
        "schedule.finalLearningRate": "--final-lr", "schedule.unit": "--unit", "schedule.smooth": "--smooth",
        "schedule.warmup": "--warmup", "schedule.warmupStartLearningRate": "--warmup-start-lr",
        "schedule.hold": "--hold", "schedule.minimumLearningRate": "--min-lr", "schedule.staircase": "--staircase",
        "clipGradientNorm": "--clip-grad-norm", "learningRateScaling": "--lr-scaling",
        "learningRateReferenceBatch": "--lr-reference-batch", "reduction": "--reduction",
        "verifyEvery": "--verify-every", "onNonFinite": "--on-nonfinite", "onDivergence": "--on-divergence", "stallTimeout": "--stall-timeout",
        "bucketMegabytes": "--bucket-mb", "overlap": "--no-overlap", "sharedParameters": "--shared-parameters",
        "worldSizeInvariant": "--world-size-invariant", "microBatchSize": "--micro-batch",
        "metricsPath": "--metrics", "evaluationBatchSize": "--eval-batch",
    ]
}
