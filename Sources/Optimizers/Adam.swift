#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

/// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019, decoupled weight decay), with
/// bias correction always on and optional AMSGrad (Reddi et al. 2018), following PyTorch's
/// `torch.optim.Adam` / `torch.optim.AdamW` (`_single_tensor_adam`) operation by operation.
/// For update number t = stepCount + 1, element by element:
///
///     AdamW:  p ← p·(1 − η·λ)                (factor computed in Double, then rounded)
///     Adam:   d ← g + λ·p  (coupled; g itself is not modified)       (both only when λ ≠ 0)
///     m ← lerp(m, d, 1 − β1)                 (= β1·m + (1 − β1)·d, rounded as torch's lerp_)
///     v ← β2·v + (1 − β2)·d²
///     AMSGrad: v̂ ← max(v̂, v), used below in place of v
///     p ← p − (η / bc1)·m / (√v / √bc2 + ε)    with bc1 = 1 − β1^t, bc2 = 1 − β2^t
///
/// The scalars (η/bc1, √bc2, 1 − η·λ) are computed once per update in Double and cast to
/// Float, as PyTorch's Python-float arithmetic does; the per-element loop is all Float.
///
/// Legend (kernel-local names): p parameter, g gradient, d the gradient used, m first moment
/// ("exp_avg"), v second moment ("exp_avg_sq"), vmax its running maximum ("max_exp_avg_sq"),
/// η learning rate, λ weight decay.
public final class Adam: Optimizer {
    public let configuration: OptimizerConfiguration
    public let parameterCount: Int
    public var stepCount: Int64 = 0
    /// m: [parameterCount].
    public let firstMoment: FloatBuffer
    /// v: [parameterCount].
    public let secondMoment: FloatBuffer
    /// max over updates of v: [parameterCount]; nil unless AMSGrad.
    public let maximumSecondMoment: FloatBuffer?

    /// - Precondition: `configuration.kind` is `.adam` or `.adamw` and `validate()` passes.
    public init(_ configuration: OptimizerConfiguration, parameterCount: Int) {
        precondition(configuration.kind != .sgd, "Adam with kind \(configuration.kind)")
        checkConfiguration(configuration, parameterCount: parameterCount)
        self.configuration = configuration
        self.parameterCount = parameterCount
        firstMoment = FloatBuffer(count: parameterCount)
        secondMoment = FloatBuffer(count: parameterCount)
        maximumSecondMoment = configuration.amsgrad ? FloatBuffer(count: parameterCount) : nil
    }

    public var stateBuffers: [(name: String, buffer: FloatBuffer)] {
        [("exp_avg", firstMoment), ("exp_avg_sq", secondMoment)]
            + (maximumSecondMoment.map { [("max_exp_avg_sq", $0)] } ?? [])
    }

    public func update(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Double, gradientScale: Float?) {
        checkUpdateArguments(parameters, gradients, learningRate)
        stepCount += 1

        // MARK: Scalars, once per update, in Double (PyTorch: Python floats)
        let c = configuration
        let t = Double(stepCount)
        let biasCorrection1 = 1 - pow(c.beta1, t)
        let biasCorrection2 = 1 - pow(c.beta2, t)
        let negativeStepSize = Float(-(learningRate / biasCorrection1))
        let biasCorrection2Root = Float(pow(biasCorrection2, 0.5))  // torch: bias_correction2 ** 0.5
        let epsilon = Float(c.epsilon)
        let beta2 = Float(c.beta2)
        let oneMinusBeta2 = Float(1 - c.beta2)
        // torch's CPU lerp(a, b, w): a + w·(b − a) when |w| < 0.5, else b − (b − a)·(1 − w).
        let weight = Float(1 - c.beta1)
        let oneMinusWeight = 1 - weight
        let lerpFromStart = abs(weight) < 0.5
        let coupled = c.weightDecay != 0 && c.kind == .adam
        let decoupled = c.weightDecay != 0 && c.kind == .adamw
        let lambda = Float(c.weightDecay)
        let decoupledFactor = Float(1 - learningRate * c.weightDecay)

        // MARK: Elementwise update
        let n = parameterCount
        let p = parameters.baseAddress
        let g = GradientReader(gradients, scale: gradientScale)
        let m = firstMoment.baseAddress
        let v = secondMoment.baseAddress
        if let vmaxBuffer = maximumSecondMoment {
            let vmax = vmaxBuffer.baseAddress
            for i in 0..<n {
                var parameter = p[i]
                if decoupled { parameter *= decoupledFactor }
                let d = coupled ? g[i] + lambda * parameter : g[i]
                let mi = lerpFromStart ? m[i] + weight * (d - m[i]) : d - (d - m[i]) * oneMinusWeight
                let vi = v[i] * beta2 + oneMinusBeta2 * d * d
                let largest = vmax[i] >= vi ? vmax[i] : vi  // NaN in v propagates, as torch.maximum
                m[i] = mi
                v[i] = vi
                vmax[i] = largest
                p[i] = parameter + negativeStepSize * mi / (root(largest) / biasCorrection2Root + epsilon)
            }
        } else {
            for i in 0..<n {
                var parameter = p[i]
                if decoupled { parameter *= decoupledFactor }
                let d = coupled ? g[i] + lambda * parameter : g[i]
                let mi = lerpFromStart ? m[i] + weight * (d - m[i]) : d - (d - m[i]) * oneMinusWeight
                let vi = v[i] * beta2 + oneMinusBeta2 * d * d
                m[i] = mi
                v[i] = vi
                p[i] = parameter + negativeStepSize * mi / (root(vi) / biasCorrection2Root + epsilon)
            }
        }
    }
}

/// √x for the second moment, which is never negative and never −0 (it is a sum of +0-or-positive
/// terms), so √|x| = √x bit for bit. The `abs` lets LLVM prove no `errno` can be set and emit a
/// plain vectorisable square root: Glibc builds default to `-fmath-errno`, under which
/// `Float.squareRoot()` alone is a guarded library call that blocks loop vectorisation.
@inline(__always)
private func root(_ x: Float) -> Float { abs(x).squareRoot() }
