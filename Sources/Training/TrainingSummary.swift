/// Where a run is, reported to `Trainer.onStep` on rank 0 after every step (for progress lines).
public struct StepProgress: Sendable {
    /// 0-based epoch.
    public let epoch: Int
    public let epochs: Int
    /// Steps completed in this epoch (1 after the first).
    public let stepInEpoch: Int
    public let stepsPerEpoch: Int
    /// Global optimizer steps completed.
    public let globalStep: Int64
    /// This step's mean loss over the global batch (from the reduced buffer, in Float precision).
    public let loss: Double
    /// The learning rate this step used.
    public let learningRate: Double
    /// Seconds since the epoch started.
    public let epochSeconds: Double
    /// Samples per global batch.
    public let globalBatchSize: Int
}

/// What a finished run reports.
public struct TrainingSummary: Sendable {
    /// One entry per epoch.
    public let epochs: [EpochMetrics]
    /// The hash of the final parameters, identical on every rank (verified).
    public let parameterHash: UInt64
    public let worldSize: Int
    /// Updates skipped because the reduced loss or gradient was not finite.
    public let skippedSteps: Int64
    /// Set when a signal stopped the run before its last epoch ended (a checkpoint was written at
    /// `stop.step` unless checkpoints are off).
    public var stop: AgreedStop? = nil
}

/// Mean and maximum of the gradient norms seen in an epoch (checkpointed mid-epoch, so a resumed
/// epoch reports the same figures).
struct NormStatistics: Codable, Equatable {
    /// Σ of the norms in step order.
    private(set) var sum = 0.0
    private(set) var count = 0
    private(set) var maximum: Double?

    mutating func record(_ norm: Double) {
        sum += norm
        count += 1
        maximum = max(maximum ?? norm, norm)
    }

    var mean: Double? { count == 0 ? nil : sum / Double(count) }
}
