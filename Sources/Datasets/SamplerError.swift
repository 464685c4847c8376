import Reporting

/// A batch configuration that cannot give every rank the same work; raised by
/// `DistributedSampler.init` before training starts. Exit status `.usage`.
public enum SamplerError: ReportableError, Equatable {
    /// `--global-batch` is zero or negative.
    case invalidGlobalBatch(globalBatchSize: Int)
    /// `--global-batch` is not a multiple of the world size, so local batches would differ.
    case globalBatchNotDivisible(globalBatchSize: Int, worldSize: Int)
    /// `--micro-batch` does not divide `--global-batch` (or is not positive).
    case microBatchNotDivisor(globalBatchSize: Int, microBatchSize: Int)
    /// More ranks than micro-batches per global batch: some rank would have nothing to compute.
    case moreRanksThanMicroBatches(globalBatchSize: Int, microBatchSize: Int, worldSize: Int)
    /// Fewer training samples than one global batch: zero steps per epoch.
    case tooFewSamples(sampleCount: Int, globalBatchSize: Int, worldSize: Int)

    public var exitStatus: ExitStatus { .usage }

    public var description: String {
        switch self {
        case .invalidGlobalBatch(let batch):
            return "--global-batch \(batch) is not a batch size; expected a positive multiple of the world size"
        case .globalBatchNotDivisible(let batch, let worldSize):
            return "--global-batch \(batch) does not split evenly over \(worldSize) ranks "
                + "(remainder \(batch % worldSize)); every rank needs the same local batch"
        case .microBatchNotDivisor(let batch, let micro):
            return micro <= 0
                ? "--micro-batch \(micro) is not a number of samples; expected a positive divisor of --global-batch \(batch)"
                : "--micro-batch \(micro) does not divide --global-batch \(batch) (remainder \(batch % micro)): "
                    + "the global batch is cut into whole micro-batches"
        case .moreRanksThanMicroBatches(let batch, let micro, let worldSize):
            let count = batch / micro
            return "\(worldSize) ranks but only \(count) micro-batch\(count == 1 ? "" : "es") per step (--global-batch \(batch) / "
                + "--micro-batch \(micro)): every rank needs at least one"
        case .tooFewSamples(let samples, let batch, _):
            return "--global-batch \(batch) is larger than the \(samples) training samples "
                + "(see --limit-train): not one full global batch per epoch, so zero steps"
        }
    }

    public var hint: String? {
        switch self {
        case .invalidGlobalBatch:
            return nil
        case .microBatchNotDivisor(let batch, let micro):
            let divisors = Self.nearestDivisors(of: batch, around: max(micro, 1)).map(String.init)
            return "use --micro-batch \(divisors.joined(separator: " or ")) (divisors of \(batch))"
        case .moreRanksThanMicroBatches(let batch, let micro, let worldSize):
            let largest = stride(from: batch / worldSize, through: 1, by: -1).first { batch % $0 == 0 }
            return (largest.map { "use --micro-batch \($0) or smaller, or " } ?? "raise --global-batch, or ")
                + "run on at most \(batch / micro) rank\(batch / micro == 1 ? "" : "s")"
        case .globalBatchNotDivisible(let batch, let worldSize):
            let lower = batch / worldSize * worldSize
            let batches = (lower > 0 ? "\(lower) or " : "") + "\(lower + worldSize)"
            var hint = "use --global-batch \(batches) (multiples of \(worldSize))"
            let divisors = Self.nearestDivisors(of: batch, around: worldSize).map(String.init)
            hint += ", or run on a number of ranks that divides \(batch), such as \(divisors.joined(separator: " or "))"
            return hint
        case .tooFewSamples(let samples, let batch, let worldSize):
            let largest = samples / worldSize * worldSize
            if largest == 0 {
                return "the \(samples) training samples are fewer than the \(worldSize) ranks: "
                    + "raise --limit-train to at least \(batch), or run on fewer ranks"
            }
            return "use --global-batch \(largest) or less\(worldSize > 1 ? " (a multiple of \(worldSize))" : ""), "
                + "or raise --limit-train to at least \(batch)"
        }
    }

    /// The divisors of `value` nearest below and above `target` (one of them when only one exists).
    static func nearestDivisors(of value: Int, around target: Int) -> [Int] {
        let below = stride(from: target - 1, through: 1, by: -1).first { value % $0 == 0 }
        let above = stride(from: target + 1, through: value, by: 1).first { value % $0 == 0 }
        return [below, above].compactMap { $0 }
    }
}
