import Checkpoints
import Datasets
import Determinism
import Foundation
import Reporting

/// Writing checkpoints (DESIGN.md §1.5: a checkpoint on disk is either the complete old one or
/// the complete new one).
extension Trainer {
    /// Writes the checkpoint of the current state when `--checkpoint-dir` is set: the ranks prove
    /// they are in lockstep, rank 0 writes the file atomically and prunes to `--keep-last`, and
    /// broadcasts the outcome, so that a failed write ends the job on every rank (with rank 0's
    /// message and the I/O exit status) while the previous checkpoint stays intact. Collective.
    func writeCheckpoint() throws {
        guard let path = checkpointing.directory else { return }
        try verifyState(context: "before the checkpoint at step \(globalStep)")
        watchdog.enter(.checkpoint, step: globalStep)
        _ = try communicator.runOnRankZero {
            let directory = CheckpointDirectory(url: URL(fileURLWithPath: path))
            let checkpoint = try makeTrainingCheckpoint().encoded()
            let url = try directory.write(
                checkpoint, step: globalStep, fault: faults.checkpointWriteFault(rank: communicator.rank, step: globalStep))
            let pruned = try directory.prune(keepLast: checkpointing.keepLast)
            let removed = pruned.isEmpty ? "" : "; removed \(pruned.map(\.lastPathComponent).joined(separator: ", "))"
            let shown = (path as NSString).appendingPathComponent(url.lastPathComponent)  // as the user gave it
            logger.info("checkpoint \(shown) at step \(globalStep) (\(positionDescription))\(removed)")
            return []
        }
    }

    /// Creates the checkpoint directory and proves it writable (rank 0, before the first step),
    /// so that a directory that cannot take checkpoints fails the run at start, not after an epoch.
    /// - Throws: `OutputError` (exit status 74) naming the directory and the reason.
    func prepareCheckpointDirectory() throws {
        guard let path = checkpointing.directory else { return }
        let probe = (path as NSString).appendingPathComponent(".lockstep-write-test-\(getpid())")
        try OutputError.createDirectories(atPath: path, action: "create the checkpoint directory")
        guard FileManager.default.createFile(atPath: probe, contents: Data([0])) else {
            throw OutputError(path: path, action: "write checkpoints to", reason: String(cString: strerror(errno)))
        }
        try? FileManager.default.removeItem(atPath: probe)
    }

    /// "end of epoch 2" or "epoch 3, step 5/10": where the current state is.
    var positionDescription: String {
        stepInEpoch == 0 ? "end of epoch \(epoch)" : "epoch \(epoch + 1), step \(stepInEpoch)/\(stepsPerEpoch)"
    }

    /// The current state as a checkpoint's contents.
    func makeTrainingCheckpoint() -> TrainingCheckpoint {
        var tensors = layout.tensors.map { tensor in
            CheckpointTensor(name: tensor.name, shape: tensor.shape, copying: UnsafeBufferPointer(model.parameters.slice(tensor.range)))
        }
        for (state, buffer) in optimizer.stateBuffers {
            tensors += layout.tensors.map { tensor in
                CheckpointTensor(
                    name: TrainingCheckpoint.optimizerTensorName(state: state, parameter: tensor.name), shape: tensor.shape,
                    copying: UnsafeBufferPointer(buffer.slice(tensor.range)))
            }
        }
        return TrainingCheckpoint(
            lockstepVersion: LockstepVersion.current, configuration: configuration, worldSize: communicator.worldSize,
            position: .init(epoch: epoch, step_in_epoch: stepInEpoch, global_step: globalStep, steps_per_epoch: stepsPerEpoch),
            scheduleState: scheduleState,
            learningRate: .init(globalStep: globalStep, value: schedule.lr(at: globalStep)),
            randomState: randomState(epoch: epoch),
            epochProgress: .init(train_loss_sum: epochLossSum, applied_steps: epochAppliedSteps, gradient_norms: gradientNorms),
            data: .init(data), metrics: metricsHistory, tensors: tensors)
    }

    /// The random state at the start of (or inside) `epoch`: the seed, the data order's stream,
    /// and the hash of the epoch's permutation.
    func randomState(epoch: Int) -> TrainingCheckpoint.RandomState {
        let order = sampler.permutation(epoch: epoch)
        var hasher = StateHash()
        order.withUnsafeBytes { hasher.combine(bytes: $0) }
        return .init(
            seed: configuration.seed, data_order_stream: [DistributedSampler.streamTag, UInt64(epoch)], epoch: epoch,
            permutation_hash: StateHash.hex(hasher.finalize()))
    }
}
