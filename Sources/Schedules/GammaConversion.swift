import RealModule

/// Conversions between the ways of stating an exponential decay lr(t) = lr0·γ^t = lr0·e^(−λt).
///
/// Legend: γ is the factor per unit, λ = −ln γ the continuous decay constant per unit,
/// h = ln 2 / λ the half-life in units.
public enum GammaConversion {
    /// γ from a half-life of `halfLife` units: γ = 2^(−1/h). Precondition: h > 0.
    public static func gamma(halfLife: Double) -> Double {
        precondition(halfLife > 0, "gamma(halfLife: \(halfLife)): the half-life must be > 0")
        return Double.exp2(-1 / halfLife)
    }

    /// γ such that lr0·γ^n = final: γ = (final / lr0)^(1/n), n ≥ 1 decayed units.
    ///
    /// Note the n: for the last trained unit T − 1 to use `final`, n is the decay clock at T − 1
    /// (T − 1 − warmup − hold), not T as in the seed's formula (which reaches `final` one unit after
    /// training ends).
    public static func gamma(initial: Double, final: Double, decayedUnits: Int) -> Double {
        precondition(decayedUnits >= 1 && initial > 0 && final > 0,
                     "gamma(initial: \(initial), final: \(final), decayedUnits: \(decayedUnits))")
        return Double.pow(final / initial, 1 / Double(decayedUnits))
    }

    /// The per-step γ that follows the same curve as the per-epoch `gamma`:
    /// γ_step = γ_epoch^(1/stepsPerEpoch). (The seed's "0.9999 per step ≈ 0.95 per epoch" holds only
    /// near 513 steps per epoch.)
    public static func perStepGamma(perEpochGamma gamma: Double, stepsPerEpoch: Int) -> Double {
        precondition(stepsPerEpoch >= 1, "perStepGamma(stepsPerEpoch: \(stepsPerEpoch))")
        return Double.pow(gamma, 1 / Double(stepsPerEpoch))
    }

    /// The inverse of `perStepGamma`: γ_epoch = γ_step^stepsPerEpoch.
    public static func perEpochGamma(perStepGamma gamma: Double, stepsPerEpoch: Int) -> Double {
        precondition(stepsPerEpoch >= 1, "perEpochGamma(stepsPerEpoch: \(stepsPerEpoch))")
        return Double.pow(gamma, Double(stepsPerEpoch))
    }

    /// The Keras `ExponentialDecay(staircase=True)` / Optax `exponential_decay(staircase=True)`
    /// `decay_rate` (factor per stair of `stair` units) equivalent to our per-unit γ: γ^stair.
    public static func perStairFactor(gamma: Double, stair: Int) -> Double {
        precondition(stair >= 1, "perStairFactor(stair: \(stair))")
        return Double.pow(gamma, Double(stair))
    }

    /// λ = −ln γ, the continuous decay constant per unit (0 when γ = 1).
    public static func decayConstant(gamma: Double) -> Double {
        -Double.log(gamma)
    }

    /// The half-life in units, ln 2 / λ = −ln 2 / ln γ; nil when γ = 1 (the LR never halves).
    public static func halfLife(gamma: Double) -> Double? {
        gamma == 1 ? nil : -Double.log(2) / Double.log(gamma)
    }
}
