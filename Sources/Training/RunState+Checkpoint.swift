import Checkpoints
import Collectives
import Coordination
import Datasets
import Determinism
import Kernels
import Reporting

/// The state as the ranks compare it and as a checkpoint stores it.
extension RunState {
    /// Hashes of the state every rank must share: parameters, each optimizer buffer, and the
    /// counters with the LR's bit pattern. With `--reduction sharded` each rank holds a different
    /// slice of the optimizer's buffers, so they are not compared: the parameters, which every
    /// rank all-gathers after each update, and the counters are.
    func stateParts() -> [LockstepVerifier.Part] {
        func hash(_ buffer: UnsafeMutableBufferPointer<Float>) -> UInt64 {
            LockstepVerifier.hash(bytes: UnsafeRawBufferPointer(buffer))
        }
        var parts = [LockstepVerifier.Part(name: "parameters", hash: hash(model.parameters.buffer))]
        for (name, buffer) in shardCounts == nil ? optimizer.stateBuffers : [] {
            parts.append(.init(name: "optimizer.\(name)", hash: hash(buffer.buffer)))
        }
        parts.append(.init(
            name: "counters (global step, optimizer step, skipped steps, lr)",
            hash: LockstepVerifier.hash(words: [
                UInt64(bitPattern: globalStep), UInt64(bitPattern: optimizer.stepCount),
                UInt64(bitPattern: skippedSteps), schedule.lr(at: globalStep).bitPattern,
            ])))
        return parts
    }

    /// Rank 0's copies of the parameters and optimizer buffers, as `StateAgreement` broadcasts them
    /// (with `--reduction sharded`, the parameters only: each rank holds its own optimizer slice).
    var statePieces: [StateAgreement.Piece] {
        var pieces = [StateAgreement.Piece(name: "parameters", bytes: UnsafeMutableRawBufferPointer(model.parameters.buffer))]
        for (name, buffer) in shardCounts == nil ? optimizer.stateBuffers : [] {
            pieces.append(.init(name: "optimizer.\(name)", bytes: UnsafeMutableRawBufferPointer(buffer.buffer)))
        }
        return pieces
    }

    /// The counters and the effective schedule (what checkpoints store as `schedule_state`).
    var scheduleState: ScheduleState {
        ScheduleState(
            globalStep: globalStep, optimizerStep: optimizer.stepCount, skippedSteps: skippedSteps, schedule: schedule)
    }

    /// The optimizer's whole state, `[parameterCount]` per buffer, for rank 0 to write: its own
    /// buffers, or with `--reduction sharded` copies gathered on rank 0 from every rank's slice
    /// (`MPI_Gatherv`; the other ranks get an empty list and hold no whole copy), so that a
    /// checkpoint is the same file whatever the reduction mode and world size. Collective.
    func gatheredOptimizerState(_ communicator: Communicator) throws -> [(name: String, buffer: FloatBuffer)] {
        guard let shardCounts else { return optimizer.stateBuffers }
        let isRoot = communicator.rank == 0
        let gathered = try optimizer.stateBuffers.map { name, slice in
            let whole = isRoot ? FloatBuffer(count: model.parameterCount) : nil
            try communicator.gather(UnsafeBufferPointer(slice.buffer), into: whole?.buffer, blockCounts: shardCounts, root: 0)
            return (name, whole)
        }
        return gathered.compactMap { name, whole in whole.map { (name, $0) } }
    }

    /// The current state as a checkpoint's contents, with the whole optimizer state
    /// (`gatheredOptimizerState`).
    func makeTrainingCheckpoint(optimizerState: [(name: String, buffer: FloatBuffer)]) -> TrainingCheckpoint {
        var tensors = model.tensors.map { tensor in
            CheckpointTensor(name: tensor.name, shape: tensor.shape, copying: UnsafeBufferPointer(model.parameters.slice(tensor.range)))
        }
        for (state, buffer) in optimizerState {
            tensors += model.tensors.map { tensor in
                CheckpointTensor(
                    name: TrainingCheckpoint.optimizerTensorName(state: state, parameter: tensor.name), shape: tensor.shape,
                    copying: UnsafeBufferPointer(buffer.slice(tensor.range)))
            }
        }
        return TrainingCheckpoint(
            lockstepVersion: LockstepVersion.current, configuration: configuration, worldSize: worldSize,
            position: .init(epoch: epoch, stepInEpoch: stepInEpoch, globalStep: globalStep, stepsPerEpoch: stepsPerEpoch),
            scheduleState: scheduleState,
            learningRate: .init(globalStep: globalStep, value: schedule.lr(at: globalStep)),
            randomState: randomState(epoch: epoch),
            epochProgress: .init(trainLossSum: epochLossSum, appliedSteps: epochAppliedSteps, gradientNorms: gradientNorms),
            data: .init(data), metrics: metricsHistory, model: model.model.description, tensors: tensors)
    }

    /// The random state at the start of (or inside) `epoch`: the seed, the data order's stream,
    /// and the hash of the epoch's permutation.
    func randomState(epoch: Int) -> TrainingCheckpoint.RandomState {
        let order = sampler.permutation(epoch: epoch)
        var hasher = StateHash()
        order.withUnsafeBytes { hasher.combine(bytes: $0) }
        return .init(
            seed: configuration.seed, dataOrderStream: [DistributedSampler.streamTag, UInt64(epoch)], epoch: epoch,
            permutationHash: StateHash.hex(hasher.finalize()))
    }
}
