import Coordination

/// The watchdog learns where the step is: computing gradients, then waiting in the reduction.
extension StallWatchdog: StepObserver {
    public func willComputeGradients(step: Int64) { enter(.computingGradients, step: step) }
    public func willFinishReduction(step: Int64) { enter(.gradientReduction, step: step) }
}
