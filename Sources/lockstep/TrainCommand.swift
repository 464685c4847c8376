import ArgumentParser
import Collectives
import Logging
import Training

/// `lockstep train`: the main job.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the MLP on Fashion-MNIST, data-parallel over the ranks of the job.",
        discussion: """
            Run it under mpirun for several ranks: mpirun -np 2 lockstep train --epochs 10.
            Rank 0 prints one line per epoch and, at the end, "lockstep verified: N ranks, params
            hash …" once every rank's parameters are shown identical.
            """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Training") var training: RunOptions
    @OptionGroup(title: "Optimizer") var optimizer: OptimizerOptions
    @OptionGroup(title: "Learning-rate schedule") var schedule: ScheduleOptions
    @OptionGroup(title: "Distribution") var distribution: DistributionOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Performance") var performance: PerformanceOptions

    /// The run's configuration from the parsed options.
    func trainingConfiguration() throws -> TrainingConfiguration {
        TrainingConfiguration(
            dataDirectory: data.dataDirectory, limitTrain: data.limitTrain, limitTest: data.limitTest,
            hiddenSizes: model.hidden.widths, seed: model.seed, epochs: training.epochs, globalBatchSize: training.globalBatch,
            optimizer: try optimizer.configuration(), schedule: try schedule.configuration(),
            clipGradientNorm: optimizer.clipGradientNorm, learningRateScaling: optimizer.learningRateScaling,
            learningRateReferenceBatch: optimizer.learningRateReferenceBatch,
            reduction: distribution.reduction, verifyEvery: distribution.verifyEvery,
            onNonFinite: distribution.onNonFinite, stallTimeout: distribution.stallTimeout, metricsPath: output.metrics,
            evaluationBatchSize: performance.evalBatch)
    }

    func run() throws {
        let configuration: TrainingConfiguration
        let faults: FaultPlan
        do {
            configuration = try trainingConfiguration()
            faults = try FaultPlan.fromEnvironment()
        } catch { JobRunner.fail(error, communicator: nil) }
        BLASSetup.apply(coreRequest: performance.blasCore, threads: performance.blasThreads)
        let communicator: any Communicator
        do { communicator = try JobRunner.makeCommunicator() } catch { JobRunner.fail(error, communicator: nil) }
        JobRunner.bootstrapLogging(rank: communicator.rank)
        let logger = Logger(label: "lockstep.train")
        JobRunner.run(communicator) {
            let data = try TrainingData.load(configuration)
            let trainer = try Trainer(
                configuration: configuration, communicator: communicator, data: data, logger: logger, faults: faults)
            _ = try trainer.run()
        }
    }
}
