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
    /// Every micro-batch but the last is computed straight into the sum's stash; the last into
    /// the gradient buffer, where each bucket (`--bucket-mb`) is reduced as soon as backward has
    /// finished it, overlapping with the rest of the last micro-batch's backward. `--reduction` and
    /// `--overlap` do not apply. Collective.
    func runWorldSizeInvariant(
        sum: FixedPointSum, samples: UnsafeBufferPointer<Int32>, learningRate: Double, step: Int64
    ) throws -> Outcome {
        for observer in observers { try observer.willComputeGradients(step: step) }
        let gradients = model.gradientBuffer
        let storage = gradients.storage.buffer
        let received = stopSignal()
        sum.beginStep()
        let lastSlot = samples.count / trainingRows - 1
        for slot in 0...lastSlot {
            let first = slot * trainingRows
            let micro = UnsafeBufferPointer(rebasing: samples[first..<(first + trainingRows)])
            training.fillBatch(indices: micro, features: model.input.baseAddress, labels: labels.baseAddress!)
            let scale = 1 / Float(globalBatchSize), context = LayerStack.DropoutContext(seed: seed, step: step, samples: micro)
            if slot < lastSlot {
                // Straight into the stash; its stop-request slots count nothing.
                let target = sum.stashSlot(slot)
                _ = model.computeGradients(
                    batchSize: trainingRows, labels: labels.baseAddress!, gradientScale: scale, dropout: context, into: target
                ) { event in
                    if case .lossComputed = event {
                        for observer in observers { observer.lossComputed(step: step, gradients: gradients) }
                    }
                }
                for index in (model.parameterCount + 1)..<storage.count { target[index] = 0 }
                sum.addStashed(slot)
            } else {
                // The last one in the gradient buffer, with this rank's stop request, its sections
                // reduced as backward finishes them.
                gradients.setStopRequests(received: received)
                _ = try model.computeGradients(
                    batchSize: trainingRows, labels: labels.baseAddress!, gradientScale: scale, dropout: context
                ) { event in
                    switch event {
                    case .lossComputed:
                        for observer in observers { observer.lossComputed(step: step, gradients: gradients) }
                    case .gradientsReady(let from): try sum.ready(from: from, values: storage.baseAddress!)
                    case .betweenKernels: try sum.progress()
                    }
                }
            }
        }
        for observer in observers { observer.willFinishReduction(step: step) }
        guard try sum.finish(into: storage) else {
            return .nonFinite(loss: Double(gradients.loss))
        }
        return update(learningRate: learningRate, step: step)
    }
}
