import Reporting

/// An invalid learning-rate schedule. Every message names the flag (as spelled on the command
/// line of `lockstep train` and `lockstep schedule`), the value found and what was expected.
public enum ScheduleError: ReportableError, Equatable {
    /// A learning rate or half-life (`flag`) that is not a finite number > 0.
    case notPositive(flag: String, value: Double)
    /// A rate or length below the smallest normal `Double` (it would compute in subnormals).
    case subnormal(flag: String, value: Double)
    /// `--gamma` outside (0, 1], or not finite.
    case gammaOutOfRange(Double)
    /// The decay factor (given, or derived from `--half-life` or `--final-lr`) is below the
    /// smallest normal `Double`.
    case decayFactorSubnormal(gamma: Double)
    /// An integer length (`--warmup`, `--hold`, `--staircase`, `--steps-per-epoch`) below `minimum`.
    case lengthBelowMinimum(flag: String, value: Int, minimum: Int)
    /// The schedule's total length (`--total`; `--epochs` for train) is below 1.
    case totalBelowOne(Int)
    /// More than one of `--gamma`, `--half-life`, `--final-lr` (the flags given).
    case conflictingDecayParameters([String])
    /// `--final-lr` is not below `--lr`: exponential decay cannot reach it.
    case finalNotBelowInitial(final: Double, initial: Double)
    /// `--min-lr` above `--lr`.
    case minimumAboveInitial(minimum: Double, initial: Double)
    /// `--warmup-start-lr` above `--lr`: a warmup goes up.
    case warmupStartAboveInitial(start: Double, initial: Double)
    /// `--final-lr` below `--min-lr`: the floor would stop the decay before the target.
    case finalBelowMinimum(final: Double, minimum: Double)
    /// `--smooth` with `--unit step`, where the LR already moves every step.
    case smoothNeedsEpochUnit
    /// `--final-lr` without the schedule's length.
    case finalNeedsTotal
    /// Warmup plus hold cover the whole run: the schedule would never decay.
    case warmupAndHoldCoverTotal(warmup: Int, hold: Int, total: Int, unit: ScheduleUnit)
    /// `--final-lr` where the last trained unit is still on the first stair of the decay
    /// (`decayedUnits` = T − 1 − warmup − hold units of decay clock, fewer than one stair).
    case finalUnreachable(final: Double, decayedUnits: Int, stair: Int, unit: ScheduleUnit)

    public var exitStatus: ExitStatus { .usage }

    public var description: String {
        switch self {
        case .notPositive(let flag, let value):
            return "\(flag) \(value) must be a finite number > 0"
        case .subnormal(let flag, let value):
            return "\(flag) \(value) is subnormal: it must be at least \(Double.leastNormalMagnitude)"
        case .gammaOutOfRange(let gamma):
            return "--gamma \(gamma) is outside (0, 1]"
        case .decayFactorSubnormal(let gamma):
            return "the decay factor gamma = \(gamma) is below \(Double.leastNormalMagnitude), the smallest normal Double "
                + "(--gamma at least that, --half-life at least 1/1022 units, or a --final-lr closer to --lr)"
        case .lengthBelowMinimum(let flag, let value, let minimum):
            return "\(flag) \(value) must be at least \(minimum)"
        case .totalBelowOne(let total):
            return "the schedule's length (--total, or --epochs for train) is \(total); it must be at least 1"
        case .conflictingDecayParameters(let flags):
            return "only one of --gamma, --half-life, --final-lr may be given; found "
                + flags.joined(separator: " and ")
        case .finalNotBelowInitial(let final, let initial):
            return "--final-lr \(final) is not below --lr \(initial); exponential decay only goes down"
        case .minimumAboveInitial(let minimum, let initial):
            return "--min-lr \(minimum) is above --lr \(initial)"
        case .warmupStartAboveInitial(let start, let initial):
            return "--warmup-start-lr \(start) is above --lr \(initial); warmup rises to --lr"
        case .finalBelowMinimum(let final, let minimum):
            return "--final-lr \(final) is below --min-lr \(minimum); the floor would stop the decay first"
        case .smoothNeedsEpochUnit:
            return "--smooth needs --unit epoch; with --unit step the LR already changes every step"
        case .finalNeedsTotal:
            return "--final-lr needs the schedule's length (--total, or --epochs for train)"
        case .warmupAndHoldCoverTotal(let warmup, let hold, let total, let unit):
            return "--warmup \(warmup) + --hold \(hold) must be shorter than the schedule's length of "
                + "\(total) \(unit.name(count: total)); the LR would never decay"
        case .finalUnreachable(let final, let decayedUnits, let stair, let unit):
            if stair > 1 {
                return "--final-lr \(final) cannot be reached: the last trained \(unit.rawValue) is "
                    + "\(decayedUnits) \(unit.name(count: decayedUnits)) into the decay, still on its first "
                    + "stair of \(stair)"
            }
            return "--final-lr \(final) cannot be reached: the last trained \(unit.rawValue) is the first "
                + "\(unit.rawValue) of the decay"
        }
    }

    public var hint: String? {
        switch self {
        case .conflictingDecayParameters:
            "keep one: --gamma (factor per unit), --half-life (units), or --final-lr (LR of the last trained unit)"
        case .smoothNeedsEpochUnit:
            "drop --smooth, or give the schedule in epochs"
        case .finalNeedsTotal:
            "add --total with the number of units trained"
        case .warmupAndHoldCoverTotal, .finalUnreachable:
            "shorten --warmup, --hold or --staircase, or train longer"
        case .finalBelowMinimum:
            "lower --min-lr below --final-lr, or drop one of them"
        case .minimumAboveInitial:
            "--min-lr is the floor under the decayed LR; set it below --lr"
        default:
            nil
        }
    }
}
