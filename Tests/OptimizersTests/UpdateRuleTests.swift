import Determinism
import Kernels
import Optimizers
import TestSupport
import XCTest

/// The differences between variants that the formulas predict, and longer runs against the naive
/// Double reference.
final class UpdateRuleTests: XCTestCase {
    // MARK: - SGD

    /// With λ = 0 the momentum buffer evolves the same way with or without Nesterov (bit for bit);
    /// only the step differs: plain steps by −lr·b, Nesterov by −lr·(g + μ·b).
    func testNesterovDiffersFromPlainMomentumAsTheFormulasSay() {
        let learningRate = 0.1, mu = 0.9
        let plain = makeOptimizer(.init(kind: .sgd, momentum: mu), parameterCount: 3)
        let nesterov = makeOptimizer(.init(kind: .sgd, momentum: mu, nesterov: true), parameterCount: 3)
        let plainParameters = FloatBuffer(TinyProblem.initialParameters)
        let nesterovParameters = FloatBuffer(TinyProblem.initialParameters)
        for gradient in TinyProblem.gradients {
            let before = (plainParameters.array, nesterovParameters.array)
            let gradients = FloatBuffer(gradient)
            plain.update(parameters: plainParameters, gradients: gradients, learningRate: learningRate)
            nesterov.update(parameters: nesterovParameters, gradients: gradients, learningRate: learningRate)
            let plainBuffer = plain.stateBuffers[0].buffer, nesterovBuffer = nesterov.stateBuffers[0].buffer
            XCTAssertTrue(plainBuffer.isBitwiseEqual(to: nesterovBuffer))
            // Each delta carries one rounding of p (|p| ≤ 2.2, ulp ≤ 2.4e-7); the two steps differ
            // by lr·|g + μ·b − b| ≥ 2.6e-3 here.
            for i in 0..<3 {
                let b = Double(plainBuffer[i]), g = Double(gradient[i])
                assertClose(Double(plainParameters[i]) - Double(before.0[i]), -learningRate * b, relative: 0, absolute: 4e-7)
                assertClose(
                    Double(nesterovParameters[i]) - Double(before.1[i]), -learningRate * (g + mu * b), relative: 0,
                    absolute: 4e-7)
            }
        }
        // First update, where b = g: Nesterov steps (1 + μ) times as far: p − lr·(1 + μ)·g.
        // From the literals: 0.95 − 0.905 = lr·μ·g₁[0] = 0.1·0.9·0.5 = 0.045.
        XCTAssertEqual(ReferenceValues.sgdMomentum.parameters[0][0] - ReferenceValues.sgdNesterov.parameters[0][0], 0.045, accuracy: 1e-15)
    }

    /// PyTorch initialises the buffer to the gradient on the first update, so dampening does not
    /// shrink that first step; a zero-initialised buffer would give b = (1 − τ)·g.
    func testTheFirstMomentumUpdateCopiesTheGradientEvenWithDampening() {
        let optimizer = makeOptimizer(.init(kind: .sgd, momentum: 0.9, dampening: 0.5), parameterCount: 3)
        let parameters = FloatBuffer(TinyProblem.initialParameters)
        let gradients = FloatBuffer(TinyProblem.gradients[0])
        optimizer.update(parameters: parameters, gradients: gradients, learningRate: 0.1)
        XCTAssertEqual(optimizer.stateBuffers[0].buffer.array, TinyProblem.gradients[0])  // [0.5, −0.25, 0.375]
        XCTAssertNotEqual(optimizer.stateBuffers[0].buffer.array, TinyProblem.gradients[0].map { 0.5 * $0 })
        // p₁ = p₀ − 0.1·g₁ = [0.95, −1.975, 0.4625], as without dampening.
        assertMatches(parameters.array, [0.95, -1.975, 0.4625], "parameters")
    }

    // MARK: - Adam weight decay, coupled vs decoupled

