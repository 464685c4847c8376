import ArgumentParser
import Logging
import Tracing
import Training

/// `lockstep train`: the configuration file, the run directory and what rank 0 shows while it runs
/// (README "Config files", "Run directory", "Progress and logs").
struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Read options from this TOML file first: one key per option, named like the flag without "
            + "the dashes (lr = 0.05, hidden = \"512,256\", nesterov = true). Flags on the command line "
            + "override the file.", valueName: "file.toml"))
    var config: String?

    @Flag(help: ArgumentHelp(
        "Print the effective configuration as TOML (every option and its value) and exit; "
            + "feed it back with --config to repeat the run."))
    var printConfig = false

    @Option(help: ArgumentHelp(
        "Folder for this run's files: config.toml, metrics.jsonl, metrics.png, checkpoints/. "
            + "Default: runs/<yyyyMMdd-HHmmss> (under $LOCKSTEP_RUNS_DIR when set), the time taken on rank 0.",
        valueName: "dir"))
    var runDir: String?

    @Flag(help: ArgumentHelp(
        "Start afresh in a --run-dir that already holds a run, removing its config.toml, metrics and checkpoints, "
            + "and the checkpoints of a --checkpoint-dir (without it, such folders are refused unless --resume is given)."))
    var overwrite = false

    @Option(help: ArgumentHelp(
        "Write the JSON Lines metrics (one object per epoch: epoch, step, lr, train_loss, test_loss, "
            + "test_accuracy, samples_per_s, …) here instead of <run-dir>/metrics.jsonl.", valueName: "file"))
    var metrics: String?

    @Option(help: ArgumentHelp(
        "Record a timeline of every rank (data, forward and backward per layer, each bucket's reduction, "
            + "waits, the optimizer, evaluation, checkpoints, verification) and write it here at the end "
            + "of the run or on a stop, as Chrome trace-event JSON for Perfetto or chrome://tracing.",
        valueName: "file.json"))
    var trace: String?

    @Option(help: ArgumentHelp(
        "Spans each rank keeps for --trace (32 bytes each, allocated at the start); when a run records "
            + "more, the oldest give way.", valueName: "count"))
    var traceSpans: Int = TraceOutput.defaultCapacity

    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "At the end, draw loss, accuracy and LR into <run-dir>/metrics.png (python3 with matplotlib; "
            + "skipped with a hint when missing)."))
    var plots = true

    @Option(help: ArgumentHelp(
        "Progress of each epoch on rank 0: auto (a live line on a terminal, else plain lines; under "
            + "mpirun plain unless LOCKSTEP_TERMINAL=1, which scripts/train.sh sets on a terminal), tty "
            + "(the live line), plain (lines without escape codes) or none.",
        valueName: "mode"))
    var progress: ProgressMode = .auto

    @Option(help: ArgumentHelp(
        "Least seconds between two plain progress lines; there is at most one per tenth of an epoch, "
            + "so 0 prints one at each tenth.", valueName: "seconds"))
    var progressInterval: Double = 10

    @Option(help: ArgumentHelp(
        "Lowest level rank 0 logs: trace, debug, info, notice, warning, error or critical. Other ranks "
            + "log warnings and errors only.", valueName: "level"))
    var logLevel: Logger.Level = .info

    @Option(help: ArgumentHelp(
        "Prefix log lines with the UTC time (ISO 8601): auto (when the output is not a terminal, as "
            + "--progress auto decides; never with --progress tty), always or never.",
        valueName: "when"))
    var timestamps: TimestampMode = .auto

    func validate() throws {
        guard progressInterval >= 0, progressInterval.isFinite else {
            throw ValidationError("--progress-interval must be a finite number of seconds ≥ 0, got \(progressInterval)")
        }
        if let runDir, runDir.isEmpty { throw ValidationError("--run-dir must not be empty") }
        if let metrics, metrics.isEmpty { throw ValidationError("--metrics must not be empty") }
        if let trace, trace.isEmpty { throw ValidationError("--trace must not be empty") }
        guard (1...Timeline.maximumCapacity).contains(traceSpans) else {
            throw ValidationError("--trace-spans must be from 1 to \(Timeline.maximumCapacity.formatted()) (2 GiB of spans), got \(traceSpans)")
        }
    }
}

/// When log lines carry a timestamp.
enum TimestampMode: String, CaseIterable, ExpressibleByArgument {
    case auto, always, never
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
