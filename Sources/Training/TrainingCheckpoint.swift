import Checkpoints
import Datasets
import Determinism
import Foundation

/// What a training checkpoint holds, between the trainer's state and a `Checkpoint` (tensors and
/// string metadata, written in the safetensors layout by the `Checkpoints` module).
///
/// **Tensors**, in this order: every parameter by its `ParameterLayout` name (`layers.0.weight`
/// `[out, in]`, `layers.0.bias` `[out]`, …), then every optimizer state buffer split the same way
/// and named `optimizer.<PyTorch state name>.<parameter name>` with the parameter's shape
/// (`optimizer.momentum_buffer.layers.0.weight`; Adam: `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`).
///
/// **Metadata** (`Key`), each value JSON encoded: the lockstep version, the full configuration,
/// the world size, the position (epoch, step within the epoch, global step), the schedule state
/// (counters and the effective, already-scaled schedule, exactly as the ranks compare it), the
/// learning rate of the next update with its bit pattern, the random state, the epoch's partial
/// sums, the dataset's fingerprint and the metrics of the finished epochs.
///
/// **Derive, don't store** (DESIGN.md §1.6): the data order and the initial weights are pure
/// functions of the seed (and the epoch), the learning rate a pure function of the global step.
/// The checkpoint stores the seed, the counters and the buffers, plus derived values only so that
/// a resumed run can recompute them and check: the hash of the epoch's permutation, the LR's bits.
struct TrainingCheckpoint: Equatable {
    /// The metadata keys.
    enum Key {
        static let lockstepVersion = "lockstep_version"
        static let configuration = "configuration"
        static let worldSize = "world_size"
        static let position = "position"
        static let scheduleState = "schedule_state"
        static let learningRate = "learning_rate"
        static let randomState = "rng_state"
        static let epochProgress = "epoch_progress"
        static let data = "data"
        static let metrics = "metrics"
        /// The layer list (version 2), in its canonical text: what `torch.nn.Sequential` to build.
        static let model = "model"
    }

    /// The prefix of the optimizer state tensors.
    static let optimizerPrefix = "optimizer."

    /// Where training continues (metadata `position`).
    struct Position: Codable, Equatable {
        /// The 0-based epoch of the next step; the configured epoch count once training is complete.
        var epoch: Int
        /// Steps of `epoch` already taken, in `0..<stepsPerEpoch`.
        var stepInEpoch: Int
        /// Optimizer steps taken, skipped ones included: `epoch × stepsPerEpoch + stepInEpoch`.
        var globalStep: Int64
        var stepsPerEpoch: Int

        enum CodingKeys: String, CodingKey {
            case epoch, stepInEpoch = "step_in_epoch", globalStep = "global_step", stepsPerEpoch = "steps_per_epoch"
        }
    }

    /// The learning rate of the next update, `lr(global_step)` (metadata `learning_rate`).
    struct LearningRate: Codable, Equatable {
        var globalStep: Int64
        var value: Double
        /// `value.bitPattern` as 16 hex digits: compared bit for bit on resume.
        var bits: String

        enum CodingKeys: String, CodingKey {
            case globalStep = "global_step", value, bits
        }

        init(globalStep: Int64, value: Double) {
            self.globalStep = globalStep
            self.value = value
            bits = StateHash.hex(value.bitPattern)
        }
    }

    /// The random state (metadata `rng_state`). Nothing random is carried from step to step: the
    /// data order of epoch e comes from a fresh `SeededGenerator(seed, stream: [tag, e])`, the
    /// initial weights from `SeededGenerator(seed, stream: [0x1417, layer])`. So the state is the
    /// seed and the epoch; the permutation's hash lets a reader check the data order.
    struct RandomState: Codable, Equatable {
        var generator = "xoshiro256** (SeededGenerator)"
        var seed: UInt64
        /// The stream words of the data order of `epoch`: `[DistributedSampler.streamTag, epoch]`.
        var dataOrderStream: [UInt64]
        var epoch: Int
        /// `StateHash` of the epoch's permutation (its `Int32` indices, little-endian), 16 hex digits.
        var permutationHash: String

        enum CodingKeys: String, CodingKey {
            case generator, seed, dataOrderStream = "data_order_stream", epoch, permutationHash = "permutation_hash"
        }
    }

    /// The epoch's partial sums (metadata `epoch_progress`; zero at an epoch boundary), so that a
    /// resumed epoch reports the same train loss and gradient norms as an uninterrupted one.
    struct EpochProgress: Codable, Equatable {
        /// Σ in step order of the applied steps' reduced mean losses.
        var trainLossSum = 0.0
        var appliedSteps = 0
        /// Gradient norms before clipping (only with `--clip-grad-norm`).
        var gradientNorms = NormStatistics()

        enum CodingKeys: String, CodingKey {
            case trainLossSum = "train_loss_sum", appliedSteps = "applied_steps", gradientNorms = "gradient_norms"
        }
    }

    /// The dataset the run trained on (metadata `data`): a resume must see the same training set.
    struct DataFingerprint: Codable, Equatable {
        var trainingSamples: Int
        var trainingLabelsCRC32: UInt32
        var testSamples: Int
        var testLabelsCRC32: UInt32
        var features: Int
        var classes: Int
        /// How features became input, when not `unit` (the statistics of `standard`, which
        /// `lockstep evaluate` applies to the test set); nil in checkpoints written before it.
        var normalization: Normalization?

        enum CodingKeys: String, CodingKey {
            case trainingSamples = "training_samples", trainingLabelsCRC32 = "training_labels_crc32"
            case testSamples = "test_samples", testLabelsCRC32 = "test_labels_crc32", features, classes, normalization
        }

