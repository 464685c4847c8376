import Kernels

/// An update rule over one flat parameter buffer and one flat gradient buffer, each
/// `parameterCount` Floats (the model's `ParameterLayout` owns the offsets; the optimizer treats
/// the buffer as one vector, which is exact for these elementwise rules).
///
/// Every rank holds an identical optimizer and calls `update` with identical (allreduced)
/// gradients and learning rate, so its state stays bitwise identical across ranks: no collective
/// happens here. The state is `stepCount` plus `stateBuffers`; checkpoints store both, and
/// restoring both (copying into the buffers, setting `stepCount`) continues bitwise as if the run
/// had never stopped.
public protocol Optimizer: AnyObject {
    var configuration: OptimizerConfiguration { get }
    /// The number of Floats in the parameter, gradient and state buffers.
    var parameterCount: Int { get }
    /// Updates applied so far (Adam's bias-correction `t` after the next update is
    /// `stepCount + 1`; SGD's first update initialises its momentum buffer when this is 0). A
    /// skipped step (the trainer does not call `update`) does not count. Set it only to restore a
    /// checkpoint.
    var stepCount: Int64 { get set }
    /// The state buffers by PyTorch's state name ("momentum_buffer"; "exp_avg", "exp_avg_sq",
    /// "max_exp_avg_sq"), each `parameterCount` Floats, in a fixed order. Plain SGD has none.
    /// Checkpoints store them and the lockstep hash covers them.
    var stateBuffers: [(name: String, buffer: FloatBuffer)] { get }
    /// Applies one update to `parameters` in place and increments `stepCount`. Reads
    /// `gradients` without modifying it. `learningRate` (a `Double`, from the schedule) is cast to
    /// `Float` here and only here. Allocates nothing.
    ///
    /// With a `gradientScale` s, every gradient element is read as the `Float` product `g·s`:
    /// gradient clipping fused into the update (`clipScale`), bit for bit what scaling the buffer
    /// in place first (`clipGradientNorm`) and then updating gives, with one pass over the gradients
    /// fewer. nil reads them as they are.
    ///
    /// - Precondition: both buffers hold `parameterCount` Floats; `learningRate` is finite and ≥ 0.
    func update(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Double, gradientScale: Float?)
}

/// A fresh optimizer (zero state, `stepCount` 0) for `parameterCount` parameters.
///
/// - Precondition: `configuration.validate()` passes (validate user input first: an invalid
///   configuration here is a programming error).
public func makeOptimizer(_ configuration: OptimizerConfiguration, parameterCount: Int) -> any Optimizer {
    switch configuration.kind {
    case .sgd: StochasticGradientDescent(configuration, parameterCount: parameterCount)
    case .adam, .adamw: Adam(configuration, parameterCount: parameterCount)
    }
}

extension Optimizer {
    /// `update` without a gradient scale.
    public func update(parameters: FloatBuffer, gradients: FloatBuffer, learningRate: Double) {
        update(parameters: parameters, gradients: gradients, learningRate: learningRate, gradientScale: nil)
    }

    /// The checks every `update` starts with.
    func checkUpdateArguments(_ parameters: FloatBuffer, _ gradients: FloatBuffer, _ learningRate: Double) {
        precondition(
            parameters.count == parameterCount && gradients.count == parameterCount,
            "update of \(parameters.count) parameters with \(gradients.count) gradients; optimizer holds \(parameterCount)")
        precondition(learningRate >= 0 && learningRate.isFinite, "learning rate \(learningRate)")
        precondition(stepCount >= 0, "stepCount \(stepCount)")
    }
}

/// The precondition every optimizer initialiser starts with.
func checkConfiguration(_ configuration: OptimizerConfiguration, parameterCount: Int) {
    precondition(parameterCount >= 0, "parameterCount \(parameterCount)")
    do {
        try configuration.validate()
    } catch {
        preconditionFailure("invalid optimizer configuration \(configuration): \(error)")
    }
}
