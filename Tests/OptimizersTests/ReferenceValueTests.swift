import Optimizers
import TestSupport
import XCTest

/// The first three updates of every optimizer on `TinyProblem` against the mpmath literals in
/// `ReferenceValues` (PyTorch's equations, 50 digits), at Float tolerance.
final class ReferenceValueTests: XCTestCase {
    private func check(
        _ configuration: OptimizerConfiguration, learningRate: Double, _ expected: ExpectedRun,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let run = TinyProblemRun(configuration, learningRate: learningRate)
        XCTAssertEqual(run.parameters.count, 3, file: file, line: line)
        for mismatch in run.mismatches(against: expected) {
            XCTFail(mismatch, file: file, line: line)
        }
    }

    func testSGDPlain() {
        check(.init(kind: .sgd, momentum: 0), learningRate: 0.1, ReferenceValues.sgdPlain)
    }

    func testSGDMomentum() {
        check(.init(kind: .sgd, momentum: 0.9), learningRate: 0.1, ReferenceValues.sgdMomentum)
    }

    func testSGDNesterov() {
        check(.init(kind: .sgd, momentum: 0.9, nesterov: true), learningRate: 0.1, ReferenceValues.sgdNesterov)
    }

    func testSGDDampening() {
        check(.init(kind: .sgd, momentum: 0.9, dampening: 0.5), learningRate: 0.1, ReferenceValues.sgdDampening)
    }

    func testSGDWeightDecay() {
        check(.init(kind: .sgd, momentum: 0.9, weightDecay: 0.1), learningRate: 0.1, ReferenceValues.sgdWeightDecay)
    }

    func testAdam() {
        check(.init(kind: .adam), learningRate: 0.01, ReferenceValues.adam)
    }

    func testAdamWithSmallBeta1() {
        check(.init(kind: .adam, beta1: 0.3, beta2: 0.9), learningRate: 0.01, ReferenceValues.adamLowBeta)
    }

    func testAdamCoupledWeightDecay() {
        check(.init(kind: .adam, weightDecay: 0.1), learningRate: 0.01, ReferenceValues.adamWeightDecay)
    }

    func testAdamWDecoupledWeightDecay() {
        check(.init(kind: .adamw, weightDecay: 0.1), learningRate: 0.01, ReferenceValues.adamW)
    }

    func testAdamAMSGrad() {
        check(.init(kind: .adam, amsgrad: true), learningRate: 0.01, ReferenceValues.adamAMSGrad)
    }

    func testStateBuffersComeInPyTorchOrder() {
        XCTAssertEqual(TinyProblemRun(.init(kind: .sgd, momentum: 0), learningRate: 0.1).stateOrder, [])
        XCTAssertEqual(TinyProblemRun(.init(kind: .sgd), learningRate: 0.1).stateOrder, ["momentum_buffer"])
        XCTAssertEqual(TinyProblemRun(.init(kind: .adamw), learningRate: 0.1).stateOrder, ["exp_avg", "exp_avg_sq"])
        XCTAssertEqual(
            TinyProblemRun(.init(kind: .adam, amsgrad: true), learningRate: 0.1).stateOrder,
            ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"])
    }
}

/// The checker behind every comparison above can fail.
final class ComparisonHelperTests: XCTestCase {
    func testAWrongReferenceValueIsCaught() {
        let run = TinyProblemRun(.init(kind: .sgd, momentum: 0.9), learningRate: 0.1)
        XCTAssertEqual(run.mismatches(against: ReferenceValues.sgdMomentum), [])

        // One parameter off by 1e-5 relative (ten times the tolerance).
        var parameters = ReferenceValues.sgdMomentum.parameters
        parameters[1][2] *= 1 + 1e-5
        let wrong = ExpectedRun(parameters: parameters, state: ReferenceValues.sgdMomentum.state)
        let found = run.mismatches(against: wrong)
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found.first?.hasPrefix("parameters after update 2[2] = ") ?? false, "\(found)")

        // A state buffer the reference does not expect, or a missing one, is caught too.
        let missingState = ExpectedRun(parameters: ReferenceValues.sgdMomentum.parameters, state: [:])
        XCTAssertEqual(run.mismatches(against: missingState), [#"state buffers ["momentum_buffer"], expected []"#])
    }

    func testToleranceAndLengths() {
        XCTAssertEqual(mismatches([1.0000005], [1], label: "x"), [])
        XCTAssertEqual(mismatches([1.000002], [1], label: "x").count, 1)
        XCTAssertEqual(mismatches([1, 2], [1], label: "x"), ["x: 2 values, expected 1"])
        XCTAssertEqual(mismatches([.nan], [1], label: "x").count, 1)
    }

    /// The naive Double oracle reproduces the mpmath literals to 1e-13, so the longer runs that
    /// rely on it compare against PyTorch's equations too.
    func testTheNaiveReferenceReproducesTheLiterals() {
        let cases: [(OptimizerConfiguration, Double, ExpectedRun)] = [
            (.init(kind: .sgd, momentum: 0), 0.1, ReferenceValues.sgdPlain),
            (.init(kind: .sgd, momentum: 0.9), 0.1, ReferenceValues.sgdMomentum),
            (.init(kind: .sgd, momentum: 0.9, nesterov: true), 0.1, ReferenceValues.sgdNesterov),
            (.init(kind: .sgd, momentum: 0.9, dampening: 0.5), 0.1, ReferenceValues.sgdDampening),
            (.init(kind: .sgd, momentum: 0.9, weightDecay: 0.1), 0.1, ReferenceValues.sgdWeightDecay),
            (.init(kind: .adam), 0.01, ReferenceValues.adam),
            (.init(kind: .adam, beta1: 0.3, beta2: 0.9), 0.01, ReferenceValues.adamLowBeta),
            (.init(kind: .adam, weightDecay: 0.1), 0.01, ReferenceValues.adamWeightDecay),
            (.init(kind: .adamw, weightDecay: 0.1), 0.01, ReferenceValues.adamW),
            (.init(kind: .adam, amsgrad: true), 0.01, ReferenceValues.adamAMSGrad),
        ]
        for (configuration, learningRate, expected) in cases {
            var reference = ReferenceOptimizer(configuration, parameterCount: 3)
            var parameters = TinyProblem.initialParameters.map(Double.init)
            for (step, gradient) in TinyProblem.gradients.enumerated() {
                reference.update(&parameters, gradients: gradient.map(Double.init), learningRate: learningRate)
                assertAllClose(parameters, expected.parameters[step], relative: 1e-13, "\(configuration) step \(step + 1)")
            }
            XCTAssertEqual(Set(reference.state.keys), Set(expected.state.keys))
            for (name, values) in expected.state {
                assertAllClose(reference.state[name] ?? [], values, relative: 1e-13, "\(configuration) \(name)")
            }
        }
    }
}
