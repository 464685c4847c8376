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
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        guard globalBatch >= 1 else { throw ValidationError("--global-batch must be at least 1, got \(globalBatch)") }
    }
}
