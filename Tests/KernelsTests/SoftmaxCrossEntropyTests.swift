import Kernels
import TestSupport
import XCTest

final class SoftmaxCrossEntropyTests: XCTestCase {
    func testUniformLogitsGiveLogClassCount() {
        // All-equal logits: softmax is uniform, loss = ln(10) = 2.302585092994046 per row.
        let logits = [Float](repeating: 0.5, count: 2 * 10)
        let labels: [Int32] = [3, 7]
        let summary = softmaxCrossEntropy(logits: logits, labels: labels, batchSize: 2, classCount: 10,
                                          gradient: nil, gradientScale: 0)
        assertClose(summary.lossSum, 2 * 2.302585092994046, relative: 1e-6)
        XCTAssertEqual(summary.correctCount, 0)  // ties pick index 0, which is neither label
    }

    func testMatchesReferenceIncludingGradient() {
        let logits: [Float] = [2, -1, 0.5, 3, 0, 0, -2, 1, 4, 1.5, 1.5, -0.25]
        let labels: [Int32] = [0, 3, 1]
        let scale: Float = 1.0 / 8
        var gradient = [Float](repeating: .nan, count: logits.count)
        let summary = softmaxCrossEntropy(logits: logits, labels: labels, batchSize: 3, classCount: 4,
                                          gradient: &gradient, gradientScale: scale)
        let reference = ReferenceKernels.softmaxCrossEntropy(
            logits: logits.map(Double.init), labels: labels.map(Int.init), classCount: 4, gradientScale: Double(scale))
        assertClose(summary.lossSum, reference.lossSum, relative: 1e-6)
        XCTAssertEqual(summary.correctCount, reference.correctCount)
        XCTAssertEqual(summary.correctCount, 1)  // row 0: argmax 3 ≠ 0; row 1: argmax 3 = 3; row 2: argmax 0 ≠ 1
        assertAllClose(gradient.map(Double.init), reference.gradient, relative: 1e-5, absolute: 1e-7)
        // Each row's gradient sums to zero (softmax sums to one).
        for r in 0..<3 { XCTAssertEqual(gradient[(r * 4)..<(r * 4 + 4)].reduce(0, +), 0, accuracy: 1e-6) }
    }

    func testStableForHugeLogits() {
        // exp(1000) overflows Float; the max-shifted form gives ln(1 + e^-1) = 0.31326168751822286.
        let logits: [Float] = [1000, 999]
        let labels: [Int32] = [0]
        var gradient: [Float] = [0, 0]
        let summary = softmaxCrossEntropy(logits: logits, labels: labels, batchSize: 1, classCount: 2,
                                          gradient: &gradient, gradientScale: 1)
        assertClose(summary.lossSum, 0.31326168751822286, relative: 1e-6)
        XCTAssertEqual(summary.correctCount, 1)
        XCTAssertTrue(gradient.allSatisfy(\.isFinite))
    }
}
