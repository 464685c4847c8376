import Determinism
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

    /// Clipping fused into the update (`gradientScale`) leaves every optimizer in the very state,
    /// bit for bit, that clipping the buffer first and then updating does, over steps that clip
    /// (norms about 6) and steps that do not (`clipScale` nil), and leaves the gradients untouched.
    func testClippingFusedIntoTheUpdateGivesTheBitsOfClippingFirst() {
        let variants: [OptimizerConfiguration] = [
            .init(kind: .sgd, momentum: 0), .init(kind: .sgd, momentum: 0, weightDecay: 0.01),
            .init(kind: .sgd, momentum: 0.9), .init(kind: .sgd, momentum: 0.9, nesterov: true, weightDecay: 0.01),
            .init(kind: .sgd, momentum: 0.5, dampening: 0.3),
            .init(kind: .adam), .init(kind: .adam, weightDecay: 0.02), .init(kind: .adamw, weightDecay: 0.1, amsgrad: true),
        ]
        let count = 37
        for configuration in variants {
            var generator = SeededGenerator(seed: 11)
            let initial = (0..<count).map { _ in Float(generator.nextGaussian()) }
            let twoPass = makeOptimizer(configuration, parameterCount: count), fused = makeOptimizer(configuration, parameterCount: count)
            let twoPassParameters = FloatBuffer(initial), fusedParameters = FloatBuffer(initial)
            var clipped = 0
            for step in 0..<12 {
                let values = (0..<count).map { _ in Float(generator.nextGaussian() * (step % 3 == 0 ? 0.05 : 1)) }
                let maxNorm = 2.0
                let gradients = FloatBuffer(values)
                let scale = clipScale(norm: gradientNorm(gradients), maxNorm: maxNorm)
                if scale != nil { clipped += 1 }
                fused.update(parameters: fusedParameters, gradients: gradients, learningRate: 0.1, gradientScale: scale)
                XCTAssertTrue(gradients.isBitwiseEqual(to: FloatBuffer(values)), "\(configuration): the gradients are only read")
                clipGradientNorm(gradients, maxNorm: maxNorm)
                twoPass.update(parameters: twoPassParameters, gradients: gradients, learningRate: 0.1)
            }
            XCTAssertEqual(clipped, 8, "steps 1, 2, 4, 5, … clip; 0, 3, 6, 9 do not")
            XCTAssertTrue(fusedParameters.isBitwiseEqual(to: twoPassParameters), "\(configuration)")
            for (a, b) in zip(fused.stateBuffers, twoPass.stateBuffers) {
                XCTAssertTrue(a.buffer.isBitwiseEqual(to: b.buffer), "\(configuration) \(a.name)")
            }
        }
    }

    func testClipScaleIsTheFactorOnlyWhenItScales() {
        XCTAssertEqual(clipScale(norm: 10, maxNorm: 1), Float(1 / (10 + 1e-6)))
        XCTAssertNil(clipScale(norm: 0.5, maxNorm: 1))
        XCTAssertNil(clipScale(norm: .nan, maxNorm: 1))
        XCTAssertNil(clipScale(norm: .infinity, maxNorm: 1))
    }
}
