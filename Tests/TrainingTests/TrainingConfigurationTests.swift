import Foundation
import Optimizers
import Schedules
import Training
import XCTest

final class TrainingConfigurationTests: XCTestCase {
    /// A configuration with every optional field set, so every key appears in its encoding.
    private var everything: TrainingConfiguration {
        TrainingConfiguration(
            dataDirectory: "/data", limitTrain: 10, limitTest: 10, model: "cnn",
            schedule: ScheduleConfiguration(
                learningRate: 0.1, gamma: 0.9, halfLife: 3, finalLearningRate: 0.01, warmupStartLearningRate: 0.001,
                minimumLearningRate: 0.001, staircase: 2),
            clipGradientNorm: 1, metricsPath: "m.jsonl")
    }

    /// Every field of the configuration has a command-line flag, so that start-up and resume
    /// errors can name it; a new field without one fails here.
    func testEveryFieldHasAFlagName() throws {
        let encoder = JSONEncoder()
        let object = try JSONSerialization.jsonObject(with: encoder.encode(everything)) as! [String: Any]
        var missing: [String] = []
        for (key, value) in object {
            if let nested = value as? [String: Any] {
                for child in nested.keys where TrainingConfiguration.flagName(forField: "\(key).\(child)") == nil {
                    missing.append("\(key).\(child)")
                }
            } else if TrainingConfiguration.flagName(forField: key) == nil {
                missing.append(key)
            }
        }
        XCTAssertEqual(missing, [], "fields without a flag name")
        XCTAssertEqual(TrainingConfiguration.flagName(forField: "schedule.learningRate"), "--lr")
        XCTAssertNil(TrainingConfiguration.flagName(forField: "no.such.field"))
    }

    /// Goyal et al.'s linear rule at twice the reference batch doubles the LR at every step,
    /// warmup included; the square-root rule multiplies it by √2.
    func testLearningRateScalingScalesEveryStep() throws {
        var configuration = TrainingConfiguration(
            dataDirectory: "", globalBatchSize: 256,
            schedule: ScheduleConfiguration(learningRate: 0.1, gamma: 0.9, warmup: 3, minimumLearningRate: 0.05),
            learningRateScaling: .linear, learningRateReferenceBatch: 128)
        let base = try ExponentialSchedule(configuration.schedule, stepsPerEpoch: 10, totalUnits: 20)
        let linear = try ExponentialSchedule(configuration.scaledSchedule, stepsPerEpoch: 10, totalUnits: 20)
        configuration.learningRateScaling = .sqrt
        let sqrt = try ExponentialSchedule(configuration.scaledSchedule, stepsPerEpoch: 10, totalUnits: 20)
        for step in Int64(0)..<200 {
            XCTAssertEqual(linear.lr(at: step), 2 * base.lr(at: step), "step \(step)")  // exact: a power of two
            XCTAssertEqual(sqrt.lr(at: step), 2.0.squareRoot() * base.lr(at: step), accuracy: 1e-15, "step \(step)")
        }
        configuration.learningRateScaling = .none
        XCTAssertEqual(configuration.scaledSchedule, configuration.schedule)
    }
}
