import Kernels
import Optimizers

/// What an optimizer did on `TinyProblem`: the parameters after each update, and its state
/// buffers (by name) after the last one.
struct TinyProblemRun {
    var parameters: [[Float]] = []
    var state: [String: [Float]] = [:]
    var stateOrder: [String] = []

    init(_ configuration: OptimizerConfiguration, learningRate: Double) {
        let optimizer = makeOptimizer(configuration, parameterCount: TinyProblem.initialParameters.count)
        let parameterBuffer = FloatBuffer(TinyProblem.initialParameters)
        for gradient in TinyProblem.gradients {
            optimizer.update(parameters: parameterBuffer, gradients: FloatBuffer(gradient), learningRate: learningRate)
            parameters.append(parameterBuffer.array)
        }
        for (name, buffer) in optimizer.stateBuffers {
            state[name] = buffer.array
            stateOrder.append(name)
        }
    }

    /// Every mismatch against `expected` (parameters after each update, then the state buffers).
    func mismatches(against expected: ExpectedRun) -> [String] {
        var found: [String] = []
        if Set(state.keys) != Set(expected.state.keys) {
            found.append("state buffers \(state.keys.sorted()), expected \(expected.state.keys.sorted())")
        }
        for (step, (actual, reference)) in zip(parameters, expected.parameters).enumerated() {
            found += OptimizersTests.mismatches(actual, reference, label: "parameters after update \(step + 1)")
        }
        for (name, reference) in expected.state {
            found += OptimizersTests.mismatches(state[name] ?? [], reference, label: name)
        }
        return found
    }
}
