import Collectives
import Datasets

extension Trainer {
    struct Evaluation {
        var meanLoss: Double
        var accuracy: Double
    }

    /// Test loss and accuracy over the whole test set, sharded across ranks in contiguous blocks;
    /// the sums are allreduced. Collective: ranks with an empty shard still join.
    func evaluate() throws -> Evaluation {
        let shard = BlockPartition(count: data.test.count, parts: communicator.worldSize).range(of: communicator.rank)
        var lossSum = 0.0
        var correct = 0
        var start = shard.lowerBound
        while start < shard.upperBound {
            watchdog.enter(.evaluation, step: globalStep)
            let count = min(configuration.evaluationBatchSize, shard.upperBound - start)
            for i in 0..<count { evaluationIndices[i] = Int32(start + i) }
            data.test.fillBatch(
                indices: UnsafeBufferPointer(rebasing: evaluationIndices[0..<count]), features: model.input.baseAddress,
                labels: labels.baseAddress!)
            let summary = model.evaluate(batchSize: count, labels: labels.baseAddress!)
            lossSum += summary.lossSum
            correct += summary.correctCount
            start += count
        }
        watchdog.enter(.evaluation, step: globalStep)
        let totals = try communicator.allreduce([lossSum, Double(correct)], operation: .sum)
        let count = Double(max(data.test.count, 1))
        return Evaluation(meanLoss: totals[0] / count, accuracy: totals[1] / count)
    }
}
