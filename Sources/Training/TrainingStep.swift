import Collectives
import Datasets
import Kernels
import Models
import Optimizers
import Tracing

/// One optimizer step for one global batch, on this rank: gather this rank's samples, forward and
/// backward into the gradient buffer (scaled by 1 / global batch), sum the buffer across ranks
/// (buckets started during backward), decide from the reduced bytes whether it is finite, clip,
/// and apply the optimizer update with the given learning rate (DESIGN.md §3).
///
/// With `--reduction sharded` (ZeRO stage 1) the optimizer holds the state of this rank's slice
/// of the parameters only (`shard`): the reduction gives this rank the sums of its slice, the
/// update clips and steps that slice, and the parameters are all-gathered after it (on one node,
/// where the ranks share the parameters' memory, a node barrier publishes the slices instead).
///
/// With `--world-size-invariant` the step runs `TrainingStep+WorldSizeInvariant.swift` instead:
/// micro-batch by micro-batch, with the exact fixed-point sum in place of the float reduction.
///
/// The step holds the math only: counters, the schedule, the non-finite policy and logging belong
/// to the loop (`Trainer`), which calls `run` once per global step. Nothing in `run` allocates.
public final class TrainingStep {
    public let model: LayerStack
    /// The optimizer of `shard`: its state covers `shard.count` parameters.
    public let optimizer: any Optimizer
    /// The parameters this rank updates: all of them, or with `--reduction sharded` its slice
    /// (`GradientReduction.ownedRange`); the optimizer's state covers these only.
    public let shard: Range<Int>
    /// With `--reduction sharded`: each rank's slice size, in rank order (`allgather(inPlace:)`); else nil.
    public let shardCounts: [Int64]?
    /// Views of `shard` in the parameters and the gradients.
    private let shardParameters: FloatBuffer, shardGradients: FloatBuffer
    /// With `--reduction sharded` on one node: the parameters the node's ranks share (the model's
    /// `parameters`), published by a node barrier instead of an allgather; else nil.
    public let sharedParameters: NodeSharedParameters?
    public let reduction: GradientReduction
    /// The exact sum of the world-size-invariant mode (nil in the default mode).
    public let invariantSum: FixedPointSum?
    /// Rows of each forward and backward: the local batch, or in the world-size-invariant mode
    /// `microBatchesPerPass` micro-batches.
    public let trainingRows: Int
    /// World-size-invariant mode: how many of this rank's micro-batches run through forward and
    /// backward together (`LayerStack.computeGradients(groups:)`): the most, dividing this rank's
    /// count, for which `LayerStack.groupedGradientsMatch` found the same bits as one by one
    /// (1: one by one). 1 in the default mode.
    public let microBatchesPerPass: Int
    /// World-size-invariant mode: all of this rank's micro-batches run in one pass.
    public var microBatchesTogether: Bool { microBatchesPerPass > 1 && trainingRows == labels.count }
    /// World-size-invariant mode: hands backward's gradients to the exact sum, tile by tile.
    let tileSink: FixedPointTileSink?
    /// The micro-batch (world-size-invariant mode), else nil.
    public let microBatchSize: Int?
    let communicator: Communicator
    /// The training set the samples index.
    public let training: LabeledSamples
    public let globalBatchSize: Int
    /// `--clip-grad-norm`: the largest global L2 norm of the reduced gradient (nil: no clipping).
    public let maximumGradientNorm: Double?
    /// Seeds dropout's masks (with the step and each sample's index).
    public let seed: UInt64
    /// Watchers of each step (stall watchdog, fault injection), called in order.
    public var observers: [any StepObserver] = []
    /// The stop signal this rank has received (0: none), read once at the start of each step and
    /// carried to every rank by the step's reduction (`agreedStopRequests`).
    public var stopSignal: () -> Int32 = { 0 }
    /// Where the step's spans go (nil: nowhere): the whole step, gathering the batch, forward,
    /// the loss and backward layer by layer (`LayerStack`), each bucket's reduction
    /// (`GradientReduction`, `FixedPointSum`), the wait for the reduction and the optimizer
    /// update. Set it between steps; it costs two clock reads per span.
    public var timeline: Timeline? {
        didSet {
            model.timeline = timeline
            reduction.timeline = invariantSum == nil ? timeline : nil
            invariantSum?.timeline = timeline
            spanNames = timeline.map(StepSpanNames.init)
        }
    }
    var spanNames: StepSpanNames?
    /// Labels of the current batch `[trainingRows]`.
    let labels: UnsafeMutableBufferPointer<Int32>
    /// Seconds this rank computed in `run` since `resetComputeSeconds()`: each step's time minus
    /// the time spent finishing the reduction (waiting for the other ranks) and, in the default
    /// mode, in the reduction's progress calls during backward (where MPI moves the other ranks'
    /// data), so that a rank the others wait for shows its own slowness and not theirs
    /// (`ComputeBalance`).
    public private(set) var computeSeconds = 0.0

