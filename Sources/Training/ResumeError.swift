import Reporting

/// A checkpoint that reads as a valid file but cannot be resumed by this run. Every case names
/// the file. Every rank detects it from the same broadcast bytes (the trainer reports it through
/// `CollectiveFailure`, so rank 0 alone prints it).
public enum ResumeError: ReportableError, Equatable {
    /// Configuration fields differ from the checkpoint's, without `--allow-config-change`.
    case configurationDiffers(file: String, differences: [ConfigurationDifference])
    /// Fields that can never change on resume differ, even with `--allow-config-change`.
    case fixedFieldsDiffer(file: String, differences: [ConfigurationDifference])
    /// The training set is not the one the checkpoint was trained on.
    case dataDiffers(file: String, what: String, stored: String, current: String)
    /// The checkpoint's counters contradict each other or this run.
    case inconsistentState(file: String, reason: String)
    /// A value recomputed from the configuration (learning rate, data order, schedule) differs
    /// from the one the checkpoint stored.
    case derivedValueDiffers(file: String, what: String, stored: String, recomputed: String)
    /// The checkpoint lies beyond the end of this run (`--epochs` lowered with `--allow-config-change`).
    case beyondTheRun(file: String, epoch: Int, epochs: Int)

    public var exitStatus: ExitStatus {
        switch self {
        case .configurationDiffers, .fixedFieldsDiffer, .beyondTheRun: .usage
        case .dataDiffers, .inconsistentState, .derivedValueDiffers: .data
        }
    }

    public var isCollective: Bool { true }

    public var description: String {
        switch self {
        case let .configurationDiffers(file, differences):
            "checkpoint \(file) was written with a different configuration (checkpoint → command line): "
                + differences.map(\.description).joined(separator: "; ")
        case let .fixedFieldsDiffer(file, differences):
            "checkpoint \(file) cannot be resumed with a different "
                + differences.map(\.fieldAndFlag).joined(separator: ", ") + " (checkpoint → command line: "
                + differences.map { "\($0.referenceValue ?? "(not set)") → \($0.value ?? "(not set)")" }.joined(separator: "; ")
                + "): the tensor shapes, the optimizer state or the position in the data depend on "
                + (differences.count == 1 ? "it" : "them")
        case let .dataDiffers(file, what, stored, current):
            "checkpoint \(file) was trained on a different training set: \(what) is \(stored) in the checkpoint, \(current) now"
        case let .inconsistentState(file, reason):
            "checkpoint \(file) is inconsistent: \(reason)"
        case let .derivedValueDiffers(file, what, stored, recomputed):
            "checkpoint \(file): the \(what) recomputed from the configuration is \(recomputed), the checkpoint stored \(stored)"
        case let .beyondTheRun(file, epoch, epochs):
            "checkpoint \(file) is at epoch \(epoch), beyond the end of this run (--epochs \(epochs))"
        }
    }

    public var hint: String? {
        switch self {
        case .configurationDiffers:
            "resume with the options the checkpoint was written with (lockstep checkpoint inspect shows its "
                + "configuration), or pass --allow-config-change to change them deliberately"
        case .fixedFieldsDiffer:
            "resume with the checkpoint's values, or start a new run in another --checkpoint-dir"
        case .dataDiffers:
            "resume on the dataset the checkpoint was trained on (--data-dir, --limit-train)"
        case .inconsistentState:
            "the file was not written by this version of lockstep's trainer; resume from another checkpoint (--resume PATH)"
        case .derivedValueDiffers:
            "the checkpoint was written by a lockstep build that computes differently; resume it with that build, "
                + "or pass --allow-config-change to continue with the recomputed values"
        case .beyondTheRun:
            "give --epochs at least the checkpoint's epoch"
        }
    }
}
