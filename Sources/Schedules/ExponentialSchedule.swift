import RealModule

/// Which part of the schedule a step is in. In step order a schedule goes through
/// `.warmup`, `.hold`, `.decay`, `.floor` (each possibly empty) and never comes back.
public enum SchedulePhase: String, Codable, Sendable, CaseIterable {
    /// t < W: linear warmup from the warmup start LR to lr0.
    case warmup
    /// W ≤ t < W + hold: constant lr0.
    case hold
    /// Exponential decay above the floor.
    case decay
    /// The decayed curve is at or below `--min-lr`: the LR is the floor.
    case floor
}

/// An exponential learning-rate schedule, resolved and validated: a pure function of the global
/// optimizer step (DESIGN.md §4).
///
/// With t the time in units (below) and W, H, S the warmup, hold and staircase lengths:
///
///     t < W:          lr = start + (lr0 − start)·t/W                      linear warmup
///     W ≤ t < W + H:  lr = lr0                                            hold
///     otherwise:      c = t − W − H (the decay clock), c = S·⌊c/S⌋ with a staircase,
///                     lr = max(lr0·γ^c, minLR)                            decay, floor
///
/// t is the step with `--unit step`; with `--unit epoch` it is ⌊step / stepsPerEpoch⌋ (constant
/// within an epoch, as PyTorch `ExponentialLR` stepped once per epoch), or step / stepsPerEpoch
/// (fractional) with `--smooth`. γ^c is computed in closed form (`pow`), never by repeated
/// multiplication, so lr(t) has about one rounding error whatever t is. The staircase follows the
/// seed (the continuous curve sampled at each stair); Keras/Optax's per-stair `decay_rate` is γ^S.
/// The floor applies to the decay only: a warmup may start below it.
public struct ExponentialSchedule: Equatable, Sendable {
    /// The flags this schedule was resolved from.
    public let configuration: ScheduleConfiguration
    /// Optimizer updates per epoch (≥ 1); maps steps to epochs with `unit == .epoch`.
    public let stepsPerEpoch: Int
    /// The schedule's length T in its unit, when known (needed by `--final-lr`).
    public let totalUnits: Int?
    /// The resolved decay factor per unit, in (0, 1].
    public let gamma: Double
    /// The resolved LR at the start of the warmup (used only when `warmup > 0`).
    public let warmupStartLearningRate: Double

    /// Resolves and validates `configuration`.
    ///
    /// - Parameters:
    ///   - stepsPerEpoch: optimizer updates per epoch (≥ 1).
    ///   - totalUnits: the schedule's length T in its unit (`train` passes its epoch count, times
    ///     `stepsPerEpoch` when `unit == .step`), or nil when unknown. Needed by `--final-lr`, which
    ///     chooses γ = (final / lr0)^(1/n) with n = T − 1 − warmup − hold (rounded down to a whole
    ///     number of stairs with `--staircase`), so that the last trained unit T − 1 uses exactly
    ///     `final`; with `--smooth` that is the first step of the last epoch (the curve is the same
    ///     with or without `--smooth`). When given, warmup + hold must be shorter than T.
    /// - Throws: `ScheduleError` naming the offending flag.
    public init(_ configuration: ScheduleConfiguration, stepsPerEpoch: Int, totalUnits: Int?) throws(ScheduleError) {
        try configuration.validate()
        if stepsPerEpoch < 1 {
            throw .lengthBelowMinimum(flag: "--steps-per-epoch", value: stepsPerEpoch, minimum: 1)
        }
        let unit = configuration.unit
        let (sum, overflow) = configuration.warmup.addingReportingOverflow(configuration.hold)
        let undecayed = overflow ? Int.max : sum
        if let totalUnits {
            if totalUnits < 1 { throw .totalBelowOne(totalUnits) }
            if undecayed >= totalUnits {
                throw .warmupAndHoldCoverTotal(
                    warmup: configuration.warmup, hold: configuration.hold, total: totalUnits, unit: unit)
            }
        }

        if let gamma = configuration.gamma {
            self.gamma = gamma
        } else if let halfLife = configuration.halfLife {
            self.gamma = GammaConversion.gamma(halfLife: halfLife)
        } else if let final = configuration.finalLearningRate {
            guard let totalUnits else { throw .finalNeedsTotal }
            let stair = configuration.staircase ?? 1
            let decayedUnits = totalUnits - 1 - undecayed
            let stairStart = stair * (decayedUnits / stair)
            if stairStart < 1 {
                throw .finalUnreachable(final: final, decayedUnits: decayedUnits, stair: stair, unit: unit)
            }
            self.gamma = GammaConversion.gamma(
                initial: configuration.learningRate, final: final, decayedUnits: stairStart)
        } else {
            self.gamma = ScheduleConfiguration.defaultGamma
        }
        // A decay factor below the smallest normal Double (from --gamma, a tiny --half-life, or a
        // --final-lr far below --lr) would underflow the rates to subnormals and then 0.
        guard self.gamma >= Double.leastNormalMagnitude else { throw .decayFactorSubnormal(gamma: self.gamma) }

        self.configuration = configuration
        self.stepsPerEpoch = stepsPerEpoch
        self.totalUnits = totalUnits
        self.warmupStartLearningRate = configuration.resolvedWarmupStartLearningRate
    }