    /// What a step did.
    public enum Outcome: Equatable, Sendable {
        /// The update was applied. `loss`: the global batch's mean loss (reduced, identical on every
        /// rank); `gradientNorm`: the reduced gradient's L2 norm before clipping (with clipping only).
        case applied(loss: Double, gradientNorm: Double?)
        /// The reduced loss or gradient holds a NaN or an infinity (on every rank alike); nothing
        /// was updated. `loss`: the reduced mean loss, NaN or ±Inf when the loss itself was not finite.
        case nonFinite(loss: Double)
    }

    /// Allocates the model (for `max(localBatchSize, evaluationBatchSize)` rows, backward scratch
    /// for `localBatchSize`), the optimizer state and the reduction over the model's gradient buffer.
    /// - Parameters:
    ///   - plan: the model, checked (`ModelPlan`).
    ///   - localBatchSize: the most samples one `run` gets (in the world-size-invariant mode, a
    ///     multiple of the micro-batch: this rank's micro-batches).
    ///   - maximumMicroBatchesPerPass: the most micro-batches one pass may hold even where more
    ///     could run together (1: one by one; tests compare the choices).
    ///   - sharedParameters: with `--reduction sharded`, the node's shared parameters
    ///     (`NodeSharedParameters.make`), which the model uses as its own.
    public init(
        configuration: TrainingConfiguration, communicator: Communicator, plan: ModelPlan,
        training: LabeledSamples, localBatchSize: Int, evaluationBatchSize: Int = 0, maximumMicroBatchesPerPass: Int = .max,
        sharedParameters: NodeSharedParameters? = nil
    ) {
        let microBatch = configuration.invariantMicroBatchSize
        microBatchSize = microBatch
        let model = LayerStack(
            model: plan.description, layers: plan.layers, maximumBatchSize: max(localBatchSize, evaluationBatchSize),
            maximumTrainingBatchSize: localBatchSize,
            gradientBlockElements: microBatch == nil ? 1 << 17 : LayerStack.invariantGradientBlockElements,
            parameterStorage: sharedParameters?.storage)
        self.sharedParameters = sharedParameters
        self.model = model
        self.communicator = communicator
        let storage = model.gradientBuffer.storage.buffer, parameters = model.parameterCount
        let bucketBytes = Int(configuration.bucketMegabytes * 1_048_576)
        precondition(configuration.reduction != .sharded || microBatch == nil, "--reduction sharded with --world-size-invariant")
        precondition(sharedParameters == nil || configuration.reduction == .sharded, "shared parameters without --reduction sharded")
        reduction = GradientReduction(
            communicator: communicator, mode: configuration.reduction, overlap: configuration.overlap,
            buffer: storage, readyPoints: model.gradientReadyPoints, bucketByteCount: bucketBytes, shardedCount: parameters)
        shard = reduction.shards == nil ? 0..<parameters : reduction.ownedRange
        shardCounts = reduction.shards.map(communicator.blockCounts(of:))
        shardParameters = FloatBuffer(viewing: model.parameters, range: shard)
        shardGradients = FloatBuffer(viewing: model.gradients, range: shard)
        optimizer = makeOptimizer(configuration.optimizer, parameterCount: shard.count)
        // The sum's sections are the allreduce mode's buckets, whatever --reduction says.
        let sections = BucketPlan(
            readyPoints: model.gradientReadyPoints, bufferCount: storage.count,
            bucketElementCount: max(1, bucketBytes / MemoryLayout<Float>.stride))
        let local = microBatch.map { localBatchSize / $0 } ?? 0
        var together = 1
        if let microBatch, local > 1, maximumMicroBatchesPerPass > 1 {
            // Checked on vectors of its own, freed after (the sum keeps no whole vector for the
            // micro-batches of the last pass), from all of this rank's micro-batches down.
            let vectors = (0..<local).map { _ in FloatBuffer(count: storage.count) }
            let targets = vectors.map(\.baseAddress)
            together = withExtendedLifetime(vectors) {
                targets.withUnsafeBufferPointer { targets in
                    (2...min(local, maximumMicroBatchesPerPass)).reversed().first { count in
                        local % count == 0 && model.groupedGradientsMatch(
                            groups: .init(rows: microBatch, targets: UnsafeBufferPointer(rebasing: targets[0..<count])),
                            seed: configuration.seed)
                    } ?? 1
                }
            }
        }
        microBatchesPerPass = together
        let tiles = model.gradientTiles
        let invariantSum = microBatch.map { size in
            precondition(localBatchSize % size == 0 && configuration.globalBatchSize % size == 0,
                         "local batch \(localBatchSize), global \(configuration.globalBatchSize), micro-batch \(size)")
            // The loss slot and the stop requests get exponent blocks of their own and no block
            // crosses a tile; the sections are reduced as backward finishes them.
            return FixedPointSum(
                count: storage.count, boundaries: [parameters, parameters + 1] + tiles.map(\.lowerBound),
                sections: sections.buckets, termCount: configuration.globalBatchSize / size, localTermCount: local,
                stashedTermCount: local - together,
                tileCapacity: max(storage.count - parameters, tiles.map(\.count).max() ?? 0), communicator: communicator)
        }
        self.invariantSum = invariantSum
        tileSink = invariantSum.map { FixedPointTileSink(sum: $0, gradients: model.gradientBuffer) }
        trainingRows = microBatch.map { $0 * together } ?? localBatchSize
        self.training = training
        globalBatchSize = configuration.globalBatchSize
        maximumGradientNorm = configuration.clipGradientNorm
        seed = configuration.seed
        labels = .allocate(capacity: localBatchSize)
    }

