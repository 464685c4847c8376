import ArgumentParser
import Schedules
import Training

extension ScheduleUnit: ExpressibleByArgument {}
extension LearningRateScaling: ExpressibleByArgument {}

/// The learning-rate schedule flags shared by `lockstep train` and `lockstep schedule`; they map
/// one to one onto `ScheduleConfiguration`, and `--lr-scaling` / `--lr-reference-batch` onto its
/// scaling to the global batch (see README "Learning-rate schedule").
struct ScheduleOptions: ParsableArguments {
    @Option(name: .customLong("lr"), help: ArgumentHelp("Peak learning rate lr0, reached when warmup ends.", valueName: "lr"))
    var learningRate: Double = ScheduleConfiguration.defaultLearningRate

    @Option(help: ArgumentHelp(
        "Decay factor per unit, in (0, 1]: lr = lr0·gamma^t. Default 0.95 (0.85 with train --model cnn) when none of --gamma, --half-life, --final-lr is given.",
        valueName: "factor"))
    var gamma: Double?

    @Option(name: .customLong("half-life"), help: ArgumentHelp(
        "Units (epochs or steps) for the LR to halve: gamma = 2^(-1/half-life).", valueName: "units"))
    var halfLife: Double?

    @Option(name: .customLong("final-lr"), help: ArgumentHelp(
        "LR of the last trained unit T-1 (after warmup and hold); needs the run's length.", valueName: "lr"))
    var finalLearningRate: Double?

    @Option(help: ArgumentHelp(
        "Unit of every length and rate: epoch (LR constant within an epoch unless --smooth) or step.", valueName: "unit"))
    var unit: ScheduleUnit = .epoch

    @Flag(inversion: .prefixedNo, help: "With --unit epoch, move the LR every step along the same curve (t = step / steps per epoch).")
    var smooth = false

    @Option(help: ArgumentHelp(
        "Units of linear warmup from --warmup-start-lr to --lr; the decay starts after it.", valueName: "units"))
    var warmup: Int = 0

    @Option(name: .customLong("warmup-start-lr"), help: ArgumentHelp(
        "LR of the first warmup unit (> 0). Default: 1% of --lr.", valueName: "lr"))
    var warmupStartLearningRate: Double?

    @Option(help: ArgumentHelp("Units at --lr after warmup before the decay starts.", valueName: "units"))
    var hold: Int = 0

    @Option(name: .customLong("min-lr"), help: ArgumentHelp(
        "Floor under the decayed LR: max(lr, min-lr). Default: no floor.", valueName: "lr"))
    var minimumLearningRate: Double?

    @Option(help: ArgumentHelp(
        "Stairs of S units: the LR stays at the curve's value at the start of each stair, lr0·gamma^(S·floor(t/S)). Keras/Optax's per-stair decay_rate is gamma^S. Default: continuous.",
        valueName: "units"))
    var staircase: Int?

    @Option(
        name: .customLong("lr-scaling"),
        help: ArgumentHelp(
            "Scale the base learning rate to the global batch B: none, linear (× B/B_ref, Goyal et al. 2017; pair it with warmup) or sqrt (× √(B/B_ref)). Applied once, never again on resume.",
            valueName: "rule"))
    var learningRateScaling = LearningRateScaling.none

    @Option(
        name: .customLong("lr-reference-batch"),
        help: ArgumentHelp(
            "B_ref for --lr-scaling, in samples: the global batch the base learning rate was tuned for (default \(TrainingConfiguration.defaults.learningRateReferenceBatch)).",
            valueName: "samples"))
    var givenReferenceBatch: Int?

    /// B_ref in samples.
    var learningRateReferenceBatch: Int { givenReferenceBatch ?? TrainingConfiguration.defaults.learningRateReferenceBatch }

    /// The schedule a run of global batch `globalBatch` uses: `configuration()` with
    /// `--lr-scaling` applied (what `train` builds its schedule from).
    func scaledConfiguration(globalBatch: Int) throws -> ScheduleConfiguration {
        try configuration().scaled(
            by: learningRateScaling, globalBatch: globalBatch, referenceBatch: learningRateReferenceBatch)
    }

    /// The flags as a configuration (before `--lr-scaling`), validated as far as possible without
    /// the run's length.
    /// - Throws: `ScheduleError` naming the flag.
    /// - Parameter recipe: the model preset's settings (its `gamma` when no decay is given).
    func configuration(recipe: ModelRecipe = .none) throws -> ScheduleConfiguration {
        let decayGiven = gamma != nil || halfLife != nil || finalLearningRate != nil
        let configuration = ScheduleConfiguration(
            learningRate: learningRate, gamma: decayGiven ? gamma : recipe.gamma, halfLife: halfLife, finalLearningRate: finalLearningRate,
            unit: unit, smooth: smooth, warmup: warmup, warmupStartLearningRate: warmupStartLearningRate,
            hold: hold, minimumLearningRate: minimumLearningRate, staircase: staircase)
        try configuration.validate()
        return configuration
    }

    mutating func validate() throws {
        _ = try ValidationError.wrapping { try configuration() }
        if let givenReferenceBatch {
            if givenReferenceBatch <= 0 {
                throw ValidationError("--lr-reference-batch must be a positive number of samples, found \(givenReferenceBatch)")
            }
            if learningRateScaling == .none {
                throw ValidationError("--lr-reference-batch has no effect with --lr-scaling none\nHint: give --lr-scaling linear or sqrt, or drop --lr-reference-batch")
            }
        }
    }
}

extension ValidationError {
    /// Runs `body`, turning a `ScheduleError` into a `ValidationError` (message and hint), so that
    /// swift-argument-parser prints it with the usage and exits with EX_USAGE (64).
    static func wrapping<Value>(_ body: () throws -> Value) throws -> Value {
        do {
            return try body()
        } catch let error as ScheduleError {
            throw ValidationError(error.description + (error.hint.map { "\nhint: \($0)" } ?? ""))
        }
    }
}
