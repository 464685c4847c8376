import Kernels
import Optimizers
import XCTest

/// The optimizer state is `stepCount` plus `stateBuffers`: restoring both continues a run bit for
/// bit, which is what checkpoints and the lockstep hash rely on.
final class OptimizerStateTests: XCTestCase {
    private let count = 5
    private func gradient(_ step: Int) -> FloatBuffer {
        FloatBuffer((0..<count).map { Float(($0 + 1) * (step % 3 == 0 ? 1 : -2)) / Float(step + 3) })
    }

    /// Runs `steps` updates from `initial`, continuing `optimizer` (whose stepCount may be > 0).
    private func run(_ optimizer: any Optimizer, from initial: [Float], steps: Range<Int>) -> FloatBuffer {
        let parameters = FloatBuffer(initial)
        for step in steps {
            optimizer.update(parameters: parameters, gradients: gradient(step), learningRate: 0.01 * Double(step + 1))
        }
        return parameters
    }

    private func restored(from source: any Optimizer, keepingStepCount: Bool) -> any Optimizer {
        let copy = makeOptimizer(source.configuration, parameterCount: source.parameterCount)
        for ((name, target), (sourceName, buffer)) in zip(copy.stateBuffers, source.stateBuffers) {
            XCTAssertEqual(name, sourceName)
            _ = target.buffer.update(fromContentsOf: buffer.buffer)
        }
        if keepingStepCount { copy.stepCount = source.stepCount }
        return copy
    }

    func testRestoringBuffersAndStepCountContinuesBitForBit() {
        let initial: [Float] = [0.5, -1, 2, 0.25, -0.125]
        for configuration: OptimizerConfiguration in [
            .init(kind: .sgd, momentum: 0.9, dampening: 0.5, weightDecay: 0.01),
            .init(kind: .sgd, momentum: 0.9, nesterov: true),
            .init(kind: .adam, amsgrad: true),
            .init(kind: .adamw, weightDecay: 0.1),
        ] {
            let uninterrupted = makeOptimizer(configuration, parameterCount: count)
            let expected = run(uninterrupted, from: initial, steps: 0..<6)

            let first = makeOptimizer(configuration, parameterCount: count)
            let midway = run(first, from: initial, steps: 0..<2)
            XCTAssertEqual(first.stepCount, 2)
            let resumed = restored(from: first, keepingStepCount: true)
            let final = run(resumed, from: midway.array, steps: 2..<6)

            XCTAssertTrue(final.isBitwiseEqual(to: expected), "\(configuration)")
            XCTAssertEqual(resumed.stepCount, 6)
            for ((name, a), (_, b)) in zip(resumed.stateBuffers, uninterrupted.stateBuffers) {
                XCTAssertTrue(a.isBitwiseEqual(to: b), "\(configuration) \(name)")
            }
        }
    }

    /// The step count is state: restoring the buffers without it re-runs SGD's first-update rule
    /// (b = g, undamped) and restarts Adam's bias correction, and the run diverges.
    func testForgettingTheStepCountChangesTheRun() {
        let initial: [Float] = [0.5, -1, 2, 0.25, -0.125]
        for configuration: OptimizerConfiguration in [
            .init(kind: .sgd, momentum: 0.9, dampening: 0.5), .init(kind: .adam),
        ] {
            let expected = run(makeOptimizer(configuration, parameterCount: count), from: initial, steps: 0..<4)
            let first = makeOptimizer(configuration, parameterCount: count)
            let midway = run(first, from: initial, steps: 0..<2)
            let final = run(restored(from: first, keepingStepCount: false), from: midway.array, steps: 2..<4)
            XCTAssertFalse(final.isBitwiseEqual(to: expected), "\(configuration)")
        }
    }

    func testFreshStateIsZeroAndSized() {
        for configuration: OptimizerConfiguration in [.init(kind: .sgd), .init(kind: .adam, amsgrad: true)] {
            let optimizer = makeOptimizer(configuration, parameterCount: 7)
            XCTAssertEqual(optimizer.stepCount, 0)
            XCTAssertEqual(optimizer.parameterCount, 7)
            XCTAssertEqual(optimizer.configuration, configuration)
            for (name, buffer) in optimizer.stateBuffers {
                XCTAssertEqual(buffer.array, Array(repeating: 0, count: 7), name)
            }
        }
    }
}
