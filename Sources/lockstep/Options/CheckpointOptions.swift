import ArgumentParser
import Training

/// `lockstep train`: checkpoints, resume and early stop (README "Checkpoints and resume").
struct CheckpointOptions: ParsableArguments {
    @Option(name: .customLong("checkpoint-dir"), help: ArgumentHelp(
        "Where rank 0 writes a checkpoint (ckpt-step-<global step>.safetensors, atomically) at the end of every "
            + "epoch. Default: <run-dir>/checkpoints.", valueName: "dir"))
    var checkpointDirectory: String?

    @Flag(inversion: .prefixedNo, help: "Write checkpoints (--no-checkpoints: none).")
    var checkpoints = true

    @Option(name: .customLong("checkpoint-every"), help: ArgumentHelp(
        "Also write a checkpoint every N global steps inside an epoch; 0 writes only at epoch ends.", valueName: "steps"))
    var checkpointEvery: Int = 0

    @Option(name: .customLong("keep-last"), help: ArgumentHelp(
        "Checkpoints kept in --checkpoint-dir: older ones are deleted after each write.", valueName: "K"))
    var keepLast: Int = CheckpointPolicy.defaultKeepLast

    @Option(help: ArgumentHelp(
        "Resume from the newest valid checkpoint in the checkpoint directory (auto: a fresh start when there is "
            + "none; give the run's --run-dir or --checkpoint-dir) or from the checkpoint file PATH; training "
            + "continues from the exact next sample.",
        valueName: "auto|path"))
    var resume: String?

    @Flag(name: .customLong("allow-config-change"), inversion: .prefixedNo, help: ArgumentHelp(
        "With --resume, accept options that differ from the checkpoint's (e.g. a larger --epochs); each change is "
            + "logged. --hidden, --optimizer, --amsgrad, --seed, --global-batch and --limit-train can never change."))
    var allowConfigurationChange = false

    @Option(name: .customLong("stop-after-steps"), help: ArgumentHelp(
        "Stop after N optimizer steps of this invocation (to fit a job time limit), writing a checkpoint "
            + "(unless --no-checkpoints); rerun with --resume auto to continue.", valueName: "N"))
    var stopAfterSteps: Int?

    func validate() throws {
        guard checkpointEvery >= 0 else {
            throw ValidationError("--checkpoint-every must be 0 or a positive number of steps, got \(checkpointEvery)")
        }
        guard keepLast >= 1 else { throw ValidationError("--keep-last must be at least 1, got \(keepLast)") }
        if let stopAfterSteps, stopAfterSteps < 1 {
            throw ValidationError("--stop-after-steps must be at least 1, got \(stopAfterSteps)")
        }
        if !checkpoints {
            if checkpointDirectory != nil { throw ValidationError("--no-checkpoints and --checkpoint-dir contradict each other") }
            if checkpointEvery > 0 { throw ValidationError("--checkpoint-every needs checkpoints; drop --no-checkpoints") }
        }
        if checkpointDirectory?.isEmpty == true { throw ValidationError("--checkpoint-dir must not be empty") }
        if resume?.isEmpty == true { throw ValidationError("--resume needs auto or the path of a checkpoint file") }
        if allowConfigurationChange && resume == nil { throw ValidationError("--allow-config-change needs --resume") }
    }

    /// `--resume auto` must name the run it continues: a new default run directory has no checkpoints.
    func validateResume(runDirectoryGiven: Bool) throws {
        if resume == "auto", checkpointDirectory == nil, !runDirectoryGiven {
            throw ValidationError(
                "--resume auto needs the run to continue: --run-dir DIR (its checkpoints/ folder) or --checkpoint-dir DIR")
        }
    }

    /// The options as the trainer's policy; checkpoints go to `defaultDirectory` (the run
    /// directory's `checkpoints/`) unless `--checkpoint-dir` or `--no-checkpoints` says otherwise.
    func policy(defaultDirectory: String) -> CheckpointPolicy {
        CheckpointPolicy(
            directory: !checkpoints ? nil : (checkpointDirectory ?? defaultDirectory), everySteps: checkpointEvery, keepLast: keepLast,
            resume: resume.map { $0 == "auto" ? .auto : .path($0) } ?? .none,
            allowConfigurationChange: allowConfigurationChange, stopAfterSteps: stopAfterSteps)
    }
}
