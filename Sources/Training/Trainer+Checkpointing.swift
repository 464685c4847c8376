import Checkpoints
import Coordination
import Foundation
import Reporting
import Tracing

/// Writing checkpoints (DESIGN.md §1.5: a checkpoint on disk is either the complete old one or
/// the complete new one).
extension Trainer {
    /// Writes the checkpoint of the current state when `--checkpoint-dir` is set: the ranks prove
    /// they are in lockstep, rank 0 writes the file atomically and prunes to `--keep-last`, and
    /// broadcasts the outcome, so that a failed write ends the job on every rank (with rank 0's
    /// message and the I/O exit status) while the previous checkpoint stays intact. Collective.
    func writeCheckpoint() throws {
        guard let path = checkpointing.directory else { return }
        let step = state.globalStep, spanStart = Timeline.now()
        defer { recordSpan(\.checkpoint, from: spanStart) }
        try verifyState(context: "before the checkpoint at step \(step)")
        watchdog.enter(.checkpoint, step: step)
        let optimizerState = try state.gatheredOptimizerState(communicator)
        _ = try communicator.runOnRankZero {
            let directory = CheckpointDirectory(url: URL(fileURLWithPath: path))
            let checkpoint = try state.makeTrainingCheckpoint(optimizerState: optimizerState).encoded()
            let url: URL
            do {
                url = try directory.write(checkpoint, step: step, fault: faults.checkpointWriteFault(step: step))
            } catch let error as CheckpointError where faults.plan.explains(error) {
                throw InjectedError(error)  // marked here: rank 0's message reaches the others as text
            }
            let pruned = try directory.prune(keepLast: checkpointing.keepLast, keeping: url)
            let removed = pruned.isEmpty ? "" : "; removed \(pruned.map(\.lastPathComponent).joined(separator: ", "))"
            let shown = (path as NSString).appendingPathComponent(url.lastPathComponent)  // as the user gave it
            logger.info("checkpoint \(shown) at step \(step) (\(state.positionDescription))\(removed)")
            lastCheckpoint = shown
            return []
        }
    }

    /// Creates the checkpoint directory and proves it writable (rank 0, before the first step),
    /// so that a directory that cannot take checkpoints fails the run at start, not after an epoch.
    /// - Throws: `OutputError` (exit status 74) naming the directory and the reason.
    func prepareCheckpointDirectory() throws {
        guard let path = checkpointing.directory else { return }
        try OutputError.requireWritableFolder(
            atPath: path, creating: "create the checkpoint directory", action: "write checkpoints to")
    }
}
