/// How the base learning rate follows the global batch size B relative to a reference batch
/// B_ref (the batch the base LR was tuned for).
public enum LearningRateScaling: String, Codable, Sendable, CaseIterable {
    /// The base LR as given.
    case none
    /// base × B / B_ref: Goyal et al. 2017, "Accurate, Large Minibatch SGD: Training ImageNet in
    /// 1 Hour", meant for SGD and to be combined with gradual warmup.
    case linear
    /// base × √(B / B_ref): Krizhevsky 2014, "One weird trick for parallelizing convolutional
    /// neural networks"; Hoffer et al. 2017, "Train longer, generalize better" (keeps the
    /// variance of the update constant; often a better fit for Adam).
    case sqrt
}

/// The base learning rate scaled from `referenceBatch` to `globalBatch` samples (both summed over
/// all ranks) by `rule`, in Double. Apply it once, when the schedule is built, and store the
/// result with the schedule state; never rescale on resume.
///
/// - Precondition: `globalBatch > 0`, `referenceBatch > 0`.
public func scaledLearningRate(
    _ base: Double, rule: LearningRateScaling, globalBatch: Int, referenceBatch: Int
) -> Double {
    precondition(globalBatch > 0 && referenceBatch > 0, "batch sizes \(globalBatch) / \(referenceBatch)")
    let ratio = Double(globalBatch) / Double(referenceBatch)
    switch rule {
    case .none: return base
    case .linear: return base * ratio
    case .sqrt: return base * ratio.squareRoot()
    }
}
