@testable import Checkpoints
import Determinism
import Foundation

/// Checkpoints for tests: an MLP's parameters and optimizer buffers with realistic names, smaller
/// than the real model.
enum CheckpointSamples {
    /// `layers.0` [24, 49] → `layers.1` [10, 24], each weight `[out, in]` with its bias, and an
    /// SGD momentum buffer per parameter; values from a seeded generator.
    static func mlp(seed: UInt64 = 7) -> Checkpoint {
        var generator = SeededGenerator(seed: seed)
        func tensor(_ name: String, _ shape: [Int]) -> CheckpointTensor {
            let count = shape.reduce(1, *)
            return CheckpointTensor(
                name: name, shape: shape, values: (0..<count).map { _ in Float(generator.nextGaussian() * 0.1) })
        }
        var tensors: [CheckpointTensor] = []
        for prefix in ["", "optimizer.momentum."] {
            tensors += [
                tensor(prefix + "layers.0.weight", [24, 49]), tensor(prefix + "layers.0.bias", [24]),
                tensor(prefix + "layers.1.weight", [10, 24]), tensor(prefix + "layers.1.bias", [10]),
            ]
        }
        var checkpoint = Checkpoint(tensors: tensors, metadata: ["world_size": "2", "global_step": "1200"])
        try! checkpoint.setMetadata(json: ["seed": 42, "epochs": 10], forKey: "config")
        try! checkpoint.setMetadata(json: generator.state, forKey: "rng_state")
        return checkpoint
    }
}
