extension ScheduleConfiguration {
    /// The same schedule with every learning rate (`lr0`, the warmup start, `final_lr`, `min_lr`)
    /// multiplied by `factor`, so that `lr(t)` is `factor ×` the original at every step, warmup
    /// included. Lengths, γ and the unit are unchanged (γ from `final_lr` is a ratio, so it is too).
    /// Used for learning-rate scaling with the global batch (Goyal et al. 2017).
    /// - Precondition: `factor` is finite and positive.
    public func scalingLearningRates(by factor: Double) -> ScheduleConfiguration {
        precondition(factor.isFinite && factor > 0, "learning-rate scale factor \(factor)")
        var scaled = self
        scaled.learningRate = learningRate * factor
        scaled.warmupStartLearningRate = warmupStartLearningRate.map { $0 * factor }
        scaled.finalLearningRate = finalLearningRate.map { $0 * factor }
        scaled.minimumLearningRate = minimumLearningRate.map { $0 * factor }
        return scaled
    }

    /// The schedule a run of global batch `globalBatch` uses: every learning rate scaled by
    /// `rule` from `referenceBatch` (`scaledLearningRate`), once, when the schedule is built.
    /// `lockstep train` and `lockstep schedule table|analyze` both apply it, so the table shows
    /// the rates training uses.
    /// - Precondition: `globalBatch > 0`, `referenceBatch > 0`.
    public func scaled(by rule: LearningRateScaling, globalBatch: Int, referenceBatch: Int) -> ScheduleConfiguration {
        let factor = scaledLearningRate(1, rule: rule, globalBatch: globalBatch, referenceBatch: referenceBatch)
        return factor == 1 ? self : scalingLearningRates(by: factor)
    }
}
