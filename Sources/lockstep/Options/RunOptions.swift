import ArgumentParser
import Training

/// `lockstep train`: how long and with what batch.
struct RunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Passes over the training set.", valueName: "epochs"))
    var epochs: Int = TrainingConfiguration.defaults.epochs

    @Option(help: ArgumentHelp(
        "Samples per optimizer step over all ranks; each rank takes global-batch / world size. "
            + "The last partial batch of each epoch is dropped.", valueName: "samples"))
    var globalBatch: Int = TrainingConfiguration.defaults.globalBatchSize

    func validate() throws {
        guard (1...1_000_000).contains(epochs) else { throw ValidationError("--epochs must be in 1…1000000, got \(epochs)") }
        guard (1...16_777_216).contains(globalBatch) else {
            throw ValidationError("--global-batch must be in 1…16777216 samples, got \(globalBatch)")
        }
    }
}