        init(_ data: TrainingData) {
            trainingSamples = data.training.count
            trainingLabelsCRC32 = data.training.labelChecksum
            testSamples = data.test.count
            testLabelsCRC32 = data.test.labelChecksum
            features = data.training.featureCount
            classes = data.training.classCount
            normalization = data.training.normalization.kind == .unit ? nil : data.training.normalization
        }
    }

    var lockstepVersion: String
    var configuration: TrainingConfiguration
    var worldSize: Int
    var position: Position
    /// The counters and the effective schedule, as the ranks compare them (`encodedScheduleState`).
    var scheduleState: ScheduleState
    var learningRate: LearningRate
    var randomState: RandomState
    var epochProgress: EpochProgress
    var data: DataFingerprint
    /// One line per finished epoch, as written to `--metrics`.
    var metrics: [EpochMetrics]
    /// The model's layer list, canonical text (nil when read from a version-1 file, which held
    /// the `mlp` preset of `configuration.hiddenSizes`).
    var model: String?
    /// Parameters, then optimizer state.
    var tensors: [CheckpointTensor]

    // MARK: - To and from a Checkpoint

    /// The checkpoint to write.
    /// - Throws: `EncodingError` for a non-finite value in the metadata (a bug: training stops at
    ///   a non-finite loss or skips it).
    func encoded() throws -> Checkpoint {
        var checkpoint = Checkpoint(tensors: tensors)
        try checkpoint.setMetadata(json: lockstepVersion, forKey: Key.lockstepVersion)
        try checkpoint.setMetadata(json: configuration, forKey: Key.configuration)
        try checkpoint.setMetadata(json: worldSize, forKey: Key.worldSize)
        try checkpoint.setMetadata(json: position, forKey: Key.position)
        checkpoint.metadata[Key.scheduleState] = String(decoding: try scheduleState.encoded(), as: UTF8.self)
        try checkpoint.setMetadata(json: learningRate, forKey: Key.learningRate)
        try checkpoint.setMetadata(json: randomState, forKey: Key.randomState)
        try checkpoint.setMetadata(json: epochProgress, forKey: Key.epochProgress)
        try checkpoint.setMetadata(json: data, forKey: Key.data)
        try checkpoint.setMetadata(json: metrics, forKey: Key.metrics)
        if let model { checkpoint.metadata[Key.model] = model }
        return checkpoint
    }

    /// The names and shapes of the tensors of a checkpoint of a model with `parameters` and an
    /// optimizer with the state buffers `optimizerStates`, for `Checkpoint.validateTensors`.
    static func expectedTensors(
        parameters: [(name: String, shape: [Int])], optimizerStates: [String]
    ) -> [(name: String, shape: [Int])] {
        parameters + optimizerStates.flatMap { state in
            parameters.map { (name: optimizerTensorName(state: state, parameter: $0.name), shape: $0.shape) }
        }
    }

    /// `optimizer.momentum_buffer.layers.0.weight`.
    static func optimizerTensorName(state: String, parameter: String) -> String {
        "\(optimizerPrefix)\(state).\(parameter)"
    }
}

extension TrainingCheckpoint {
    /// Reads every metadata value of `checkpoint` (tensors are checked against the model later).
    /// - Throws: `CheckpointError.missingMetadata` or `.invalidMetadata` naming the key.
    /// - Parameter formatVersion: the file's `format_version`: version 1's tensor names are
    ///   mapped to version 2's (`version2Name`).
    init(decoding checkpoint: Checkpoint, formatVersion: String) throws {
        lockstepVersion = try checkpoint.metadataValue(String.self, forKey: Key.lockstepVersion)
        configuration = try checkpoint.metadataValue(TrainingConfiguration.self, forKey: Key.configuration)
        worldSize = try checkpoint.metadataValue(Int.self, forKey: Key.worldSize)
        position = try checkpoint.metadataValue(Position.self, forKey: Key.position)
        scheduleState = try checkpoint.metadataValue(ScheduleState.self, forKey: Key.scheduleState)
        learningRate = try checkpoint.metadataValue(LearningRate.self, forKey: Key.learningRate)
        randomState = try checkpoint.metadataValue(RandomState.self, forKey: Key.randomState)
        epochProgress = try checkpoint.metadataValue(EpochProgress.self, forKey: Key.epochProgress)
        data = try checkpoint.metadataValue(DataFingerprint.self, forKey: Key.data)
        metrics = try checkpoint.metadataValue([EpochMetrics].self, forKey: Key.metrics)
        model = checkpoint.metadata[Key.model]
        tensors = formatVersion == "1"
            ? checkpoint.tensors.map { CheckpointTensor(name: Self.version2Name(ofVersion1: $0.name), shape: $0.shape, values: $0.values) }
            : checkpoint.tensors
    }
}

extension TrainingCheckpoint {
    /// Version 1 held only the MLP and named the k-th linear layer's tensors `layers.{k}.weight` and
    /// `layers.{k}.bias`; version 2 names tensors as `torch.nn.Sequential` does, by position in the
    /// layer list, where the `mlp` preset is `flatten, linear, relu, linear, …`: the k-th linear
    /// layer is at position 2k + 1. Optimizer tensors (`optimizer.<state>.<name>`) follow their
    /// parameter. Other names are kept.
    static func version2Name(ofVersion1 name: String) -> String {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let at = parts.firstIndex(of: "layers"), at + 2 < parts.count, let k = Int(parts[at + 1]) else { return name }
        parts.replaceSubrange(at...(at + 1), with: [String(2 * k + 1)])
        return parts.joined(separator: ".")
    }
}
