import Reporting

/// `--run-dir` names a folder that already holds a run, without `--resume` or `--overwrite`:
/// starting afresh there would replace that run's configuration and metrics and mix its
/// checkpoints with the new run's.
public struct RunDirectoryInUse: ReportableError, Equatable {
    public let path: String
    /// What it holds: `config.toml`, `metrics.jsonl`, `checkpoints/ (3 checkpoints)`.
    public let holds: [String]

    public init(path: String, holds: [String]) {
        self.path = path
        self.holds = holds
    }

    public var exitStatus: ExitStatus { .usage }
    public var description: String { "--run-dir \(path) already holds a run: \(holds.joined(separator: ", "))" }
    public var hint: String? {
        "continue it with --resume auto, choose another --run-dir, or pass --overwrite to replace it"
    }
}
