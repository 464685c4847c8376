import Reporting

/// `--checkpoint-dir` names a folder that already holds checkpoints, for a run that starts afresh
/// (no `--resume`, no `--overwrite`): its checkpoints would replace the other run's of the same
/// steps, and `--keep-last` would count that run's checkpoints as this run's.
public struct CheckpointDirectoryInUse: ReportableError, Equatable {
    public let path: String
    /// The checkpoints' steps, ascending.
    public let steps: [Int64]

    public init(path: String, steps: [Int64]) {
        self.path = path
        self.steps = steps
    }

    public var exitStatus: ExitStatus { .usage }
    public var description: String {
        let range = steps.count == 1 ? "step \(steps[0])" : "steps \(steps.first!)…\(steps.last!)"
        return "--checkpoint-dir \(path) already holds \(steps.count) checkpoint\(steps.count == 1 ? "" : "s") (\(range)) of another run"
    }
    public var hint: String? {
        "continue that run with --resume auto, choose another --checkpoint-dir, or pass --overwrite to delete them"
    }
}
