/// One row of `lockstep schedule table`: the LR of one optimizer update.
public struct ScheduleSample: Codable, Equatable, Sendable {
    /// The 0-based global optimizer step.
    public let step: Int64
    /// The 0-based epoch that step belongs to: ⌊step / stepsPerEpoch⌋.
    public let epoch: Int64
    /// `lr(at: step)`.
    public let learningRate: Double

    public init(step: Int64, epoch: Int64, learningRate: Double) {
        self.step = step
        self.epoch = epoch
        self.learningRate = learningRate
    }
}

extension ExponentialSchedule {
    /// True when the LR can change at every step (`--unit step`, or `--smooth`), false when it is
    /// constant within each epoch.
    public var changesEveryStep: Bool {
        configuration.unit == .step || configuration.smooth
    }

    /// The first `count` rows of the schedule, computed lazily: one per step when
    /// `changesEveryStep`, else one per epoch (at the epoch's first step).
    /// Precondition: count ≥ 0, and the last row's step fits in `Int64`.
    public func samples(count: Int) -> some RandomAccessCollection<ScheduleSample> {
        precondition(count >= 0, "samples(count: \(count))")
        let steps = Int64(stepsPerEpoch)
        return (0..<Int64(count)).lazy.map { row in
            let step = changesEveryStep ? row : row * steps
            return ScheduleSample(step: step, epoch: step / steps, learningRate: lr(at: step))
        }
    }
}
