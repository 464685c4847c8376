import Foundation
@testable import lockstep
import Training
import XCTest

/// `TrainingConfiguration.flagNames` (the flags that resume and start-up errors name) against the
/// real parser of `lockstep train`: each named flag, given on the command line, changes exactly
/// the field it is named for.
final class FlagNameTests: XCTestCase {
    /// A command line that sets each field to a value other than its default (with what that
    /// flag needs beside it).
    static let probes: [String: [String]] = [
        "dataDirectory": ["--data-dir", "/x"], "limitTrain": ["--limit-train", "5"], "limitTest": ["--limit-test", "5"],
        "model": ["--model", "cnn"], "hiddenSizes": ["--hidden", "7"], "seed": ["--seed", "3"], "epochs": ["--epochs", "2"],
        "globalBatchSize": ["--global-batch", "64"], "optimizer.kind": ["--optimizer", "adam"],
        "optimizer.momentum": ["--momentum", "0.5"], "optimizer.dampening": ["--dampening", "0.1"],
        "optimizer.nesterov": ["--nesterov"], "optimizer.weightDecay": ["--weight-decay", "0.01"],
        "optimizer.beta1": ["--optimizer", "adam", "--beta1", "0.8"],
        "optimizer.beta2": ["--optimizer", "adam", "--beta2", "0.99"],
        "optimizer.epsilon": ["--optimizer", "adam", "--eps", "1e-6"],
        "optimizer.amsgrad": ["--optimizer", "adam", "--amsgrad"],
        "schedule.learningRate": ["--lr", "0.2"], "schedule.gamma": ["--gamma", "0.5"],
        "schedule.halfLife": ["--half-life", "3"], "schedule.finalLearningRate": ["--final-lr", "0.01"],
        "schedule.unit": ["--unit", "step"], "schedule.smooth": ["--smooth"], "schedule.warmup": ["--warmup", "2"],
        "schedule.warmupStartLearningRate": ["--warmup", "2", "--warmup-start-lr", "0.01"],
        "schedule.hold": ["--hold", "2"], "schedule.minimumLearningRate": ["--min-lr", "0.01"],
        "schedule.staircase": ["--staircase", "2"], "clipGradientNorm": ["--clip-grad-norm", "1"],
        "learningRateScaling": ["--lr-scaling", "linear"],
        "learningRateReferenceBatch": ["--lr-scaling", "linear", "--lr-reference-batch", "64"],
        "reduction": ["--reduction", "reduce-scatter-allgather"], "verifyEvery": ["--verify-every", "5"],
        "onNonFinite": ["--on-nonfinite", "skip"], "onDivergence": ["--on-divergence", "stop"], "stallTimeout": ["--stall-timeout", "5"],
        "bucketMegabytes": ["--bucket-mb", "2"], "overlap": ["--no-overlap"], "sharedParameters": ["--shared-parameters", "--reduction", "sharded"], "metricsPath": ["--metrics", "m.jsonl"],
        "evaluationBatchSize": ["--eval-batch", "100"],
        "dataSource.data": ["--data", "d.npz"], "dataSource.dataLabels": ["--data", "x.npy", "--data-labels", "y.npy"],
        "dataSource.testData": ["--data", "d.npz", "--test-data", "t.npz"],
        "dataSource.testDataLabels": ["--data", "x.npy", "--test-data", "u.npy", "--test-data-labels", "v.npy"],
        "dataSource.keys": ["--data", "d.npz", "--data-keys", "a,b"],
        "dataSource.labelColumn": ["--data", "d.csv", "--label-column", "label"],
        "dataSource.csvHeader": ["--data", "d.csv", "--csv-header", "yes"],
        "dataSource.csvType": ["--data", "d.csv", "--csv-dtype", "uint8"],
        "dataSource.inputShape": ["--data", "d.csv", "--input-shape", "1,28,28"],
        "dataSource.classes": ["--data", "d.npz", "--classes", "12"],
        "normalize": ["--normalize", "standard"], "validationSplit": ["--validation-split", "0.1"],
        "dataCopies": ["--data-copies", "rank"],
        "worldSizeInvariant": ["--world-size-invariant", "--micro-batch", "16"],
        "microBatchSize": ["--world-size-invariant", "--micro-batch", "16"],
    ]

    func testEveryNamedFlagSetsItsFieldThroughTheParser() throws {
        let defaults = ConfigurationDifference.fields(of: try TrainCommand.parse([]).trainingConfiguration())
        XCTAssertEqual(Set(TrainingConfiguration.flagNames.keys), Set(Self.probes.keys), "a field without a probe here")
        for (field, flag) in TrainingConfiguration.flagNames.sorted(by: { $0.key < $1.key }) {
            let probe = try XCTUnwrap(Self.probes[field])
            XCTAssertTrue(probe.contains(flag), "\(field): the probe \(probe) does not give \(flag)")
            let changed = ConfigurationDifference.between(
                defaults, ConfigurationDifference.fields(of: try TrainCommand.parse(probe).trainingConfiguration()))
            XCTAssertTrue(changed.map(\.field).contains(field), "\(flag) does not set \(field): \(changed)")
        }
    }

    func testTheCheckFailsForAFlagNamedForTheWrongField() throws {
        // What the test above would report if the map said `--epochs` for `seed`.
        let defaults = ConfigurationDifference.fields(of: try TrainCommand.parse([]).trainingConfiguration())
        let changed = ConfigurationDifference.between(
            defaults, ConfigurationDifference.fields(of: try TrainCommand.parse(["--epochs", "2"]).trainingConfiguration()))
        XCTAssertFalse(changed.map(\.field).contains("seed"))
    }
}