    /// One update from p = 2 with g = 0.5, lr = 0.1, λ = 0.5. Adam's first step is
    /// lr·m̂/(√v̂ + ε) = lr·d/(|d| + ε) ≈ lr·sign(d), so coupled decay (d = g + λ·p = 1.5) is
    /// normalised away: the step stays 0.1. AdamW shrinks p by the factor (1 − lr·λ) = 0.95 first,
    /// an extra lr·λ·p = 0.1 whatever the gradient's scale.
    ///   no decay:  2 − 0.1·0.5/(0.5 + 1e-8)            = 1.900000002 (to 10 digits)
    ///   coupled:   2 − 0.1·1.5/(1.5 + 1e-8)            = 1.9000000007
    ///   decoupled: 2·0.95 − 0.1·0.5/(0.5 + 1e-8)       = 1.800000002
    func testCoupledDecayIsNormalisedAwayWhileDecoupledDecayShrinksTheParameter() {
        func oneUpdate(_ configuration: OptimizerConfiguration) -> Double {
            let optimizer = makeOptimizer(configuration, parameterCount: 1)
            let parameters = FloatBuffer([2])
            optimizer.update(parameters: parameters, gradients: FloatBuffer([0.5]), learningRate: 0.1)
            return Double(parameters[0])
        }
        let undecayed = oneUpdate(.init(kind: .adam))
        let coupled = oneUpdate(.init(kind: .adam, weightDecay: 0.5))
        let decoupled = oneUpdate(.init(kind: .adamw, weightDecay: 0.5))
        assertClose(undecayed, 1.900000002, relative: 1e-7)
        assertClose(coupled, 1.9000000007, relative: 1e-7)
        assertClose(decoupled, 1.800000002, relative: 1e-7)
        assertClose(undecayed - decoupled, 0.1, relative: 1e-6)  // lr·λ·p
    }

    // MARK: - Against the naive reference, longer

    /// 25 updates of 37 parameters (odd: exercises any vector tail) with Gaussian gradients and a
    /// learning rate that changes every step, for every variant, against `ReferenceOptimizer`.
    func testLongerRunsFollowTheDoubleReference() {
        let variants: [OptimizerConfiguration] = [
            .init(kind: .sgd, momentum: 0),
            .init(kind: .sgd, momentum: 0, weightDecay: 0.05),
            .init(kind: .sgd, momentum: 0.9),
            .init(kind: .sgd, momentum: 0.9, nesterov: true, weightDecay: 0.01),
            .init(kind: .sgd, momentum: 0.5, dampening: 0.3, weightDecay: 0.01),
            .init(kind: .adam),
            .init(kind: .adam, weightDecay: 0.02, beta1: 0.2, beta2: 0.95, epsilon: 1e-6),
            .init(kind: .adamw, weightDecay: 0.1),
            .init(kind: .adamw, weightDecay: 0.1, amsgrad: true),
        ]
        let count = 37
        for configuration in variants {
            var generator = SeededGenerator(seed: 7)
            var reference = ReferenceOptimizer(configuration, parameterCount: count)
            let optimizer = makeOptimizer(configuration, parameterCount: count)
            let initial = (0..<count).map { _ in Float(generator.nextGaussian()) }
            var expected = initial.map(Double.init)
            let parameters = FloatBuffer(initial)
            for step in 0..<25 {
                let gradient = (0..<count).map { _ in Float(generator.nextGaussian()) }
                let learningRate = 0.05 * (1 + Double(step % 4)) / 4
                reference.update(&expected, gradients: gradient.map(Double.init), learningRate: learningRate)
                optimizer.update(parameters: parameters, gradients: FloatBuffer(gradient), learningRate: learningRate)
            }
            assertMatches(parameters.array, expected, relative: 1e-5, absolute: 1e-6, "\(configuration)")
            for (name, buffer) in optimizer.stateBuffers {
                assertMatches(buffer.array, reference.state[name] ?? [], relative: 1e-5, absolute: 1e-6, "\(configuration) \(name)")
            }
            XCTAssertEqual(optimizer.stepCount, 25)
        }
    }

    // MARK: - Buffers

    /// The gradient buffer is read, never written (weight decay is applied in registers), with
    /// every kind of decay.
    func testGradientsAreNotModified() {
        for configuration: OptimizerConfiguration in [
            .init(kind: .sgd, momentum: 0, weightDecay: 0.1), .init(kind: .sgd, weightDecay: 0.1),
            .init(kind: .adam, weightDecay: 0.1), .init(kind: .adamw, weightDecay: 0.1, amsgrad: true),
        ] {
            let optimizer = makeOptimizer(configuration, parameterCount: 3)
            let parameters = FloatBuffer(TinyProblem.initialParameters)
            for gradient in TinyProblem.gradients {
                let gradients = FloatBuffer(gradient)
                optimizer.update(parameters: parameters, gradients: gradients, learningRate: 0.1)
                XCTAssertEqual(gradients.array, gradient, "\(configuration)")
            }
        }
    }
}
