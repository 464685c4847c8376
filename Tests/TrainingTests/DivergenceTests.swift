@testable import Training
import XCTest

/// `Divergence.check` on epoch lines of real runs (README's figures) and of runs that blow up.
final class DivergenceTests: XCTestCase {
    func line(_ epoch: Int, trainLoss: Double, testAccuracy: Double) -> EpochMetrics {
        EpochMetrics(
            epoch: epoch, step: Int64(epoch * 468), lr: 0.1, trainLoss: trainLoss, testLoss: trainLoss, testAccuracy: testAccuracy,
            samplesPerSecond: 1, epochSeconds: 1, evaluationSeconds: 1, skippedSteps: 0)
    }

    /// Each line checked against the ones before it.
    func divergences(_ lines: [EpochMetrics], classes: Int = 10) -> [Int: String] {
        var found: [Int: String] = [:]
        for (index, line) in lines.enumerated() {
            if let divergence = Divergence.check(line, earlier: Array(lines[..<index]), classes: classes) {
                found[line.epoch] = divergence.evidence
            }
        }
        return found
    }

    func testTheDefaultRunAConstantRateAndASlowStartDoNotWarn() {
        // The default 10-epoch run (README): 0.53 → 0.23 train loss, 0.83 → 0.885 accuracy.
        let defaults = [0.5312, 0.3920, 0.3514, 0.3265, 0.3071, 0.2903, 0.2760, 0.2627, 0.2505, 0.2318]
        XCTAssertEqual(divergences(defaults.enumerated().map { line($0 + 1, trainLoss: $1, testAccuracy: 0.83 + 0.006 * Double($0)) }), [:])
        // A constant rate (--gamma 1) that plateaus and wobbles.
        XCTAssertEqual(divergences([0.60, 0.45, 0.47, 0.44, 0.46].enumerated().map { line($0 + 1, trainLoss: $1, testAccuracy: 0.8) }), [:])
        // A slow start: above ln 10 at first, then learning (dropout, a small LR).
        XCTAssertEqual(divergences([2.25, 1.9, 1.2].enumerated().map { line($0 + 1, trainLoss: $1, testAccuracy: 0.3 + 0.2 * Double($0)) }), [:])
    }

    func testABlowUpAfterLearningWarnsNamingTheBestEpoch() {
        // README's example config before it was fixed: epoch 2 train loss 7.47 after 0.53.
        let found = divergences([line(1, trainLoss: 0.53, testAccuracy: 0.81), line(2, trainLoss: 7.47, testAccuracy: 0.35)])
        XCTAssertEqual(found, [2: "train loss 7.4700, was 0.5300 at epoch 1"])
        XCTAssertEqual(
            Divergence.check(line(2, trainLoss: 7.47, testAccuracy: 0.35), earlier: [line(1, trainLoss: 0.53, testAccuracy: 0.81)], classes: 10)?
                .warning(epoch: 2),
            "training is diverging at epoch 2 (train loss 7.4700, was 0.5300 at epoch 1): lower --lr, or add warmup (--warmup) or clipping (--clip-grad-norm)")
    }

    func testARunThatNeverLearnsWarnsFromItsFirstEpoch() {
        // --lr 10: a huge first-epoch loss, then chance-level accuracy with a loss near ln 10.
        let found = divergences([line(1, trainLoss: 2.165e15, testAccuracy: 0.1), line(2, trainLoss: 2.5652, testAccuracy: 0.0999)])
        XCTAssertEqual(found[1], "train loss 2.165e+15, above the 2.3026 of uniform guessing")
        XCTAssertEqual(found[2], "test accuracy 0.0999, chance level for 10 classes")
    }

    func testTheThresholdsAreWhereTheyAreDocumented() {
        let first = line(1, trainLoss: 0.5, testAccuracy: 0.8)
        XCTAssertNil(Divergence.check(line(2, trainLoss: 1.0, testAccuracy: 0.8), earlier: [first], classes: 10), "2× is not yet diverging")
        XCTAssertNotNil(Divergence.check(line(2, trainLoss: 1.01, testAccuracy: 0.8), earlier: [first], classes: 10))
        XCTAssertNil(Divergence.check(line(1, trainLoss: 1, testAccuracy: 0.121), earlier: [], classes: 10))
        XCTAssertNotNil(Divergence.check(line(1, trainLoss: 1, testAccuracy: 0.12), earlier: [], classes: 10))
        XCTAssertNotNil(Divergence.check(line(1, trainLoss: 4.61, testAccuracy: 0.5), earlier: [], classes: 10), "above 2 ln 10 = 4.605")
        // Tiny losses: a doubling from 0.01 to 0.03 is noise, not divergence.
        XCTAssertNil(Divergence.check(line(2, trainLoss: 0.03, testAccuracy: 0.99), earlier: [line(1, trainLoss: 0.01, testAccuracy: 0.99)], classes: 10))
    }
}
