import Collectives
import Datasets
import Models
import Training
import XCTest

/// The world-size-invariant step runs a rank's micro-batches together when its set-up check
/// allows, else in smaller passes or one by one: every choice trains to the same bits.
final class MicroBatchesTogetherTests: XCTestCase {
    func testTogetherInPassesAndOneByOneTrainTheSameBits() throws {
        for layers in [nil, "flatten linear(12) gelu dropout(0.3) linear(3)", "conv2d(3,3,padding=1) relu maxpool2d(2) flatten dropout(0.2) linear(3)"] {
            var configuration = TrainingFixtures.configuration()
            configuration.model = layers
            configuration.worldSizeInvariant = true
            configuration.microBatchSize = 2  // 4 micro-batches of 2 per global batch of 8
            let data = TrainingFixtures.data
            let plan = try ModelPlan(configuration: configuration, samples: data.training, maximumBatch: 8)
            var results: [[UInt32]] = []
            for perPass in [4, 2, 1] {
                let step = TrainingStep(
                    configuration: configuration, communicator: SingleProcessCommunicator(), plan: plan,
                    training: data.training, localBatchSize: 8, maximumMicroBatchesPerPass: perPass)
                XCTAssertEqual(step.microBatchesPerPass, perPass, "\(layers ?? "mlp")")
                XCTAssertEqual(step.microBatchesTogether, perPass == 4, "\(layers ?? "mlp")")
                XCTAssertEqual(step.trainingRows, 2 * perPass)
                step.model.initialize(seed: 3)
                var losses: [Double] = []
                for index in 0..<12 {
                    let samples = (0..<8).map { Int32((index * 8 + $0 * 5) % data.training.count) }
                    let outcome = try samples.withUnsafeBufferPointer {
                        try step.run(samples: $0, learningRate: 0.05, step: Int64(index))
                    }
                    guard case .applied(let loss, _) = outcome else { return XCTFail("step \(index): \(outcome)") }
                    losses.append(loss)
                }
                XCTAssertTrue(losses.allSatisfy(\.isFinite))
                results.append(step.model.parameters.array.map(\.bitPattern))
            }
            XCTAssertEqual(results[0], results[1], "\(layers ?? "mlp"): together vs two passes")
            XCTAssertEqual(results[0], results[2], "\(layers ?? "mlp"): together vs one by one")
            XCTAssertNotEqual(results[0], TrainingStepFreshParameters.bits(plan: plan, configuration: configuration), "training moved the parameters")
        }
    }
}

/// The parameters of a fresh model initialised with seed 3.
private enum TrainingStepFreshParameters {
    static func bits(plan: ModelPlan, configuration: TrainingConfiguration) -> [UInt32] {
        let model = LayerStack(model: plan.description, layers: plan.layers, maximumBatchSize: 1)
        model.initialize(seed: 3)
        return model.parameters.array.map(\.bitPattern)
    }
}
