/// The learning-rate schedule as the user gave it: one field per command-line flag, nothing
/// derived. `ExponentialSchedule(_:stepsPerEpoch:totalUnits:)` resolves it into a schedule.
///
/// All lengths and rates are in `unit` (epochs by default). The decay is given by at most one of
/// `gamma`, `halfLife`, `finalLearningRate`; with none, `gamma` is `defaultGamma` (0.95 per epoch,
/// the peer trainers' PyTorch `ExponentialLR(gamma=0.95)`).
public struct ScheduleConfiguration: Codable, Equatable, Sendable {
    /// `--lr`: the peak learning rate lr0, reached when warmup ends (default 0.1).
    public var learningRate: Double
    /// `--gamma`: the decay factor per unit, in (0, 1]: lr = lr0·γ^t.
    public var gamma: Double?
    /// `--half-life`: units for the LR to halve; γ = 2^(−1/halfLife).
    public var halfLife: Double?
    /// `--final-lr`: the LR of the last trained unit T − 1; needs the schedule's length.
    public var finalLearningRate: Double?
    /// `--unit`: the unit of every length and rate.
    public var unit: ScheduleUnit
    /// `--smooth`: with `unit == .epoch`, the LR moves every step along the same curve
    /// (t = step / stepsPerEpoch, fractional) instead of being constant within an epoch.
    public var smooth: Bool
    /// `--warmup`: units of linear warmup from `warmupStartLearningRate` to lr0 (0: none).
    public var warmup: Int
    /// `--warmup-start-lr`: the LR at t = 0 during warmup; nil means
    /// `defaultWarmupStartFraction`·lr0 (1% of lr0), so no update ever runs at LR 0.
    public var warmupStartLearningRate: Double?
    /// `--hold`: units at lr0 after warmup before the decay starts (Optax `transition_begin`).
    public var hold: Int
    /// `--min-lr`: the floor under the decayed LR, `max(lr, minLR)`; nil means no floor.
    public var minimumLearningRate: Double?
    /// `--staircase`: hold the LR for this many units, at the value of the continuous curve at the
    /// start of each stair (γ^(S·⌊t/S⌋)); nil means continuous.
    public var staircase: Int?

    /// lr0 when `--lr` is not given.
    public static let defaultLearningRate = 0.1
    /// γ per epoch when none of `--gamma`, `--half-life`, `--final-lr` is given.
    public static let defaultGamma = 0.95
    /// `warmupStartLearningRate` = this × lr0 when `--warmup-start-lr` is not given.
    public static let defaultWarmupStartFraction = 0.01

    public init(
        learningRate: Double = ScheduleConfiguration.defaultLearningRate, gamma: Double? = nil,
        halfLife: Double? = nil, finalLearningRate: Double? = nil, unit: ScheduleUnit = .epoch,
        smooth: Bool = false, warmup: Int = 0, warmupStartLearningRate: Double? = nil, hold: Int = 0,
        minimumLearningRate: Double? = nil, staircase: Int? = nil
    ) {
        self.learningRate = learningRate
        self.gamma = gamma
        self.halfLife = halfLife
        self.finalLearningRate = finalLearningRate
        self.unit = unit
        self.smooth = smooth
        self.warmup = warmup
        self.warmupStartLearningRate = warmupStartLearningRate
        self.hold = hold
        self.minimumLearningRate = minimumLearningRate
        self.staircase = staircase
    }

    /// The LR at t = 0 of the warmup: `warmupStartLearningRate`, or 1% of lr0 when not given.
    public var resolvedWarmupStartLearningRate: Double {
        warmupStartLearningRate ?? Self.defaultWarmupStartFraction * learningRate
    }

    // MARK: - Validation

    /// Checks everything that does not depend on the run's length or steps per epoch (those are
    /// checked by `ExponentialSchedule.init`). Throws the first `ScheduleError` found.
    public func validate() throws(ScheduleError) {
        try requirePositive("--lr", learningRate)

        let given = [("--gamma", gamma != nil), ("--half-life", halfLife != nil), ("--final-lr", finalLearningRate != nil)]
            .filter(\.1).map(\.0)
        if given.count > 1 { throw .conflictingDecayParameters(given) }

        if let gamma, !(gamma > 0 && gamma <= 1) { throw .gammaOutOfRange(gamma) }
        if let gamma, gamma < Double.leastNormalMagnitude { throw .decayFactorSubnormal(gamma: gamma) }
        // 2^(−1/h) is normal for h ≥ 1/1022.
        if let halfLife, halfLife.isFinite, halfLife > 0, GammaConversion.gamma(halfLife: halfLife) < Double.leastNormalMagnitude {
            throw .decayFactorSubnormal(gamma: GammaConversion.gamma(halfLife: halfLife))
        }
        if let halfLife { try requirePositive("--half-life", halfLife) }
        if let finalLearningRate {
            try requirePositive("--final-lr", finalLearningRate)
            if finalLearningRate >= learningRate {
                throw .finalNotBelowInitial(final: finalLearningRate, initial: learningRate)
            }
        }

        if warmup < 0 { throw .lengthBelowMinimum(flag: "--warmup", value: warmup, minimum: 0) }
        if let warmupStartLearningRate {
            try requirePositive("--warmup-start-lr", warmupStartLearningRate)
            if warmupStartLearningRate > learningRate {
                throw .warmupStartAboveInitial(start: warmupStartLearningRate, initial: learningRate)
            }
        }
        if hold < 0 { throw .lengthBelowMinimum(flag: "--hold", value: hold, minimum: 0) }

        if let minimumLearningRate {
            try requirePositive("--min-lr", minimumLearningRate)
            if minimumLearningRate > learningRate {
                throw .minimumAboveInitial(minimum: minimumLearningRate, initial: learningRate)
            }
            if let finalLearningRate, finalLearningRate < minimumLearningRate {
                throw .finalBelowMinimum(final: finalLearningRate, minimum: minimumLearningRate)
            }
        }

        if let staircase, staircase < 1 {
            throw .lengthBelowMinimum(flag: "--staircase", value: staircase, minimum: 1)
        }
        if smooth && unit == .step { throw .smoothNeedsEpochUnit }
    }

    private func requirePositive(_ flag: String, _ value: Double) throws(ScheduleError) {
        if !(value.isFinite && value > 0) { throw .notPositive(flag: flag, value: value) }
        if value < Double.leastNormalMagnitude { throw .subnormal(flag: flag, value: value) }
    }
}
