import ArgumentParser
import Datasets
import Training

/// `lockstep train` / `evaluate`: where the data is and how much of it to use.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"),
            help: ArgumentHelp("Folder with the Fashion-MNIST IDX files (.gz or raw).", valueName: "dir"))
    var dataDirectory: String = TrainingConfiguration.defaults.dataDirectory

    @Option(help: ArgumentHelp("Use only the first N training samples (default: all 60,000).", valueName: "samples"))
    var limitTrain: Int?

    @Option(help: ArgumentHelp("Use only the first N test samples (default: all 10,000).", valueName: "samples"))
    var limitTest: Int?

    func validate() throws {
        if let limitTrain, limitTrain < 1 { throw ValidationError("--limit-train must be at least 1, got \(limitTrain)") }
        if let limitTest, limitTest < 1 { throw ValidationError("--limit-test must be at least 1, got \(limitTest)") }
    }
}
