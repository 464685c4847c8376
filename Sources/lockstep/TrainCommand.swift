import ArgumentParser
import Checkpoints
import Collectives
import Foundation
import Job
import Logging
import Optimizers
import Reporting
import Schedules
import Training

/// `lockstep train`: the main job.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model (--model) on Fashion-MNIST or your data (--data), data-parallel over the ranks of the job.",
        discussion: """
            Run it under mpirun for several ranks: mpirun -np 2 lockstep train --epochs 10. Rank 0 \
            shows each epoch's progress and one line per epoch and, at the end, "lockstep verified: N \
            ranks, params hash …" once every rank's parameters are shown identical. The run's \
            config.toml, metrics.jsonl and metrics.png go to --run-dir (default runs/<time>/). \
            Options can come from a TOML file (--config); --print-config shows them all.
            """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Training") var training: RunOptions
    @OptionGroup(title: "Optimizer") var optimizer: OptimizerOptions
    @OptionGroup(title: "Learning-rate schedule") var schedule: ScheduleOptions
    @OptionGroup(title: "Distribution") var distribution: DistributionOptions
    @OptionGroup(title: "Run") var output: OutputOptions
    @OptionGroup(title: "Checkpoints") var checkpoints: CheckpointOptions
    @OptionGroup(title: "Performance") var performance: PerformanceOptions

    /// The run's configuration from the parsed options; `metricsPath` is `--metrics` (the run
    /// directory's file is filled in once the directory is known).
    func trainingConfiguration() throws -> TrainingConfiguration {
        var configuration = TrainingConfiguration(
            dataDirectory: data.dataDirectory, limitTrain: data.limitTrain, limitTest: data.limitTest,
            dataSource: try data.dataSource(), normalize: data.normalize == .unit ? nil : data.normalize,
            validationSplit: data.validationSplit, dataCopies: data.dataCopies == .node ? nil : data.dataCopies, model: model.configurationModel(), hiddenSizes: model.hidden.widths, seed: model.seed, epochs: training.epochs, globalBatchSize: training.globalBatch,
            optimizer: try optimizer.configuration(recipe: recipe), schedule: try schedule.configuration(recipe: recipe),
            clipGradientNorm: optimizer.clipGradientNorm, learningRateScaling: schedule.learningRateScaling,
            learningRateReferenceBatch: schedule.learningRateReferenceBatch,
            reduction: distribution.reduction, verifyEvery: distribution.verifyEvery,
            bucketMegabytes: distribution.bucketMegabytes, overlap: distribution.overlap,
            onNonFinite: distribution.onNonFinite, stallTimeout: distribution.stallTimeout, metricsPath: output.metrics,
            evaluationBatchSize: performance.evalBatch)
        // `warn` is the default, stored as nil so that configurations before the option compare equal.
        configuration.onDivergence = distribution.onDivergence == .warn ? nil : distribution.onDivergence
        configuration.sharedParameters = distribution.sharedParameters ? true : nil
        if distribution.worldSizeInvariant {
            configuration.worldSizeInvariant = true
            configuration.microBatchSize = distribution.microBatch
        }
        return configuration
    }

    /// The settings `--model`'s preset brings for the flags not given (`ModelRecipe`).
    var recipe: ModelRecipe { .forModel(model.configurationModel()) }

    func validate() throws {
        try checkpoints.validateResume(runDirectoryGiven: output.runDir != nil)
    }

    func run() throws {
        // The same arguments swift-argument-parser was given (config file, then command line).
        let arguments = try ConfiguredArguments(Array(CommandLine.arguments.dropFirst())).arguments
        if output.printConfig {
            if Self.isFirstProcess { print(effectiveTOML(arguments: arguments), terminator: "") }
            return
        }
        var configuration: TrainingConfiguration
        let faults: FaultPlan
        do {
            configuration = try trainingConfiguration()
            faults = try FaultPlan.fromEnvironment()
        } catch { Job.fail(error, communicator: nil) }
        let job = Job.start(blas: performance.blas)
        let communicator = job.communicator
        let isLeader = job.isLeader

        let progress = output.progress.resolved()
        let liveLine = progress == .tty && isLeader ? LiveLine() : nil
        let outputIsLog = progress != .tty && ProgressMode.auto.resolved() == .plain
        let timestamps = output.timestamps == .always || (output.timestamps == .auto && outputIsLog)
        job.bootstrapLogging(level: output.logLevel, timestamps: timestamps) { LiveLineLogHandler($0, liveLine: liveLine) }
        let logger = Logger(label: "lockstep.train")
        if isLeader && !faults.faults.isEmpty {
            // A testing aid: the errors it causes look like real ones, so it never acts unannounced.
            let text = ProcessInfo.processInfo.environment[FaultPlan.environmentVariable] ?? ""
            logger.warning("fault injection active: \(FaultPlan.environmentVariable)=\(text) (a testing aid; unset it for real runs)")
        }

        var runDirectory = RunDirectory(path: "")
        var stop: AgreedStop?
        /// Everything after the run directory is agreed.
        func startRun() throws {
            // A folder that holds a run is not started afresh in by accident.
            try communicator.agreeOnOutcome {
                guard isLeader, checkpoints.resume == nil, !output.overwrite else { return }
                let holds = runDirectory.existingRun()
                if !holds.isEmpty { throw RunDirectoryInUse(path: runDirectory.path, holds: holds) }
                // A --checkpoint-dir outside the run directory may hold another run's checkpoints.
                if let path = explicitCheckpointDirectory {
                    // A folder that cannot be listed is reported by the checkpoint directory's own check.
                    let steps = (try? CheckpointDirectory(url: URL(fileURLWithPath: path)).list().checkpoints.map(\.step)) ?? []
                    if !steps.isEmpty { throw CheckpointDirectoryInUse(path: path, steps: steps) }
                }
            }
            configuration.metricsPath = output.metrics ?? runDirectory.metricsPath
            // Data and settings are checked on every rank, and the outcome agreed (a failure is
            // reported once, naming the ranks it happened on). The run directory is created only
            // once the run has been agreed and its state prepared, so that a run that cannot
            // start, or a resume that is refused, leaves nothing behind.
            let data = try TrainingData.load(configuration, communicator: communicator)
            let trainer = try communicator.agreeOnOutcome {
                try Trainer(
                    configuration: configuration, communicator: communicator, data: data, logger: logger, faults: faults,
                    checkpointing: checkpoints.policy(defaultDirectory: runDirectory.checkpointsPath))
            }
            if isLeader {
                trainer.beforeTraining = {
                    try runDirectory.create()
                    if output.overwrite && checkpoints.resume == nil {
                        try runDirectory.removeRun()
                        if let path = explicitCheckpointDirectory { try removeCheckpoints(in: path) }
                    }
                    try runDirectory.write(
                        effectiveTOML(
                            arguments: arguments, runDirectory: runDirectory, worldSize: communicator.worldSize,
                            resumedAtStep: trainer.globalStep > 0 ? trainer.globalStep : nil),
                        to: runDirectory.configPath)
                    logger.info("run directory \(runDirectory.path)")
                }
            }
            if isLeader, let reporter = makeReporter(progress, liveLine: liveLine, logger: logger) {
                trainer.onStep = { reporter.step($0) }
                trainer.onEpoch = { _ in reporter.epochEnded() }
            }
            trainer.stopSignal = { StopSignals.received }
            trainer.trace = output.trace.map { TraceOutput(path: $0, capacity: output.traceSpans) }
            do { stop = try trainer.run().stop } catch {
                liveLine?.clear()  // the error message starts on a line of its own
                throw error
            }
            if let stop { logStop(stop, worldSize: communicator.worldSize, runDirectory: runDirectory, logger: logger) }
            try NodeMemory.report(communicator, logger: logger)
        }

        job.runReturningStatus({
            // From here on SIGTERM, SIGINT and SIGUSR1 stop the run at an agreed step, with a checkpoint.
            try StopSignals.install(StopSignal.allCases.map(\.number))
            runDirectory = try RunDirectory.agree(requested: output.runDir, communicator: communicator)
            do { try startRun() } catch {
                if isLeader { runDirectory.releaseIfEmpty() }  // a claimed default folder, still empty
                throw error
            }
            return stop == nil ? .success : .stoppedBySignal
        }, epilogue: {
            guard isLeader else { return }
            // A stopped run is short of time (a scheduler's kill follows): no plots.
            if output.plots && stop == nil { drawPlots(runDirectory, metrics: configuration.metricsPath ?? runDirectory.metricsPath, logger: logger) }
            var files = [runDirectory.configPath, runDirectory.metricsPath, runDirectory.plotPath]
                .filter { FileManager.default.fileExists(atPath: $0) }.map { ($0 as NSString).lastPathComponent }
            if FileManager.default.fileExists(atPath: runDirectory.checkpointsPath) { files.append("checkpoints/") }
            logger.info("run directory \(runDirectory.path): \(files.joined(separator: ", "))")
        })
    }

    /// `--checkpoint-dir` when given and checkpoints are on.
    private var explicitCheckpointDirectory: String? { checkpoints.checkpoints ? checkpoints.checkpointDirectory : nil }

    /// `--overwrite` with `--checkpoint-dir`: deletes the checkpoints the folder holds (rank 0).
    private func removeCheckpoints(in path: String) throws {
        for checkpoint in try CheckpointDirectory(url: URL(fileURLWithPath: path)).list().checkpoints
        where unlink(checkpoint.url.path) != 0 && errno != ENOENT {
            throw OutputError(path: checkpoint.url.path, action: "remove (--overwrite)", reason: String(cString: strerror(errno)))
        }
    }

    /// `stopped by SIGTERM at step N (epoch E, step s/S); continue with … --resume auto`, naming
    /// the run directory when it was a default one (`--resume auto` needs to be told the run).
    private func logStop(_ stop: AgreedStop, worldSize: Int, runDirectory: RunDirectory, logger: Logger) {
        let saved: String
        if !checkpoints.checkpoints {
            saved = "checkpoints are off (--no-checkpoints), so this state is not saved"
        } else if output.runDir == nil && checkpoints.checkpointDirectory == nil && checkpoints.resume == nil {
            saved = "continue with the same command and --run-dir \(runDirectory.path) --resume auto"
        } else {
            saved = "continue with the same command and --resume auto"
        }
        logger.notice("stopped by \(stop.signalDescription(worldSize: worldSize)) at step \(stop.step) (\(stop.position)); \(saved)")
    }

    // MARK: - Progress and plots

    private func makeReporter(_ mode: ProgressMode, liveLine: LiveLine?, logger: Logger) -> ProgressReporter? {
        switch mode {
        case .tty:
            let style = TerminalStyle(isEnabled: TerminalStyle.colorsWanted(
                isTerminal: true, environment: ProcessInfo.processInfo.environment))
            return liveLine.map { ProgressReporter(.live($0, style: style, width: ProgressReporter.terminalWidth)) }
        case .plain:
            return ProgressReporter(.lines(emit: { logger.info("\($0)") }, interval: output.progressInterval))
        case .none, .auto:
            return nil
        }
    }

    /// Draws `metrics.png`; a missing python or matplotlib is a one-line hint, never a failure.
    private func drawPlots(_ runDirectory: RunDirectory, metrics: String, logger: Logger) {
        // A run stopped before its first epoch ended has nothing to draw.
        guard let size = (try? FileManager.default.attributesOfItem(atPath: metrics))?[.size] as? Int, size > 0 else { return }
        do {
            let plotter = try MetricsPlotter()
            try plotter.plot(
                metrics: metrics, output: runDirectory.plotPath,
                title: PlotCommand.title(for: runDirectory.path, metrics: metrics))
        } catch let error as PlotError {
            switch error {
            case .matplotlibMissing, .pythonMissing, .scriptsNotFound:
                let hint = (error.hint ?? "").replacingOccurrences(of: "RUN_DIR", with: runDirectory.path)
                logger.notice("hint: no plots: \(error.description); \(hint)")
            default:
                logger.warning("no plots: \(error.description)")
            }
        } catch {
            logger.warning("no plots: \(error)")
        }
    }

    // MARK: - Effective configuration

    /// True in a single process and on rank 0 of an MPI job (before MPI starts).
    private static var isFirstProcess: Bool { (MPICommunicator.launcherRank() ?? 0) == 0 }

    /// Every option's effective value as TOML (see `EffectiveConfiguration`). In a run
    /// directory's copy, where the run wrote its files is only a comment, so that a rerun from it
    /// gets a new run directory instead of overwriting this one.
    /// The configuration file: for `--print-config` (no run directory), or a run's `config.toml`,
    /// whose header says when the run started, or when it continued from a checkpoint at
    /// `resumedAtStep`.
    func effectiveTOML(
        arguments: [String], runDirectory: RunDirectory? = nil, worldSize: Int? = nil, resumedAtStep: Int64? = nil
    ) -> String {
        let configuration = EffectiveConfiguration(arguments: arguments, catalog: ArgumentCatalog(Self.self))
        var header = ["lockstep train configuration: `lockstep train --config FILE` repeats this run."]
        guard let runDirectory, let worldSize else {
            return configuration.toml(
                header: header, notes: ["run-dir": "run-dir: default is a new runs/<yyyyMMdd-HHmmss> for each run"],
                unsetValues: defaultsInEffect())
        }
        let now = Date().formatted(.iso8601)
        let ranks = "\(worldSize) rank\(worldSize == 1 ? "" : "s")"
        header.append(resumedAtStep.map { "Run \(runDirectory.path), continued \(now) from its checkpoint at step \($0) with \(ranks)." }
            ?? "Run \(runDirectory.path), started \(now) with \(ranks).")
        var notes = ["run-dir": "run-dir: this run wrote to \(runDirectory.path); a rerun from this file gets a new one"]
        if let metrics = output.metrics { notes["metrics"] = "metrics: this run wrote to \(metrics)" }
        if let trace = output.trace { notes["trace"] = "trace: this run wrote to \(trace)" }
        if let resume = checkpoints.resume {
            notes["resume"] = "resume: this run continued with --resume \(resume); a rerun from this file starts afresh"
        }
        return configuration.toml(
            header: header, notes: notes, omitted: ["run-dir", "metrics", "trace", "resume", "allow-config-change"],
            unsetValues: defaultsInEffect())
    }

    /// What the options without a fixed default stand for in this run, by key: the chosen
    /// optimizer's hyperparameters, the default decay, the warmup's start, the reference batch.
    func defaultsInEffect() -> [String: String] {
        var values: [String: String] = [:]
        if let configuration = try? optimizer.configuration(recipe: recipe) {
            let hyperparameters: [OptimizerFlag: Double] = [
                .momentum: configuration.momentum, .dampening: configuration.dampening,
                .weightDecay: configuration.weightDecay, .beta1: configuration.beta1, .beta2: configuration.beta2,
                .epsilon: configuration.epsilon,
            ]
            for flag in configuration.kind.applicableFlags {
                if let value = hyperparameters[flag] { values[String(flag.rawValue.dropFirst(2))] = "\(value)" }
            }
        }
        if let configuration = try? schedule.configuration(recipe: recipe) {
            if schedule.gamma == nil, schedule.halfLife == nil, schedule.finalLearningRate == nil {
                values["gamma"] = "\(configuration.gamma ?? ScheduleConfiguration.defaultGamma)"
            }
            if configuration.warmup > 0 {
                values["warmup-start-lr"] = "\(configuration.resolvedWarmupStartLearningRate)"
            }
        }
        if schedule.learningRateScaling != .none {
            values["lr-reference-batch"] = "\(schedule.learningRateReferenceBatch)"
        }
        return values
    }
}
