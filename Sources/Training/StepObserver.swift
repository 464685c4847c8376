import Kernels
import Models

/// Watches a training step at fixed points without taking part in its math: the stall watchdog
/// records where the rank is (`StallWatchdog`), test fault injection corrupts state on cue
/// (`FaultInjector`). Handed to `TrainingStep` from outside; every method has an empty default.
public protocol StepObserver: AnyObject {
    /// Global step `step` starts: before the batch is gathered. An error ends the step.
    func willComputeGradients(step: Int64) throws
    /// Forward is done and `gradients.loss` holds this rank's scaled loss; backward has not
    /// started and nothing has been sent to the other ranks.
    func lossComputed(step: Int64, gradients: GradientBuffer)
    /// Backward is done; the step now waits for the reduction.
    func willFinishReduction(step: Int64)
    /// The optimizer has updated `parameters` with step `step`'s gradients.
    func didUpdate(step: Int64, parameters: FloatBuffer)
}

extension StepObserver {
    public func willComputeGradients(step: Int64) {}
    public func lossComputed(step: Int64, gradients: GradientBuffer) {}
    public func willFinishReduction(step: Int64) {}
    public func didUpdate(step: Int64, parameters: FloatBuffer) {}
}
