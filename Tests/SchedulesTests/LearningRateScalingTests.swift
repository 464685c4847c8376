import Schedules
import TestSupport
import XCTest


/// Goyal et al. 2017 (linear) and Krizhevsky 2014 / Hoffer et al. 2017 (square root).
final class LearningRateScalingTests: XCTestCase {
    func testGlobalBatch256WithReference128() {
        XCTAssertEqual(scaledLearningRate(0.1, rule: .none, globalBatch: 256, referenceBatch: 128), 0.1)
        XCTAssertEqual(scaledLearningRate(0.1, rule: .linear, globalBatch: 256, referenceBatch: 128), 0.2)  // exactly 2×
        XCTAssertEqual(
            scaledLearningRate(0.1, rule: .sqrt, globalBatch: 256, referenceBatch: 128), 0.1 * 2.0.squareRoot())  // √2×
        // 0.1·√2 = 0.14142135623730950488… (mpmath); within one rounding of each factor.
        assertClose(scaledLearningRate(0.1, rule: .sqrt, globalBatch: 256, referenceBatch: 128), 0.14142135623730950488, relative: 4e-16)
    }

    func testSmallerBatchesScaleDown() {
        XCTAssertEqual(scaledLearningRate(0.1, rule: .linear, globalBatch: 64, referenceBatch: 128), 0.05)
        XCTAssertEqual(scaledLearningRate(1e-3, rule: .sqrt, globalBatch: 32, referenceBatch: 128), 5e-4)  // √(1/4) = 1/2
        XCTAssertEqual(scaledLearningRate(0.1, rule: .linear, globalBatch: 128, referenceBatch: 128), 0.1)
    }

    func testRawValuesAreTheCommandLineSpellings() {
        XCTAssertEqual(LearningRateScaling.allCases.map(\.rawValue), ["none", "linear", "sqrt"])
    }
}
