import Collectives
import Datasets
import Models

/// Test loss and accuracy of a model.
public struct Evaluation: Equatable, Sendable {
    /// Mean softmax cross-entropy over the test set.
    public var meanLoss: Double
    /// Fraction of test samples whose largest logit is the label's.
    public var accuracy: Double

    /// Evaluates `model` on `test`, sharded across ranks in contiguous blocks; the sums are
    /// allreduced. Collective: ranks with an empty shard still join. `beforeCollective` runs
    /// before each batch and before the allreduce (for the stall watchdog).
    /// - Parameters:
    ///   - indices: scratch for the batch's sample indices, at least `batchSize` long.
    ///   - labels: scratch for the batch's labels, at least `batchSize` long.
    /// - Precondition: `batchSize ≤ model.maximumBatchSize`.
    static func sharded(
        model: LayerStack, test: LabeledSamples, communicator: Communicator, batchSize: Int,
        indices: UnsafeMutableBufferPointer<Int32>, labels: UnsafeMutableBufferPointer<Int32>,
        beforeCollective: () -> Void = {}
    ) throws -> Evaluation {
        precondition(batchSize <= model.maximumBatchSize && batchSize <= indices.count && batchSize <= labels.count,
                     "evaluation batch \(batchSize) for model batch \(model.maximumBatchSize)")
        let shard = BlockPartition(count: test.count, parts: communicator.worldSize).range(of: communicator.rank)
        var lossSum = 0.0
        var correct = 0
        var start = shard.lowerBound
        while start < shard.upperBound {
            beforeCollective()
            let count = min(batchSize, shard.upperBound - start)
            for i in 0..<count { indices[i] = Int32(start + i) }
            test.fillBatch(
                indices: UnsafeBufferPointer(rebasing: indices[0..<count]), features: model.input.baseAddress,
                labels: labels.baseAddress!)
            let summary = model.evaluate(batchSize: count, labels: labels.baseAddress!)
            lossSum += summary.lossSum
            correct += summary.correctCount
            start += count
        }
        beforeCollective()
        let totals = try communicator.allreduce([lossSum, Double(correct)], operation: .sum)
        let count = Double(max(test.count, 1))
        return Evaluation(meanLoss: totals[0] / count, accuracy: totals[1] / count)
    }
}
