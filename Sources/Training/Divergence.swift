import Foundation
import Reporting

/// What every rank does when training diverges (`--on-divergence`): the check reads the epoch's
/// reduced metrics, the same on every rank, so every rank decides alike.
public enum DivergencePolicy: String, Codable, Sendable, CaseIterable {
    /// Warn on the epoch line and go on.
    case warn
    /// Warn, write the epoch's checkpoint (the earlier ones stay, within `--keep-last`) and end
    /// the job with `ExitStatus.diverged`.
    case stop
}

/// A training run that is diverging, judged at an epoch's end from values every rank shares: the
/// epoch's mean training loss and test accuracy, and the earlier epochs' lines.
///
/// Diverging means any of:
/// - the training loss is more than `lossFactor` × the lowest of the earlier epochs' (a run that
///   was learning and blew up: `train loss 7.4700, was 0.5300 at epoch 1`);
/// - the training loss is more than `lossFactor` × ln(classes), what a model guessing uniformly
///   scores (a run that never learned: `--lr 10` gives 10²² in its first epoch);
/// - the test accuracy is at most `chanceFactor` / classes: chance level, which a run that learns
///   leaves within its first epoch.
/// None of them fires on a run that learns slowly, plateaus, or trains at a constant rate.
public struct Divergence: Equatable, Sendable {
    public static let lossFactor = 2.0
    public static let chanceFactor = 1.2

    /// What was seen, for the warning: `train loss 7.4700, was 0.5300 at epoch 1`.
    public let evidence: String

    /// The divergence of `line` after `earlier` (the run's previous epochs), or nil.
    public static func check(_ line: EpochMetrics, earlier: [EpochMetrics], classes: Int) -> Divergence? {
        let uniform = Foundation.log(Double(max(classes, 2)))
        // Printed as the epoch line prints them.
        let number = EpochMetrics.lossText
        if let best = earlier.min(by: { $0.trainLoss < $1.trainLoss }), line.trainLoss > lossFactor * best.trainLoss,
           line.trainLoss > best.trainLoss + 0.1 {
            return Divergence(evidence: "train loss \(number(line.trainLoss)), was \(number(best.trainLoss)) at epoch \(best.epoch)")
        }
        if line.trainLoss > lossFactor * uniform {
            return Divergence(evidence: "train loss \(number(line.trainLoss)), above the \(number(uniform)) of uniform guessing")
        }
        let chance = chanceFactor / Double(max(classes, 2))
        if line.testAccuracy <= chance {
            return Divergence(evidence: "test accuracy \(String(format: "%.4f", line.testAccuracy)), chance level for \(classes) classes")
        }
        return nil
    }

    /// `training is diverging at epoch 2 (train loss 7.4700, was 0.5300 at epoch 1): lower --lr`.
    public func warning(epoch: Int) -> String {
        "training is diverging at epoch \(epoch) (\(evidence)): lower --lr, or add warmup (--warmup) or clipping (--clip-grad-norm)"
    }
}

/// `--on-divergence stop` ended the run at an epoch whose metrics show divergence.
public struct DivergenceError: ReportableError, Equatable {
    public let epoch: Int
    public let evidence: String
    /// The newest checkpoint written before the divergence, if any.
    public let lastGoodCheckpoint: String?

    public var exitStatus: ExitStatus { .diverged }
    public var isCollective: Bool { true }
    public var description: String { "training diverged at epoch \(epoch) (\(evidence)); stopped (--on-divergence stop)" }
    public var hint: String? {
        let from = lastGoodCheckpoint.map { "continue from \($0) with --resume \($0) --allow-config-change and a lower --lr" }
            ?? "start again with a lower --lr"
        return "\(from); warmup (--warmup) or clipping (--clip-grad-norm) also help"
    }
}
