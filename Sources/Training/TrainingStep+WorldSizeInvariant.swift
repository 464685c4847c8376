import Collectives
import Models
import Tracing

extension TrainingStep {
    /// One global step in the world-size-invariant mode (`--world-size-invariant --micro-batch M`):
    /// this rank's samples are its micro-batches (`DistributedSampler.localMicroBatches`), and
    /// each micro-batch's gradient comes from the same kernel calls on the same shapes (`M` rows)
    /// whichever rank computes it and however many micro-batches a rank holds: a micro-batch's
    /// gradient (scaled by 1 / global batch, as in the default mode) is a function of its samples
    /// and the parameters only. The gradients, the loss slot and the stop requests of all
    /// micro-batches of all ranks are then summed by `FixedPointSum`, whose result is the same
    /// bits for any grouping: so the update, the loss, the non-finite decision and the clipping
    /// norm are the same at any world size.
    ///
    /// With `microBatchesTogether`, this rank's micro-batches run through forward and backward
    /// at once, each micro-batch's parameter gradients into a vector of its own (the stash slots,
    /// the last in the gradient buffer: `microBatchTargets`), and each bucket (`--bucket-mb`) is
    /// reduced as soon as backward has finished it for all of them. Otherwise one by one: every
    /// micro-batch but the last straight into its stash slot, the last into the gradient buffer
    /// with its buckets reduced as backward finishes them. Both give the same bits (set-up checks
    /// that before choosing the first). `--reduction` and `--overlap` do not apply. Collective.
    func runWorldSizeInvariant(
        sum: FixedPointSum, samples: UnsafeBufferPointer<Int32>, learningRate: Double, step: Int64
    ) throws -> Outcome {
        let start = communicator.wallTime()
        let spanStart = timeline == nil ? 0 : Timeline.now()
        timeline?.step = step
        defer { if let timeline { timeline.record(spanNames!.step, from: spanStart) } }
        for observer in observers { try observer.willComputeGradients(step: step) }
        let gradients = model.gradientBuffer
        let storage = gradients.storage.buffer
        let microBatch = microBatchSize!, scale = 1 / Float(globalBatchSize)
        let received = stopSignal()
        sum.beginStep()
        let lastSlot = samples.count / microBatch - 1
        // The stash slots' stop-request slots count nothing; the gradient buffer's carry this rank's.
        for slot in 0..<lastSlot {
            for index in (model.parameterCount + 1)..<storage.count { microBatchTargets[slot][index] = 0 }
        }
        gradients.setStopRequests(received: received)
        for first in stride(from: 0, to: samples.count, by: trainingRows) {
            let rows = UnsafeBufferPointer(rebasing: samples[first..<(first + trainingRows)])
            let isLast = first + trainingRows == samples.count
            let dataStart = timeline == nil ? 0 : Timeline.now()
            training.fillBatch(indices: rows, features: model.input.baseAddress, labels: labels.baseAddress!)
            if let timeline { timeline.record(spanNames!.data, from: dataStart) }
            let groups = LayerStack.GradientGroups(
                rows: microBatch,
                targets: UnsafeBufferPointer(rebasing: microBatchTargets[(first / microBatch)..<((first + trainingRows) / microBatch)]))
            _ = try model.computeGradients(
                batchSize: trainingRows, labels: labels.baseAddress!, gradientScale: scale,
                dropout: LayerStack.DropoutContext(seed: seed, step: step, samples: rows), groups: groups
            ) { event in
                switch event {
                case .lossComputed:
                    for observer in observers { observer.lossComputed(step: step, gradients: gradients) }
                case .gradientsReady(let from): if isLast { try sum.ready(from: from, values: storage.baseAddress!) }
                case .betweenKernels: if isLast { try sum.progress() }
                }
            }
        }
        for observer in observers { observer.willFinishReduction(step: step) }
        let finishing = communicator.wallTime(), waitStart = timeline == nil ? 0 : Timeline.now()
        let finite = try sum.finish(into: storage)
        let finished = communicator.wallTime()
        if let timeline { timeline.record(spanNames!.wait, from: waitStart) }
        defer { recordCompute(start: start, finishing: finishing, finished: finished) }
        guard finite else { return .nonFinite(loss: Double(gradients.loss)) }
        return update(learningRate: learningRate, step: step)
    }
}
