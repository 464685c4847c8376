import ArgumentParser
import Benchmarks
import Coordination
import Foundation
import Job
import Training

/// `lockstep diagnose invariance`: the same params hash at this world size as at one rank?
struct DiagnoseInvarianceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invariance",
        abstract: "Check that --world-size-invariant training gives the same parameters at this world size as at one rank.",
        discussion: """
            Run it under mpirun: mpirun -np 4 lockstep diagnose invariance. Trains --steps steps \
            with --world-size-invariant --micro-batch M on the job's ranks, then the same steps on \
            rank 0 alone (in-process, one rank), and compares the params hashes; then the same in \
            the default mode, whose hashes differ between world sizes (shown for contrast). Prints \
            one JSON object per mode; exits 76 when the world-size-invariant hashes differ.
            """)

    @OptionGroup(title: "Data") var data: DataOptions
    @Option(help: ArgumentHelp("Use N random Fashion-MNIST-shaped training samples instead of the dataset.", valueName: "N"))
    var synthetic: Int?
    @OptionGroup(title: "Model") var model: ModelOptions
    @Option(help: ArgumentHelp("Samples per step over all ranks.", valueName: "n"))
    var globalBatch: Int = 48
    @Option(name: .customLong("micro-batch"), help: ArgumentHelp(
        "Samples per micro-batch: a divisor of --global-batch, with at least as many micro-batches as ranks.",
        valueName: "M"))
    var microBatch: Int = 4
    @Option(help: ArgumentHelp("Steps to train in each mode.", valueName: "n"))
    var steps: Int = 10
    @OptionGroup(title: "Performance") var performance: PerformanceOptions

    func validate() throws {
        guard (1...1_000_000).contains(globalBatch) else {
            throw ValidationError("--global-batch must be in 1…1000000, got \(globalBatch)")
        }
        guard microBatch > 0 else { throw ValidationError("--micro-batch must be a positive number of samples, got \(microBatch)") }
        guard (1...100_000).contains(steps) else { throw ValidationError("--steps must be in 1…100000, got \(steps)") }
        if let synthetic, !(1...10_000_000).contains(synthetic) {
            throw ValidationError("--synthetic must be in 1…10000000 samples, got \(synthetic)")
        }
    }

    func run() throws {
        let job = Job.start(blas: performance.blas)
        job.run {
            var configuration = TrainingConfiguration(
                dataDirectory: data.dataDirectory, limitTrain: data.limitTrain, limitTest: data.limitTest ?? 1000,
                model: model.configurationModel(), hiddenSizes: model.hidden.widths, seed: model.seed, epochs: 1_000_000,
                globalBatchSize: globalBatch)
            configuration.worldSizeInvariant = true
            configuration.microBatchSize = microBatch
            let trainingData = try synthetic.map { TrainingData.synthetic(trainingCount: $0, testCount: 100) }
                ?? TrainingData.load(configuration)
            try CollectiveFailure.collectively {
                try InvarianceCheck.checkSettings(
                    configuration: configuration, data: trainingData, worldSize: job.communicator.worldSize)
            }
            let results = try InvarianceCheck.run(
                configuration: configuration, data: trainingData, communicator: job.communicator, steps: steps)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if job.isLeader {
                for result in results { print(String(decoding: try encoder.encode(result), as: UTF8.self)) }
            }
            if let invariant = results.first, !invariant.identical {
                throw LockstepViolation(
                    step: Int64(steps), context: "world-size invariance check (\(invariant.ranks) ranks against 1)",
                    differingParts: ["parameters"], rankGroups: [])
            }
        }
    }
}
