import Checkpoints
import Collectives
import Coordination
import Datasets
import Foundation
import Kernels
import Models

/// Test loss and accuracy of the parameters in a checkpoint (`lockstep evaluate`), on any number
/// of ranks: rank 0 reads the file and broadcasts its bytes, every rank decodes them, builds the
/// model the checkpoint's configuration describes and evaluates its shard of the test set, and
/// the sums are allreduced (as the trainer's end-of-epoch evaluation).
public struct CheckpointEvaluation: Codable, Equatable, Sendable {
    /// The checkpoint file, as given.
    public let checkpoint: String
    /// The checkpoint's global step, epoch (0-based, of its next step) and step within it.
    public let globalStep: Int64
    public let epoch: Int
    public let stepInEpoch: Int
    /// Ranks that evaluated.
    public let worldSize: Int
    public let testSamples: Int
    public let testLoss: Double
    public let testAccuracy: Double

    enum CodingKeys: String, CodingKey {
        case checkpoint
        case globalStep = "global_step"
        case epoch
        case stepInEpoch = "step_in_epoch"
        case worldSize = "world_size"
        case testSamples = "test_samples"
        case testLoss = "test_loss"
        case testAccuracy = "test_accuracy"
    }

    /// Evaluates the checkpoint at `path` on `test`, `batchSize` samples per rank at a time, with
    /// the normalisation the checkpoint was trained with (its stored `standard` statistics).
    /// Collective.
    /// - Throws: `CollectiveFailure` carrying a `CheckpointError` (unreadable or malformed file,
    ///   tensors that do not fit the test set's image size and class count), `MPIError`.
    /// - Precondition: `batchSize ≥ 1`.
    public static func run(
        checkpointPath path: String, test: LabeledSamples, batchSize: Int, communicator: Communicator
    ) throws -> CheckpointEvaluation {
        precondition(batchSize >= 1, "evaluation batch \(batchSize)")
        FloatingPointEnvironment.enableFlushToZero()  // as in training, so the figures match the epoch's
        let bytes = try communicator.runOnRankZero { try CheckpointReader.readBytes(from: URL(fileURLWithPath: path)) }
        let (stored, plan, test) = try CollectiveFailure.collectively { () throws -> (TrainingCheckpoint, ModelPlan, LabeledSamples) in
            let decoded = try CheckpointReader.decode(bytes, source: path)
            let stored = try TrainingCheckpoint(decoding: decoded.checkpoint, formatVersion: decoded.layout.formatVersion)
            let test = test.normalized(stored.data.normalization ?? .unit)
            let plan = try ModelPlan(configuration: stored.configuration, samples: test, maximumBatch: batchSize)
            let parameters = stored.tensors.filter { !$0.name.hasPrefix(TrainingCheckpoint.optimizerPrefix) }
            let expected = plan.layers.flatMap { layer in
                [layer.weightShape.map { (name: layer.weightName, shape: $0) }, layer.biasShape.map { (name: layer.biasName, shape: $0) }]
                    .compactMap { $0 }
            }
            try Checkpoint(tensors: parameters, source: path).validateTensors(expected: expected)
            return (stored, plan, test)
        }
        let model = LayerStack(model: plan.description, layers: plan.layers, maximumBatchSize: batchSize)
        for tensor in model.tensors {
            let values = stored.tensors.first { $0.name == tensor.name }!.values
            _ = values.withUnsafeBufferPointer { model.parameters.slice(tensor.range).update(fromContentsOf: $0) }
        }
        let indices = UnsafeMutableBufferPointer<Int32>.allocate(capacity: batchSize)
        let labels = UnsafeMutableBufferPointer<Int32>.allocate(capacity: batchSize)
        defer {
            indices.deallocate()
            labels.deallocate()
        }
        let result = try Evaluation.sharded(
            model: model, test: test, communicator: communicator, batchSize: batchSize, indices: indices, labels: labels)
        return CheckpointEvaluation(
            checkpoint: path, globalStep: stored.position.globalStep, epoch: stored.position.epoch,
            stepInEpoch: stored.position.stepInEpoch, worldSize: communicator.worldSize, testSamples: test.count,
            testLoss: result.meanLoss, testAccuracy: result.accuracy)
    }
}
