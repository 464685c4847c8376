import Datasets
import Optimizers
import TestSupport
import Schedules
import XCTest
@testable import Training

/// The field-by-field comparison shared by the start-up agreement and resume.
final class ConfigurationDifferenceTests: XCTestCase {
    func testFlattensNestedFieldsToKeyPathsWithJSONValues() {
        let fields = ConfigurationDifference.fields(of: TrainingFixtures.configuration())
        XCTAssertEqual(fields["epochs"], "3")
        XCTAssertEqual(fields["hiddenSizes"], "[8]")
        XCTAssertEqual(fields["optimizer.kind"], "\"adam\"")
        XCTAssertEqual(fields["schedule.learningRate"], "0.01")
        XCTAssertEqual(fields["schedule.unit"], "\"step\"")
        XCTAssertNil(fields["limitTrain"], "nil fields are absent")
    }

    func testNamesEveryDifferingFieldWithItsFlagInOrder() {
        let reference = TrainingFixtures.configuration()
        var other = reference
        other.epochs = 5
        other.schedule.learningRate = 0.2
        other.limitTrain = 100
        other.optimizer = OptimizerConfiguration(kind: .sgd)
        let differences = ConfigurationDifference.between(reference, other)
        XCTAssertEqual(differences.map(\.description), [
            "epochs (--epochs): 3 → 5",
            "limitTrain (--limit-train): (not set) → 100",
            "optimizer.kind (--optimizer): \"adam\" → \"sgd\"",
            "schedule.learningRate (--lr): 0.01 → 0.2",
        ])
        XCTAssertEqual(ConfigurationDifference.between(reference, other, ignoring: ["epochs", "limitTrain"]).map(\.field),
                       ["optimizer.kind", "schedule.learningRate"])
        XCTAssertEqual(ConfigurationDifference.between(reference, reference), [])
        // Paths read as typed: no JSON-escaped slashes.
        var moved = reference
        moved.limitTest = 7
        moved.dataDirectory = "runs/a/b"
        XCTAssertTrue(ConfigurationDifference.between(reference, moved).map(\.description).contains { $0.contains("\"runs/a/b\"") })
    }

    func testEveryFixedAndFreeFieldExistsAndHasAFlag() {
        var full = TrainingConfiguration(
            dataDirectory: "d", limitTrain: 1, limitTest: 1,
            dataSource: DataSource(data: "x.npy", dataLabels: "y.npy", testData: "u.npy", testDataLabels: "v.npy"),
            normalize: .standard, validationSplit: 0.1, dataCopies: .rank, model: "cnn", metricsPath: "m")
        full.onDivergence = .stop
        full.sharedParameters = true
        let fields = ConfigurationDifference.fields(of: full)
        for field in RunState.fixedFields.union(RunState.freeFields) {
            XCTAssertNotNil(fields[field], "\(field) is a configuration field")
            XCTAssertNotNil(TrainingConfiguration.flagName(forField: field), "\(field) has a flag")
        }
        XCTAssertTrue(RunState.fixedFields.isDisjoint(with: RunState.freeFields))
    }
}

/// `--lr-scaling` enters the schedule once (Goyal et al. 2017, linear: × B/B_ref; sqrt: × √(B/B_ref)).
final class LearningRateScalingScheduleTests: XCTestCase {
    func schedule(_ configuration: TrainingConfiguration) throws -> ExponentialSchedule {
        try ExponentialSchedule(configuration.scaledSchedule, stepsPerEpoch: 10, totalUnits: 40)
    }

    func testGlobalBatch256WithReference128ScalesEveryStepWarmupIncluded() throws {
        var configuration = TrainingConfiguration(
            dataDirectory: "d", globalBatchSize: 256,
            schedule: ScheduleConfiguration(learningRate: 0.05, gamma: 0.7, unit: .step, warmup: 6, minimumLearningRate: 0.01))
        let unscaled = try schedule(configuration)
        configuration.learningRateScaling = .linear
        let linear = try schedule(configuration)
        configuration.learningRateScaling = .sqrt
        let sqrt = try schedule(configuration)
        for step in Int64(0)..<40 {
            // × 2 is exact in binary floating point, so the scaled schedule is exactly twice the other.
            XCTAssertEqual(linear.lr(at: step), 2 * unscaled.lr(at: step), "step \(step)")
            assertClose(sqrt.lr(at: step), 2.0.squareRoot() * unscaled.lr(at: step), relative: 1e-15, "step \(step)")
        }
        XCTAssertEqual(linear.lr(at: 0), 0.001, "warmup start: 1% of the scaled 0.1")
        XCTAssertEqual(linear.lr(at: 6), 0.1)
        XCTAssertEqual(linear.lr(at: 39), 0.02, "the floor is scaled too")
    }
}
