import Checkpoints
import Coordination
import Datasets
import Determinism
import Reporting

/// The state as the ranks compare it and as a checkpoint stores it.
extension RunState {
    /// Hashes of the state every rank must share: parameters, each optimizer buffer, and the
    /// counters with the LR's bit pattern.
    func stateParts() -> [LockstepVerifier.Part] {
        func hash(_ buffer: UnsafeMutableBufferPointer<Float>) -> UInt64 {
            LockstepVerifier.hash(bytes: UnsafeRawBufferPointer(buffer))
        }
        var parts = [LockstepVerifier.Part(name: "parameters", hash: hash(model.parameters.buffer))]
        for (name, buffer) in optimizer.stateBuffers {
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

    /// Rank 0's copies of the parameters and optimizer buffers, as `StateAgreement` broadcasts them.
    var statePieces: [StateAgreement.Piece] {
        var pieces = [StateAgreement.Piece(name: "parameters", bytes: UnsafeMutableRawBufferPointer(model.parameters.buffer))]
        for (name, buffer) in optimizer.stateBuffers {
            pieces.append(.init(name: "optimizer.\(name)", bytes: UnsafeMutableRawBufferPointer(buffer.buffer)))
        }
        return pieces
    }

    /// The counters and the effective schedule (what checkpoints store as `schedule_state`).
    var scheduleState: ScheduleState {
        ScheduleState(
            globalStep: globalStep, optimizerStep: optimizer.stepCount, skippedSteps: skippedSteps, schedule: schedule)
    }

    /// The current state as a checkpoint's contents.
    func makeTrainingCheckpoint() -> TrainingCheckpoint {
        var tensors = model.tensors.map { tensor in
            CheckpointTensor(name: tensor.name, shape: tensor.shape, copying: UnsafeBufferPointer(model.parameters.slice(tensor.range)))
        }
        for (state, buffer) in optimizer.stateBuffers {
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
