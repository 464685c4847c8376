import Foundation

/// One line of the `--metrics` JSON Lines file: the state at the end of an epoch.
public struct EpochMetrics: Codable, Equatable, Sendable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Global optimizer steps completed so far.
    public var step: Int64
    /// The learning rate of the epoch's last update.
    public var lr: Double
    /// Mean training loss over the epoch's samples (measured before each update).
    public var trainLoss: Double
    public var testLoss: Double
    public var testAccuracy: Double
    /// Training samples per second over all ranks, evaluation excluded.
    public var samplesPerSecond: Double
    /// Seconds spent training (evaluation excluded).
    public var epochSeconds: Double
    /// Seconds spent evaluating.
    public var evaluationSeconds: Double
    /// Updates skipped so far because the reduced loss or gradient was not finite.
    public var skippedSteps: Int64
    /// Mean and largest global gradient norm before clipping (only with `--clip-grad-norm`).
    public var gradientNormMean: Double?
    public var gradientNormMaximum: Double?
    /// Loss and accuracy on the samples held out by `--validation-split` (nil without it).
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    /// With more than one rank: the rank that computed longest this epoch (its training time minus
    /// its waits for the other ranks), its host, and how far above the median rank's compute it
    /// was (0.42: 42 % more); see `ComputeBalance`. Timings, like `samples_per_s`: they differ from
    /// run to run.
    public var slowestRank: Int?
    public var slowestHost: String?
    public var slowestExcess: Double?

    /// The JSON Lines names (README "Output").
    enum CodingKeys: String, CodingKey {
        case epoch, step, lr
        case trainLoss = "train_loss", testLoss = "test_loss", testAccuracy = "test_accuracy"
        case samplesPerSecond = "samples_per_s", epochSeconds = "epoch_seconds", evaluationSeconds = "eval_seconds"
        case skippedSteps = "skipped_steps", gradientNormMean = "grad_norm_mean", gradientNormMaximum = "grad_norm_max"
        case validationLoss = "val_loss", validationAccuracy = "val_accuracy"
        case slowestRank = "slowest_rank", slowestHost = "slowest_host", slowestExcess = "slowest_excess"
    }
}

extension EpochMetrics {
    /// The line rank 0 logs for the epoch: `epoch 3/10  lr 0.0902  train loss 0.3120  …`.
    public func summary(epochs: Int) -> String {
        func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
        let loss = Self.lossText
        return "epoch \(epoch)/\(epochs)  lr \(String(format: "%.6g", lr))  train loss \(loss(trainLoss))  "
            + (validationLoss.map { "val loss \(loss($0))  val acc \(fixed(validationAccuracy ?? 0, 4))  " } ?? "")
            + "test loss \(loss(testLoss))  test acc \(fixed(testAccuracy, 4))  "
            + "\(Int(samplesPerSecond.rounded())) samples/s  (\(fixed(epochSeconds, 2)) s train, \(fixed(evaluationSeconds, 2)) s eval)"
            + (skippedSteps > 0 ? "  skipped \(skippedSteps)" : "")
            + (gradientNormMaximum.map { "  grad norm mean \(Self.normText(gradientNormMean ?? 0)) max \(Self.normText($0))" } ?? "")
    }

    /// A loss for people: 4 decimals (`0.3120`), or 4 significant digits from 10,000 up
    /// (`1.561e+12`, where the decimals of a diverging run would be noise). `metrics.jsonl` keeps
    /// every digit.
    public static func lossText(_ value: Double) -> String { text(value, decimals: 4) }

    /// A gradient norm: as a loss, with 3 decimals.
    static func normText(_ value: Double) -> String { text(value, decimals: 3) }

    private static func text(_ value: Double, decimals: Int) -> String {
        String(format: value.magnitude < 1e4 || !value.isFinite ? "%.\(decimals)f" : "%.4g", value)
    }
}
