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
    /// Backward hands each micro-batch's parameter gradients to the sum tile by tile
    /// (`FixedPointTileSink`): a linear layer's scale is agreed from bounds before its tiles are
    /// computed, and each tile becomes integers at once, while it is in the cache; each bucket
    /// (`--bucket-mb`) starts its integer allreduce as soon as its last tile is integers. With
    /// `microBatchesPerPass` micro-batches at a time run through forward and backward (all of this
    /// rank's, when the set-up check allows); the micro-batches of every pass but the last go to the
    /// sum's stash. Every choice gives the same bits (set-up checks that before choosing). `--reduction` and `--overlap` do not
    /// apply. Collective.
    func runWorldSizeInvariant(
        sum: FixedPointSum, tileSink: FixedPointTileSink, samples: UnsafeBufferPointer<Int32>, learningRate: Double, step: Int64
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
        sum.beginStep(into: storage)
        gradients.setStopRequests(received: received)
        for first in stride(from: 0, to: samples.count, by: trainingRows) {
            let rows = UnsafeBufferPointer(rebasing: samples[first..<(first + trainingRows)])
            let isLast = first + trainingRows == samples.count
            tileSink.firstTerm = first / microBatch
            tileSink.isLast = isLast
            let dataStart = timeline == nil ? 0 : Timeline.now()
            training.fillBatch(indices: rows, features: model.input.baseAddress, labels: labels.baseAddress!)
            if let timeline { timeline.record(spanNames!.data, from: dataStart) }
            _ = try model.computeGradients(
                batchSize: trainingRows, labels: labels.baseAddress!, gradientScale: scale,
                dropout: LayerStack.DropoutContext(seed: seed, step: step, samples: rows),
                groups: LayerStack.GradientGroups(rows: microBatch, count: trainingRows / microBatch, sink: tileSink)
            ) { event in
                switch event {
                case .lossComputed:
                    tileSink.withLastLoss { gradients in
                        for observer in observers { observer.lossComputed(step: step, gradients: gradients) }
                    }
                case .boundsNoted(let elements): try tileSink.boundsNoted(elements)
                case .tileComputed(let elements): try tileSink.tileComputed(elements)
                case .gradientsReady: break
                case .betweenKernels: if isLast { try sum.progress() }
                }
            }
        }
        for observer in observers { observer.willFinishReduction(step: step) }
        let finishing = communicator.wallTime(), waitStart = timeline == nil ? 0 : Timeline.now()
        let finite = try sum.finish()
        let finished = communicator.wallTime()
        if let timeline { timeline.record(spanNames!.wait, from: waitStart) }
        defer { recordCompute(start: start, finishing: finishing, finished: finished) }
        guard finite else { return .nonFinite(loss: Double(gradients.loss)) }
        return try update(learningRate: learningRate, step: step)
    }
}
