import ArgumentParser

/// `lockstep train`: files written by rank 0.
struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Write one JSON object per epoch (epoch, step, lr, train_loss, test_loss, test_accuracy, "
            + "samples_per_s, …) to this JSON Lines file.", valueName: "file"))
    var metrics: String?
}