    // MARK: - Values

    /// The LR of update `step` (0-based global optimizer step; update t uses lr(t)), in closed form.
    /// Precondition: step ≥ 0.
    public func lr(at step: Int64) -> Double {
        learningRate(atTime: time(at: step))
    }

    /// Which part of the schedule `step` is in, so that the trainer can log "warmup ended" and
    /// "floor reached" once. Precondition: step ≥ 0.
    public func phase(at step: Int64) -> SchedulePhase {
        let t = time(at: step)
        if t < Double(configuration.warmup) { return .warmup }
        guard let clock = decayClock(atTime: t) else { return .hold }
        if let floor = configuration.minimumLearningRate, curve(atDecayClock: clock) <= floor { return .floor }
        return .decay
    }

    /// The time t in units of update `step`: the step itself, the epoch index, or the fractional
    /// epoch with `smooth`.
    public func time(at step: Int64) -> Double {
        precondition(step >= 0, "ExponentialSchedule.time(at: \(step)): steps are 0-based")
        switch configuration.unit {
        case .step:
            return Double(step)
        case .epoch:
            let steps = Int64(stepsPerEpoch)
            return configuration.smooth ? Double(step) / Double(steps) : Double(step / steps)
        }
    }

    /// The LR at time `t` units (t ≥ 0), the formula in the type's documentation.
    func learningRate(atTime t: Double) -> Double {
        let lr0 = configuration.learningRate
        let warmup = Double(configuration.warmup)
        if t < warmup {
            return warmupStartLearningRate + (lr0 - warmupStartLearningRate) * (t / warmup)
        }
        guard let clock = decayClock(atTime: t) else { return lr0 }
        return max(curve(atDecayClock: clock), configuration.minimumLearningRate ?? 0)
    }

    /// The decay clock t − W − H, rounded down to the start of its stair; nil during warmup and hold.
    private func decayClock(atTime t: Double) -> Double? {
        let clock = t - Double(configuration.warmup) - Double(configuration.hold)
        if clock < 0 { return nil }
        guard let stair = configuration.staircase.map(Double.init) else { return clock }
        return stair * (clock / stair).rounded(.down)
    }

    /// lr0·γ^c, without the floor.
    private func curve(atDecayClock clock: Double) -> Double {
        configuration.learningRate * Double.pow(gamma, clock)
    }
}

// MARK: - Codable

/// Encodes the flags, the steps per epoch and the length, plus the derived γ and warmup start LR
/// for readers. Decoding re-derives the schedule from the flags (so a decoded schedule is always
/// valid) and refuses the data when the stored derived values differ from the re-derived ones by
/// more than 1e-12 relative ("derive, don't store": stored values are only compared).
extension ExponentialSchedule: Codable {
    private enum CodingKeys: String, CodingKey {
        case configuration, stepsPerEpoch, totalUnits, gamma, warmupStartLearningRate
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            container.decode(ScheduleConfiguration.self, forKey: .configuration),
            stepsPerEpoch: container.decode(Int.self, forKey: .stepsPerEpoch),
            totalUnits: container.decodeIfPresent(Int.self, forKey: .totalUnits))
        for (key, derived) in [(CodingKeys.gamma, gamma), (.warmupStartLearningRate, warmupStartLearningRate)] {
            guard let stored = try container.decodeIfPresent(Double.self, forKey: key) else { continue }
            if !(abs(stored - derived) <= 1e-12 * abs(derived)) {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: container,
                    debugDescription: "stored \(key.stringValue) \(stored) differs from \(derived) derived from the configuration")
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(stepsPerEpoch, forKey: .stepsPerEpoch)
        try container.encodeIfPresent(totalUnits, forKey: .totalUnits)
        try container.encode(gamma, forKey: .gamma)
        try container.encode(warmupStartLearningRate, forKey: .warmupStartLearningRate)
    }
}
