import Checkpoints
import Collectives
import Datasets
import Determinism
import Foundation
import Logging
import Optimizers
import Schedules
import TestSupport
import Training

/// A tiny learnable problem for in-process trainer tests: 4 × 4 images in 3 classes, the label
/// decided by which third of the image is brightest.
enum TrainingFixtures {
    static func images(count: Int, seed: UInt64) -> LabeledSamples {
        var generator = SeededGenerator(seed: seed)
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        for _ in 0..<count {
            let image = (0..<16).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let thirds = [image[0..<5], image[5..<11], image[11..<16]].map { $0.reduce(0) { $0 + Int($1) } / $0.count }
            pixels += image
            labels.append(UInt8(thirds.firstIndex(of: thirds.max()!)!))
        }
        return LabeledSamples(rows: 4, columns: 4, classCount: 3, pixels: pixels, labels: labels)
    }

    /// 48 training samples (6 steps of 8 per epoch), 20 test samples.
    static let data = TrainingData(training: images(count: 48, seed: 1), test: images(count: 20, seed: 2))

    /// Adam with clipping and a step schedule with warmup and a floor: 3 epochs of 6 steps.
    static func configuration() -> TrainingConfiguration {
        TrainingConfiguration(
            dataDirectory: "(in memory)", hiddenSizes: [8], seed: 3, epochs: 3, globalBatchSize: 8,
            optimizer: OptimizerConfiguration(kind: .adam),
            schedule: ScheduleConfiguration(
                learningRate: 0.01, gamma: 0.8, unit: .step, warmup: 3, minimumLearningRate: 0.005),
            clipGradientNorm: 0.5, verifyEvery: 4, stallTimeout: 0, evaluationBatchSize: 7)
    }

    /// Trains in this process (a world of one) and returns the summary and the log lines.
    static func train(
        _ configuration: TrainingConfiguration, _ policy: CheckpointPolicy, data: TrainingData = data,
        faults: FaultPlan = FaultPlan()
    ) throws -> (summary: TrainingSummary, log: [String]) {
        let log = LogLines()
        let logger = Logger(label: "test") { _ in CollectingLogHandler(lines: log) }
        let trainer = try Trainer(
            configuration: configuration, communicator: SingleProcessCommunicator(), data: data, logger: logger,
            faults: faults, checkpointing: policy)
        let summary = try trainer.run()
        return (summary, log.lines)
    }

    /// The checkpoint of `step` in `directory`.
    static func checkpoint(in directory: URL, step: Int64) throws -> Checkpoint {
        try CheckpointReader.read(from: CheckpointDirectory(url: directory).url(step: step))
    }
}

/// Log lines collected from a `Logger`, `level: message`.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.withLock { stored } }
    func append(_ line: String) { lock.withLock { stored.append(line) } }
}

struct CollectingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append("\(event.level): \(event.message)")
    }
}
