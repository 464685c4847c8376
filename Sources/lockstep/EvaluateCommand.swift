import ArgumentParser
import Collectives
import Datasets
import Foundation
import Job
import Training

/// `lockstep evaluate --checkpoint PATH`: test loss and accuracy of a checkpoint's parameters.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Compute the test loss and accuracy of a checkpoint, on any number of ranks.",
        discussion: """
            Rank 0 reads the checkpoint and broadcasts it; each rank evaluates its share of the test \
            set. The model's widths come from the checkpoint's configuration. Exits 65 for a malformed \
            checkpoint or one whose tensors do not fit the data, 66 when a file cannot be read.
            """)

    @Option(help: ArgumentHelp("The checkpoint file (ckpt-step-<step>.safetensors).", valueName: "path"))
    var checkpoint: String

    @Option(name: .customLong("data-dir"),
            help: ArgumentHelp("Folder with the Fashion-MNIST test IDX files (.gz or raw).", valueName: "dir"))
    var dataDirectory: String = FashionMNIST.defaultDirectory

    @Option(help: ArgumentHelp("Use only the first N test samples (default: all 10,000).", valueName: "N"))
    var limitTest: Int?

    @OptionGroup(title: "Performance") var performance: PerformanceOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        if let limitTest, limitTest < 1 { throw ValidationError("--limit-test must be at least 1, got \(limitTest)") }
    }

    func run() throws {
        let job = Job.start(blas: performance.blas)
        let communicator = job.communicator
        job.run {
            let test = try FashionMNIST.load(.test, directory: dataDirectory, limit: limitTest)
            let result = try CheckpointEvaluation.run(
                checkpointPath: checkpoint, test: test, batchSize: performance.evalBatch, communicator: communicator)
            guard communicator.rank == 0 else { return }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print(Self.text(result))
            }
        }
    }

    /// `checkpoint PATH (step 52, end of epoch 2): test loss 0.4538  test acc 0.8331  (1000 samples, 2 ranks)`: the
    /// digits of the training's epoch lines (`--json` keeps full precision).
    static func text(_ result: CheckpointEvaluation) -> String {
        let position = result.stepInEpoch == 0
            ? "end of epoch \(result.epoch)" : "epoch \(result.epoch + 1), step \(result.stepInEpoch)"
        return "checkpoint \(result.checkpoint) (step \(result.globalStep), \(position)): "
            + String(format: "test loss %.4f  test acc %.4f", result.testLoss, result.testAccuracy)
            + "  (\(result.testSamples) samples, \(result.worldSize) rank\(result.worldSize == 1 ? "" : "s"))"
    }
}