    deinit {
        labels.deallocate()
    }

    public func resetComputeSeconds() { computeSeconds = 0 }

    /// Adds the time from `start` to `finishing`, and from `finished` to now, less `excluded`
    /// seconds, to `computeSeconds`.
    @inline(__always)
    func recordCompute(start: Double, finishing: Double, finished: Double, excluded: Double = 0) {
        computeSeconds += (finishing - start) + (communicator.wallTime() - finished) - excluded
    }

    /// The stop requests of the last step's reduction: each signal some rank had received when
    /// the step started, with how many ranks had (the same on every rank).
    public var agreedStopRequests: [SignalCount] { model.gradientBuffer.agreedStopRequests }

    /// Global step `step` on this rank's samples (indices into `training`, at most the local
    /// batch). Collective: every rank calls it for the same `step`.
    @inline(__always)
    public func run(samples: UnsafeBufferPointer<Int32>, learningRate: Double, step: Int64) throws -> Outcome {
        if let invariantSum {
            return try runWorldSizeInvariant(sum: invariantSum, tileSink: tileSink!, samples: samples, learningRate: learningRate, step: step)
        }
        let start = communicator.wallTime(), progressed = reduction.times.progressSeconds
        let spanStart = timeline == nil ? 0 : Timeline.now()
        timeline?.step = step
        defer { if let timeline { timeline.record(spanNames!.step, from: spanStart) } }
        for observer in observers { try observer.willComputeGradients(step: step) }
        training.fillBatch(indices: samples, features: model.input.baseAddress, labels: labels.baseAddress!)
        if let timeline { timeline.record(spanNames!.data, from: spanStart) }
        let gradients = model.gradientBuffer
        gradients.setStopRequests(received: stopSignal())
        // The reduction's buckets start during backward (overlap); the loss and stop slots are in the first.
        reduction.beginStep()
        _ = try model.computeGradients(
            batchSize: samples.count, labels: labels.baseAddress!, gradientScale: 1 / Float(globalBatchSize),
            dropout: .init(seed: seed, step: step, samples: samples)
        ) { event in
            switch event {
            case .lossComputed:
                for observer in observers { observer.lossComputed(step: step, gradients: gradients) }
            case .gradientsReady(let from): try reduction.ready(from: from)
            case .betweenKernels: try reduction.progress()
            case .tileComputed, .boundsNoted: break
            }
        }
        for observer in observers { observer.willFinishReduction(step: step) }
        let finishing = communicator.wallTime(), waitStart = timeline == nil ? 0 : Timeline.now()
        // Decided from the reduced bytes, identical on every rank, so every rank decides alike.
        let finite = try reduction.finish()
        let finished = communicator.wallTime()
        if let timeline { timeline.record(spanNames!.wait, from: waitStart) }
        defer {
            recordCompute(
                start: start, finishing: finishing, finished: finished,
                excluded: reduction.times.progressSeconds - progressed)
        }
        guard finite else { return .nonFinite(loss: Double(gradients.loss)) }
        return try update(learningRate: learningRate, step: step)
    }

    /// Clipping and the optimizer update from the reduced gradients; with `--reduction sharded`,
    /// of this rank's slice, then the allgather of the parameters.
    @inline(__always)
    func update(learningRate: Double, step: Int64) throws -> Outcome {
        var spanStart = timeline == nil ? 0 : Timeline.now()
        // Clipping is fused into the update: the optimizer reads each gradient times the factor.
        var norm: Double?, scale: Float?
        if let maxNorm = maximumGradientNorm {
            // Sharded: the norm the ranks agreed on in the reduction; each rank clips its own slice by it.
            let global = shardCounts == nil ? gradientNorm(model.gradients) : reduction.squaredNorm.squareRoot()
            norm = global
            scale = clipScale(norm: global, maxNorm: maxNorm)
        }
        if let shardCounts {
            optimizer.update(parameters: shardParameters, gradients: shardGradients, learningRate: learningRate, gradientScale: scale)
            if let timeline {
                timeline.record(spanNames!.optimizer, from: spanStart)
                spanStart = Timeline.now()
            }
            if let sharedParameters {
                try sharedParameters.publish()
            } else {
                try communicator.allgather(inPlace: model.parameters.buffer, blockCounts: shardCounts)
            }
            if let timeline { timeline.record(spanNames!.allgather, from: spanStart) }
        } else {
            optimizer.update(parameters: model.parameters, gradients: model.gradients, learningRate: learningRate, gradientScale: scale)
            if let timeline { timeline.record(spanNames!.optimizer, from: spanStart) }
        }
        for observer in observers { observer.didUpdate(step: step, parameters: model.parameters) }
        return .applied(loss: Double(model.gradientBuffer.loss), gradientNorm: norm)
    }
}
