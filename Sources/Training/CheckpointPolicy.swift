/// When a run writes checkpoints, where from it resumes, and when it stops early
/// (`--checkpoint-dir`, `--checkpoint-every`, `--keep-last`, `--resume`, `--allow-config-change`,
/// `--stop-after-steps`).
///
/// Kept apart from `TrainingConfiguration`: these settings say how one invocation runs, not what
/// is trained, so a checkpoint's stored configuration does not depend on them and a resumed run
/// may change them freely. The ranks still compare them at start-up (`fingerprintFields`), since
/// they decide collective control flow.
public struct CheckpointPolicy: Equatable, Sendable {
    /// Where rank 0 writes checkpoints (`ckpt-step-<global step>.safetensors`); nil writes none.
    /// Only rank 0 reads it, so it may differ between ranks.
    public var directory: String?
    /// Also write a checkpoint every this many global steps inside an epoch (0: only at epoch ends).
    public var everySteps: Int
    /// Checkpoints kept in `directory` after each write (the newest ones).
    public var keepLast: Int
    /// Where to resume from.
    public var resume: ResumeRequest
    /// Let the command line change configuration fields the checkpoint was written with (logged),
    /// except those that can never change (`Trainer.fixedFields`).
    public var allowConfigurationChange: Bool
    /// Stop after this many optimizer steps of this invocation (counted from the start or the
    /// resumed step), writing a checkpoint when `directory` is set; nil runs to the end.
    public var stopAfterSteps: Int?

    public static let defaultKeepLast = 3

    /// - Precondition: `everySteps ≥ 0`, `keepLast ≥ 1`, `stopAfterSteps ≥ 1` when set (the
    ///   command line validates them first).
    public init(
        directory: String? = nil, everySteps: Int = 0, keepLast: Int = defaultKeepLast, resume: ResumeRequest = .none,
        allowConfigurationChange: Bool = false, stopAfterSteps: Int? = nil
    ) {
        precondition(everySteps >= 0 && keepLast >= 1 && (stopAfterSteps ?? 1) >= 1,
                     "checkpoint policy every \(everySteps), keep \(keepLast), stop after \(String(describing: stopAfterSteps))")
        self.directory = directory
        self.everySteps = everySteps
        self.keepLast = keepLast
        self.resume = resume
        self.allowConfigurationChange = allowConfigurationChange
        self.stopAfterSteps = stopAfterSteps
    }

    /// The settings every rank must share, for the start-up agreement: whether checkpoints are
    /// written and when (each write is a collective verification and a broadcast), whether and how
    /// the run resumes, and when it stops. Paths are left out (only rank 0 uses them).
    var fingerprintFields: [String: String] {
        [
            "checkpoint.enabled": String(directory != nil), "checkpoint.everySteps": String(everySteps),
            "checkpoint.resume": resume.kind, "checkpoint.allowConfigurationChange": String(allowConfigurationChange),
            "checkpoint.stopAfterSteps": stopAfterSteps.map(String.init) ?? "none",
        ]
    }
}

/// `--resume`: start afresh, from the newest valid checkpoint of the checkpoint directory, or
/// from one file.
public enum ResumeRequest: Equatable, Sendable {
    /// A fresh start.
    case none
    /// `--resume auto`: the newest checkpoint in the checkpoint directory that reads and validates;
    /// a fresh start when the directory has none.
    case auto
    /// `--resume PATH`: this checkpoint file.
    case path(String)

    /// `none`, `auto` or `path` (the path itself may differ between ranks).
    var kind: String {
        switch self {
        case .none: "none"
        case .auto: "auto"
        case .path: "path"
        }
    }
}
