import Checkpoints
import Coordination
import Foundation
import Reporting

/// Starting a run: from the seed, or from a checkpoint (`--resume`).
///
/// Resume protocol: rank 0 finds the file and reads its bytes, and broadcasts them (no shared file
/// system needed); every rank decodes the same bytes and checks and restores them
/// (`RunState.restore`); then rank 0's state is broadcast and every rank checks it holds the same.
/// Training continues from the exact next sample.
extension Trainer {
    /// Initialises the state from the seed, or restores the checkpoint `checkpointing.resume`
    /// names; then agrees on rank 0's state. Collective.
    func prepareState() throws {
        guard let source = try locateCheckpoint() else {
            state.model.initialize(seed: configuration.seed)
            faults.initialStateReady(parameters: state.model.parameters)
            try agreeOnState(context: "initial state from seed \(configuration.seed)")
            return
        }
        watchdog.enter(.checkpoint, step: state.globalStep)
        let bytes = try communicator.runOnRankZero { try CheckpointReader.readBytes(from: URL(fileURLWithPath: source)) }
        let (warnings, information) = try CollectiveFailure.collectively {
            try state.restore(bytes, source: source, allowConfigurationChange: checkpointing.allowConfigurationChange)
        }
        if communicator.rank == 0 {
            logger.info("resumed from \(source) at step \(state.globalStep) (\(state.positionDescription))")
            for note in warnings { logger.warning("\(note)") }
            for note in information { logger.info("\(note)") }
        }
        try agreeOnState(context: "state restored from \(source)")
    }

    /// The checkpoint to resume from, as rank 0 sees it (nil: a fresh start). Logs the choice and
    /// `CheckpointDirectory.latest()`'s warnings. Collective.
    private func locateCheckpoint() throws -> String? {
        guard checkpointing.resume != .none else { return nil }
        let answer = try communicator.runOnRankZero {
            switch checkpointing.resume {
            case .none: return []
            case let .path(path): return Array(path.utf8)
            case .auto:
                guard let directoryPath = checkpointing.directory else {
                    throw UsageError("--resume auto needs --checkpoint-dir", hint: "give --checkpoint-dir DIR, or --resume PATH")
                }
                guard let latest = try CheckpointDirectory(url: URL(fileURLWithPath: directoryPath)).latest() else {
                    if FileManager.default.fileExists(atPath: directoryPath) {
                        logger.info("--resume auto: no checkpoint in \(directoryPath), starting afresh")
                    } else {  // a mistyped run directory, or the first submission of a job script
                        logger.warning("""
                            --resume auto: \(directoryPath) does not exist, so this run starts afresh \
                            (check the --run-dir or --checkpoint-dir if you meant to continue a run)
                            """)
                    }
                    return []
                }
                for warning in latest.warnings { logger.warning("\(warning)") }
                let shown = (directoryPath as NSString).appendingPathComponent(latest.url.lastPathComponent)
                logger.info("--resume auto: the newest valid checkpoint is \(shown)")
                return Array(shown.utf8)
            }
        }
        return answer.isEmpty ? nil : String(decoding: answer, as: UTF8.self)
    }
}
