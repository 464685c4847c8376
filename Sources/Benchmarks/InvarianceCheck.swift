import Collectives
import Datasets
import Determinism
import Foundation
import Logging
import Training

/// `lockstep diagnose invariance`: does training give the same parameters at this world size as
/// at one rank? Trains a few steps with the job's ranks and again on rank 0 alone, in-process
/// (`SingleProcessCommunicator`), from the same seed, and compares the params hashes: in the
/// world-size-invariant mode (`--world-size-invariant --micro-batch M`), and in the default mode
/// for contrast (whose hashes differ between world sizes as soon as there are two ranks or more).
public enum InvarianceCheck {
    /// One line of the output.
    public struct Result: Encodable, Equatable, Sendable {
        /// `world-size-invariant` or `default`.
        public let mode: String
        public let ranks: Int
        public let steps: Int
        public let globalBatch: Int
        /// The micro-batch (world-size-invariant mode only).
        public let microBatch: Int?
        /// The bits of the exact sum's integers, 32 or 64 (world-size-invariant mode only;
        /// `FixedPointSum.width(termCount:)`).
        public var fixedPointBits: Int? { microBatch.map { FixedPointSum.width(termCount: globalBatch / $0) } }
        /// After `steps` steps at `ranks` ranks.
        public let paramsHash: String
        /// After the same steps at one rank, in-process on rank 0.
        public let singleRankParamsHash: String
        public var identical: Bool { paramsHash == singleRankParamsHash }

        enum CodingKeys: String, CodingKey {
            case mode, ranks, steps, globalBatch = "global_batch", microBatch = "micro_batch",
                 fixedPointBits = "fixed_point_bits", paramsHash = "params_hash",
                 singleRankParamsHash = "single_rank_params_hash", identical
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(mode, forKey: .mode)
            try container.encode(ranks, forKey: .ranks)
            try container.encode(steps, forKey: .steps)
            try container.encode(globalBatch, forKey: .globalBatch)
            try container.encodeIfPresent(microBatch, forKey: .microBatch)
            try container.encodeIfPresent(fixedPointBits, forKey: .fixedPointBits)
            try container.encode(paramsHash, forKey: .paramsHash)
            try container.encode(singleRankParamsHash, forKey: .singleRankParamsHash)
            try container.encode(identical, forKey: .identical)
        }
    }

    /// Trains `steps` steps of `configuration` (world-size-invariant; its `invariantMicroBatchSize`
    /// set) at the communicator's world size and at one rank, then the same without the mode.
    /// Returns the two results, the same on every rank. Collective.
    /// - Throws: whatever `Trainer` throws for settings that cannot run (`SamplerError`, …).
    public static func run(
        configuration: TrainingConfiguration, data: TrainingData, communicator: Communicator, steps: Int
    ) throws -> [Result] {
        precondition(configuration.invariantMicroBatchSize != nil && steps > 0, "an invariant configuration, steps \(steps)")
        var plain = configuration
        plain.worldSizeInvariant = nil
        plain.microBatchSize = nil
        return try [configuration, plain].map { configuration in
            let world = try train(configuration, data: data, communicator: communicator, steps: steps)
            var single = [UInt8](repeating: 0, count: 8)
            if communicator.rank == 0 {
                let hash = try train(configuration, data: data, communicator: SingleProcessCommunicator(), steps: steps)
                single = withUnsafeBytes(of: hash.littleEndian) { Array($0) }
            }
            try single.withUnsafeMutableBytes { try communicator.broadcast($0, root: 0) }
            let singleHash = single.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            return Result(
                mode: configuration.invariantMicroBatchSize == nil ? "default" : "world-size-invariant",
                ranks: communicator.worldSize, steps: steps, globalBatch: configuration.globalBatchSize,
                microBatch: configuration.invariantMicroBatchSize, paramsHash: StateHash.hex(world),
                singleRankParamsHash: StateHash.hex(singleHash))
        }
    }

    /// Throws what `run` would refuse on every rank alike (the model, the global batch against the
    /// world size and the micro-batch, in both modes), without any collective: callers report it
    /// once (`CollectiveFailure.collectively`).
    /// - Throws: `ModelDescriptionError`, `ModelSizeError`, `SamplerError`.
    public static func checkSettings(configuration: TrainingConfiguration, data: TrainingData, worldSize: Int) throws {
        var plain = configuration
        plain.worldSizeInvariant = nil
        plain.microBatchSize = nil
        for configuration in [configuration, plain] {
            _ = try ModelPlan(configuration: configuration, samples: data.training, maximumBatch: configuration.globalBatchSize)
            for size in Set([worldSize, 1]) {
                _ = try DistributedSampler(
                    sampleCount: data.training.count, globalBatchSize: configuration.globalBatchSize, worldSize: size,
                    rank: 0, seed: configuration.seed, microBatchSize: configuration.invariantMicroBatchSize)
            }
        }
    }

    /// The params hash after `steps` steps from the seed, with no output of any kind.
    private static func train(
        _ configuration: TrainingConfiguration, data: TrainingData, communicator: Communicator, steps: Int
    ) throws -> UInt64 {
        var configuration = configuration
        configuration.metricsPath = nil
        configuration.verifyEvery = 0
        let trainer = try Trainer(
            configuration: configuration, communicator: communicator, data: data,
            logger: Logger(label: "lockstep.diagnose") { _ in SwiftLogNoOpLogHandler() },
            checkpointing: CheckpointPolicy(stopAfterSteps: steps))
        return try trainer.run().parameterHash
    }
}
