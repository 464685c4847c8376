import Collectives
import Models

extension TrainingStep {
    /// One global step in the world-size-invariant mode (`--world-size-invariant --micro-batch M`):
    /// this rank's samples are its micro-batches (`DistributedSampler.localMicroBatches`), each
    /// run alone through forward and backward with `M` rows, so every GEMM has the same shape
    /// whichever rank computes it and however many micro-batches a rank holds; a micro-batch's
    /// gradient (scaled by 1 / global batch, as in the default mode) is a function of its samples
    /// and the parameters only. The gradients, the loss slot and the stop requests of all
    /// micro-batches of all ranks are then summed by `FixedPointSum`, whose result is the same
    /// bits for any grouping: so the update, the loss, the non-finite decision and the clipping
    /// norm are the same at any world size.
    ///
    /// The reduction cannot start before the last micro-batch (each block's exponent is agreed
    /// over every term first), so nothing overlaps with backward in this mode; `--reduction`,
    /// `--bucket-mb` and `--overlap` do not apply. Collective.
    func runWorldSizeInvariant(
        sum: FixedPointSum, samples: UnsafeBufferPointer<Int32>, learningRate: Double, step: Int64
    ) throws -> Outcome {
        for observer in observers { try observer.willComputeGradients(step: step) }
        let gradients = model.gradientBuffer
        let storage = gradients.storage.buffer
        let received = stopSignal()
        sum.beginStep()
        var start = 0
        while start < samples.count {
            let micro = UnsafeBufferPointer(rebasing: samples[start..<(start + trainingRows)])
            training.fillBatch(indices: micro, features: model.input.baseAddress, labels: labels.baseAddress!)
            // A rank's stop request is counted once: in its first micro-batch's slots.
            gradients.setStopRequests(received: start == 0 ? received : 0)
            _ = model.computeGradients(
                batchSize: trainingRows, labels: labels.baseAddress!, gradientScale: 1 / Float(globalBatchSize),
                dropout: .init(seed: seed, step: step, samples: micro)
            ) { event in
                if case .lossComputed = event {
                    for observer in observers { observer.lossComputed(step: step, gradients: gradients) }
                }
            }
            sum.add(UnsafeBufferPointer(storage))
            start += trainingRows
        }
        for observer in observers { observer.willFinishReduction(step: step) }
        guard try sum.finish(into: storage, communicator: communicator) else {
            return .nonFinite(loss: Double(gradients.loss))
        }
        return update(learningRate: learningRate, step: step)
    }
}
