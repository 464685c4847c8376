import Kernels

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and coupled
/// weight decay, with the semantics of `torch.optim.SGD` (its `_single_tensor_sgd`), element by
/// element:
///
///     d ← g + λ·p                                   (only when λ ≠ 0; g itself is not modified)
///     if μ ≠ 0:
///         b ← d                                     on the first update (stepCount == 0)
///         b ← μ·b + (1 − τ)·d                       on every later update
///         d ← d + μ·b  (Nesterov)   or   d ← b
///     p ← p − η·d
///
/// Note the first update: PyTorch initialises the momentum buffer to the gradient itself, not to
/// (1 − τ)·g as a zero-initialised buffer would give; with τ ≠ 0 the two differ, so `stepCount`
/// (checkpointed) decides which rule applies.
///
/// Legend (kernel-local names): p parameter, g gradient, d the step direction, b momentum buffer,
/// η learning rate, μ momentum, τ dampening, λ weight decay. Per-element math is all `Float`.
public final class StochasticGradientDescent: Optimizer {
    public let configuration: OptimizerConfiguration
    public let parameterCount: Int
    public var stepCount: Int64 = 0
    /// b: [parameterCount]; nil when momentum is 0 (PyTorch keeps no buffer then either).
    public let momentumBuffer: FloatBuffer?

    /// - Precondition: `configuration.kind == .sgd` and `configuration.validate()` passes.
    public init(_ configuration: OptimizerConfiguration, parameterCount: Int) {
        precondition(configuration.kind == .sgd, "StochasticGradientDescent with kind \(configuration.kind)")
        checkConfiguration(configuration, parameterCount: parameterCount)
        self.configuration = configuration
        self.parameterCount = parameterCount
        momentumBuffer = configuration.momentum == 0 ? nil : FloatBuffer(count: parameterCount)
    }

    public var stateBuffers: [(name: String, buffer: FloatBuffer)] {
        momentumBuffer.map { [("momentum_buffer", $0)] } ?? []
    }

    public func update(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Double, gradientScale: Float?) {
        checkUpdateArguments(parameters, gradients, learningRate)
        let n = parameterCount
        let p = parameters.baseAddress
        let g = GradientReader(gradients, scale: gradientScale)
        let eta = Float(learningRate)
        let lambda = Float(configuration.weightDecay)
        let decays = configuration.weightDecay != 0

        guard let momentumBuffer else {
            if decays {
                for i in 0..<n { p[i] -= eta * (g[i] + lambda * p[i]) }
            } else {
                for i in 0..<n { p[i] -= eta * g[i] }
            }
            stepCount += 1
            return
        }

        let b = momentumBuffer.baseAddress
        let mu = Float(configuration.momentum)
        let keep = Float(1 - configuration.dampening)  // 1 − τ, rounded once as PyTorch's alpha is
        let nesterov = configuration.nesterov
        // Loads first, then branch-free arithmetic (the invariant conditions become selects, so
        // the loops vectorise), then stores.
        if stepCount == 0 {
            for i in 0..<n {
                let pi = p[i], gi = g[i]
                let d = decays ? gi + lambda * pi : gi
                b[i] = d
                p[i] = pi - eta * (nesterov ? d + mu * d : d)
            }
        } else {
            for i in 0..<n {
                let pi = p[i], gi = g[i], bi = b[i]
                let d = decays ? gi + lambda * pi : gi
                let buffer = mu * bi + keep * d
                b[i] = buffer
                p[i] = pi - eta * (nesterov ? d + mu * buffer : buffer)
            }
        }
        stepCount += 1
    }
}
