@testable import Training
import XCTest

/// The epoch line for people: losses to 4 decimals, or 4 significant digits once the decimals
/// would be noise (a diverging run), the LR to 6 significant digits.
final class EpochSummaryTests: XCTestCase {
    private func line(trainLoss: Double, testLoss: Double) -> String {
        EpochMetrics(
            epoch: 2, step: 936, lr: 0.095, trainLoss: trainLoss, testLoss: testLoss, testAccuracy: 0.8223,
            samplesPerSecond: 35200.4, epochSeconds: 0.344, evaluationSeconds: 0.111, skippedSteps: 0
        ).summary(epochs: 10)
    }

    func testAnOrdinaryEpochLine() {
        XCTAssertEqual(
            line(trainLoss: 0.50291, testLoss: 0.49504),
            "epoch 2/10  lr 0.095  train loss 0.5029  test loss 0.4950  test acc 0.8223  35200 samples/s  (0.34 s train, 0.11 s eval)")
    }

    func testADivergingLossIsShownToFourSignificantDigits() {
        XCTAssertEqual(
            line(trainLoss: 1_560_894_677_537.2815, testLoss: 9999.5),
            "epoch 2/10  lr 0.095  train loss 1.561e+12  test loss 9999.5000  test acc 0.8223  35200 samples/s  (0.34 s train, 0.11 s eval)")
        XCTAssertEqual(EpochMetrics.lossText(75_257_823_705_685_114_748_928), "7.526e+22")
        XCTAssertEqual(EpochMetrics.lossText(10_000), "1e+04")
        XCTAssertEqual(EpochMetrics.lossText(.nan), "nan")
        XCTAssertEqual(EpochMetrics.lossText(.infinity), "inf")
    }
}
