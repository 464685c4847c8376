import Foundation
import RealModule

/// The decay-parameter calculator and schedule validator of the seed, corrected: the figures of an
/// `ExponentialSchedule` over its length T, and warnings about schedules that decay too little or
/// too much.
///
/// Corrections to the seed's `calculate_decay_params`/`validate_schedule`: the final LR is the one
/// of the last trained unit T − 1 (not of T, which is never trained); halvings count the decay
/// actually done by T − 1 (after warmup and hold, with the staircase and floor); "half-life longer
/// than the run" and "fewer than one halving" were one condition reported twice and are now one
/// warning; every boundary is compared with a relative tolerance of 1e-9, so a half-life of exactly
/// T/10 recomputed as 9.999999999999998 does not warn.
public struct ScheduleAnalysis: Codable, Equatable, Sendable {
    /// The LR at the start of one unit.
    public struct Milestone: Codable, Equatable, Sendable {
        public let unit: Int
        public let learningRate: Double

        private enum CodingKeys: String, CodingKey {
            case unit, learningRate = "lr"
        }
    }

    /// What a warning is about; each is reported at most once.
    public enum WarningKind: String, Codable, Sendable, CaseIterable {
        /// The LR of the last trained unit is below `tinyLearningRate` (1e-8).
        case finalLearningRateTiny = "final_lr_below_1e-8"
        /// The LR halves less than once by the last trained unit.
        case lessThanOneHalving = "less_than_one_halving"
        /// The LR halves more than 10 times by the last trained unit.
        case moreThanTenHalvings = "more_than_ten_halvings"
        /// The half-life is shorter than T/10.
        case shortHalfLife = "half_life_below_tenth_of_total"
    }

    public struct Warning: Codable, Equatable, Sendable {
        public let kind: WarningKind
        /// One sentence with the numbers and the flag to change.
        public let message: String
    }

    /// The LR below which updates are considered negligible.
    public static let tinyLearningRate = 1e-8
    /// Relative tolerance of every warning boundary.
    public static let boundaryTolerance = 1e-9
    /// Fewer halvings than this over the run (and more than none) warn that the decay barely matters.
    public static let minimumHalvings = 0.5

    public let unit: ScheduleUnit
    /// T, the schedule's length in units; the last trained unit is T − 1.
    public let totalUnits: Int
    /// lr0, the peak LR.
    public let initialLearningRate: Double
    /// γ, the decay factor per unit.
    public let gamma: Double
    /// λ = −ln γ, the continuous decay constant per unit.
    public let decayConstant: Double
    /// ln 2 / λ, in units; nil when γ = 1.
    public let halfLife: Double?
    /// (1 − γ)·100: the percentage the LR loses per unit of decay.
    public let decayPercentPerUnit: Double
    /// ln 0.01 / ln γ: units of decay (counted from the end of warmup and hold, without staircase or
    /// floor) for the curve to reach 1% of lr0; nil when γ = 1.
    public let unitsToOnePercent: Double?
    /// γ^S with `--staircase S`: Keras/Optax's per-stair `decay_rate`; nil without a staircase.
    public let perStairFactor: Double?
    /// γ^(1/stepsPerEpoch), the per-step γ of the same curve; only with `--unit epoch` and more than
    /// one step per epoch.
    public let perStepGamma: Double?
    /// The LR at units 0, ⌊T/4⌋, ⌊T/2⌋, ⌊3T/4⌋ and T − 1 (duplicates removed).
    public let milestones: [Milestone]
    /// The LR of the last trained unit T − 1.
    public let finalLearningRate: Double
    /// log2(lr0 / LR at T − 1): how many times the LR halved by the end of training.
    public let halvings: Double
    public let warnings: [Warning]

    /// The JSON keys of `lockstep schedule analyze --json`.
    private enum CodingKeys: String, CodingKey {
        case unit, totalUnits = "total", initialLearningRate = "lr", gamma, decayConstant = "lambda"
        case halfLife = "half_life", decayPercentPerUnit = "decay_percent_per_unit"
        case unitsToOnePercent = "units_to_one_percent", perStairFactor = "per_stair_factor"
        case perStepGamma = "per_step_gamma", milestones, finalLearningRate = "final_lr", halvings, warnings
    }

