import Kernels
import Optimizers
import TestSupport
import XCTest

/// `torch.nn.utils.clip_grad_norm_` semantics: scale = maxNorm / (norm + 1e-6), applied when < 1.
final class GradientClippingTests: XCTestCase {
    func testANormOfTenIsClippedToOne() {
        let gradients = FloatBuffer([6, 0, -8, 0, 0])  // norm √(36 + 64) = 10; odd count for the tail
        let norm = clipGradientNorm(gradients, maxNorm: 1)
        XCTAssertEqual(norm, 10)
        assertClose(gradientNorm(gradients), 1, relative: 0, absolute: 1e-6)
        // Each element scaled by Float(1 / (10 + 1e-6)); the direction is kept.
        let factor = Float(1 / (10 + 1e-6))
        XCTAssertEqual(gradients.array, [6 * factor, 0, -8 * factor, 0, 0])
    }

    func testAGradientUnderTheThresholdIsUntouchedBitForBit() {
        let values: [Float] = [0.3, -0.4, 1e-3, 0.1, -0.2, 0.05, 1e-30]
        let gradients = FloatBuffer(values)
        let before = FloatBuffer(values)
        let norm = clipGradientNorm(gradients, maxNorm: 1)
        XCTAssertTrue(gradients.isBitwiseEqual(to: before))
        // √(Σ x²) of the Float inputs' exact values (mpmath, 30 digits): ≈ √0.302501.
        assertClose(norm, 0.550000921349815617, relative: 1e-15)
    }

    /// PyTorch's +1e-6 means a norm exactly at the threshold is still scaled (by 5 / (5 + 1e-6)).
    func testANormEqualToTheThresholdIsScaledAsInPyTorch() {
        let gradients = FloatBuffer([3, 4])
        XCTAssertEqual(clipGradientNorm(gradients, maxNorm: 5), 5)
        let factor = Float(5 / (5 + 1e-6))
        XCTAssertLessThan(factor, 1)
        XCTAssertEqual(gradients.array, [3 * factor, 4 * factor])
    }

    func testANonFiniteNormLeavesTheGradientsForTheCallerToHandle() {
        for values: [Float] in [[1, .nan, 2], [.infinity, 1], [-.infinity]] {
            let gradients = FloatBuffer(values)
            let norm = clipGradientNorm(gradients, maxNorm: 1)
            XCTAssertFalse(norm.isFinite, "\(values)")
            XCTAssertTrue(gradients.isBitwiseEqual(to: FloatBuffer(values)), "\(values)")
        }
    }

    /// Squares of these overflow (9e40 > Float.greatestFiniteMagnitude ≈ 3.4e38) or underflow
    /// (9e-50 < the smallest subnormal ≈ 1.4e-45) in Float; in Double the norm is exact to
    /// rounding: 5e20 and 5e-25.
    func testTheNormIsAccumulatedInDouble() {
        assertClose(gradientNorm(FloatBuffer([3e20, -4e20])), 5e20, relative: 1e-7)
        assertClose(gradientNorm(FloatBuffer([3e-25, 4e-25])), 5e-25, relative: 1e-7)
        XCTAssertEqual(gradientNorm(FloatBuffer([])), 0)
        XCTAssertEqual(gradientNorm(FloatBuffer([1, 1, 1, 1, 1, 1, 1, 1, 1])), 3)
    }
}
