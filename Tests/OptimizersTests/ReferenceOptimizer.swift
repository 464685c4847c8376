#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Optimizers

/// A naive, obviously-correct implementation of the PyTorch update equations in Double, written
/// for reading, not speed: one statement per equation of `torch.optim.SGD` / `Adam` / `AdamW`'s
/// documentation. `ReferenceImplementationTests` checks it against the mpmath literals; the other
/// tests use it as the oracle for longer runs.
struct ReferenceOptimizer {
    let configuration: OptimizerConfiguration
    private(set) var updateCount = 0
    private(set) var momentumBuffer: [Double]?
    private(set) var firstMoment: [Double]
    private(set) var secondMoment: [Double]
    private(set) var maximumSecondMoment: [Double]

    init(_ configuration: OptimizerConfiguration, parameterCount: Int) {
        self.configuration = configuration
        firstMoment = Array(repeating: 0, count: parameterCount)
        secondMoment = firstMoment
        maximumSecondMoment = firstMoment
    }

    /// The state buffers under PyTorch's names (only those the configuration uses).
    var state: [String: [Double]] {
        switch configuration.kind {
        case .sgd:
            return momentumBuffer.map { ["momentum_buffer": $0] } ?? [:]
        case .adam, .adamw:
            var state = ["exp_avg": firstMoment, "exp_avg_sq": secondMoment]
            if configuration.amsgrad { state["max_exp_avg_sq"] = maximumSecondMoment }
            return state
        }
    }

    mutating func update(_ parameters: inout [Double], gradients: [Double], learningRate lr: Double) {
        updateCount += 1
        let c = configuration
        switch c.kind {
        case .sgd:
            // d = g + λ·p
            var direction = zip(gradients, parameters).map { g, p in g + c.weightDecay * p }
            if c.momentum != 0 {
                // b = d on the first update, then b = μ·b + (1 − τ)·d
                let buffer = momentumBuffer.map { old in
                    zip(old, direction).map { b, d in c.momentum * b + (1 - c.dampening) * d }
                } ?? direction
                momentumBuffer = buffer
                // Nesterov: d = d + μ·b; otherwise d = b
                direction = c.nesterov ? zip(direction, buffer).map { d, b in d + c.momentum * b } : buffer
            }
            // p = p − lr·d
            parameters = zip(parameters, direction).map { p, d in p - lr * d }
        case .adam, .adamw:
            var d = gradients
            if c.kind == .adamw {
                parameters = parameters.map { p in p * (1 - lr * c.weightDecay) }  // decoupled
            } else {
                d = zip(gradients, parameters).map { g, p in g + c.weightDecay * p }  // coupled
            }
            let t = Double(updateCount)
            for i in parameters.indices {
                firstMoment[i] = c.beta1 * firstMoment[i] + (1 - c.beta1) * d[i]
                secondMoment[i] = c.beta2 * secondMoment[i] + (1 - c.beta2) * d[i] * d[i]
                maximumSecondMoment[i] = max(maximumSecondMoment[i], secondMoment[i])
                let v = c.amsgrad ? maximumSecondMoment[i] : secondMoment[i]
                let correctedFirst = firstMoment[i] / (1 - pow(c.beta1, t))
                let correctedRoot = sqrt(v) / sqrt(1 - pow(c.beta2, t))
                parameters[i] -= lr * correctedFirst / (correctedRoot + c.epsilon)
            }
        }
    }
}