    /// Analyses `schedule` over its `totalUnits`. Precondition: `schedule.totalUnits` is set.
    public init(_ schedule: ExponentialSchedule) {
        guard let total = schedule.totalUnits else {
            preconditionFailure("ScheduleAnalysis needs a schedule built with totalUnits")
        }
        let configuration = schedule.configuration
        let gamma = schedule.gamma
        let lastUnit = total - 1
        unit = configuration.unit
        totalUnits = total
        initialLearningRate = configuration.learningRate
        self.gamma = gamma
        decayConstant = GammaConversion.decayConstant(gamma: gamma)
        halfLife = GammaConversion.halfLife(gamma: gamma)
        decayPercentPerUnit = (1 - gamma) * 100
        unitsToOnePercent = gamma == 1 ? nil : Double.log(0.01) / Double.log(gamma)
        perStairFactor = configuration.staircase.map { GammaConversion.perStairFactor(gamma: gamma, stair: $0) }
        perStepGamma = configuration.unit == .epoch && schedule.stepsPerEpoch > 1
            ? GammaConversion.perStepGamma(perEpochGamma: gamma, stepsPerEpoch: schedule.stepsPerEpoch) : nil
        var units = [0, total / 4, total / 2, 3 * total / 4, lastUnit]
        units = units.enumerated().filter { $0.offset == 0 || $0.element != units[$0.offset - 1] }.map(\.element)
        milestones = units.map { Milestone(unit: $0, learningRate: schedule.learningRate(atTime: Double($0))) }
        finalLearningRate = schedule.learningRate(atTime: Double(lastUnit))
        halvings = Double.log2(configuration.learningRate / finalLearningRate)
        warnings = Self.warnings(
            unit: configuration.unit, totalUnits: total, halfLife: halfLife,
            finalLearningRate: finalLearningRate, halvings: halvings)
    }

    // MARK: - Warnings

    private static func warnings(
        unit: ScheduleUnit, totalUnits: Int, halfLife: Double?, finalLearningRate: Double, halvings: Double
    ) -> [Warning] {
        let below = { (value: Double, bound: Double) in value < bound * (1 - boundaryTolerance) }
        let above = { (value: Double, bound: Double) in value > bound * (1 + boundaryTolerance) }
        let last = "the last trained \(unit.rawValue) (\(totalUnits - 1))"
        var found: [Warning] = []
        if below(finalLearningRate, tinyLearningRate) {
            found.append(Warning(
                kind: .finalLearningRateTiny,
                message: "the LR of \(last) is \(format(finalLearningRate)), below \(format(tinyLearningRate)): "
                    + "such updates change almost nothing; decay more slowly or set --min-lr"))
        }
        // Fewer than half a halving (the LR ends above 71 % of its start): the reference warns
        // below one, but that flags γ = 0.95 over 10 epochs, lockstep's default, which trains
        // well; γ = 1 is a deliberate constant rate.
        if below(halvings, minimumHalvings), halvings > 0 {
            found.append(Warning(
                kind: .lessThanOneHalving,
                message: "the LR halves only \(format(halvings)) times by \(last): the decay barely matters; "
                    + "decay faster (smaller --gamma, --half-life or --final-lr)"))
        } else if above(halvings, 10) {
            found.append(Warning(
                kind: .moreThanTenHalvings,
                message: "the LR halves \(format(halvings)) times by \(last), more than 10: it ends "
                    + "negligibly small; decay more slowly or set --min-lr"))
        }
        let tenth = Double(totalUnits) / 10
        if let halfLife, below(halfLife, tenth) {
            found.append(Warning(
                kind: .shortHalfLife,
                message: "the half-life (\(format(halfLife)) \(unit.name(count: halfLife))) is shorter than a "
                    + "tenth of the run (\(format(tenth)) \(unit.name(count: tenth))): the LR decays too fast"))
        }
        return found
    }

    private static func format(_ value: Double) -> String {
        String(format: "%.4g", value)
    }
}
