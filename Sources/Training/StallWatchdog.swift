import Foundation
import Synchronization

/// Turns a hang into an error: a background thread that ends the job when the training loop
/// makes no progress for `timeout` seconds (`--stall-timeout`).
///
/// The loop reports progress with `enter(_:step:)` before each phase that can block (a collective,
/// a step's compute) and the watchdog remembers the last one, so the error names the step and
/// what the rank was waiting in. A rank stuck in a collective because a peer died or stalls is
/// ended promptly instead of waiting forever. Updates are two relaxed atomic stores.
final class StallWatchdog: Sendable {
    /// What the rank is doing; names the collective in the error.
    enum Activity: Int, CaseIterable {
        case startup, computingGradients, gradientReduction, verification, evaluation, checkpoint

        var description: String {
            switch self {
            case .startup: "start-up (broadcast and agreement)"
            case .computingGradients: "forward/backward compute"
            case .gradientReduction: "the gradient reduction (allreduce)"
            case .verification: "the lockstep verification (allgather)"
            case .evaluation: "evaluation (allreduce)"
            case .checkpoint: "checkpointing"
            }
        }
    }

    private let progress = Atomic<Int64>(0)
    private let step = Atomic<Int64>(0)
    private let activity = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let timeout: Double
    private let rank: Int
    private let abort: @Sendable (Int32) -> Never

    /// Starts the watchdog thread; `timeout` ≤ 0 disables it (nothing is started).
    init(timeout: Double, rank: Int, abort: @escaping @Sendable (Int32) -> Never) {
        self.timeout = timeout
        self.rank = rank
        self.abort = abort
        guard timeout > 0 else { return }
        let thread = Thread { [self] in watch() }
        thread.name = "lockstep-watchdog"
        thread.start()
    }

    /// Records progress: the rank is now in `activity` at global step `step`.
    @inline(__always)
    func enter(_ activity: Activity, step: Int64) {
        self.step.store(step, ordering: .relaxed)
        self.activity.store(activity.rawValue, ordering: .relaxed)
        progress.wrappingAdd(1, ordering: .relaxed)
    }

    /// Stops watching (the thread exits at its next wake-up).
    func stop() { stopped.store(true, ordering: .relaxed) }

    private func watch() {
        let interval = min(1.0, timeout / 4)
        var lastProgress = progress.load(ordering: .relaxed)
        var lastChange = Date()
        while !stopped.load(ordering: .relaxed) {
            Thread.sleep(forTimeInterval: interval)
            let now = progress.load(ordering: .relaxed)
            if now != lastProgress {
                lastProgress = now
                lastChange = Date()
                continue
            }
            let idle = Date().timeIntervalSince(lastChange)
            guard idle >= timeout, !stopped.load(ordering: .relaxed) else { continue }
            let what = Activity(rawValue: activity.load(ordering: .relaxed))?.description ?? "unknown"
            let message = """
                rank \(rank): error: stalled: no progress for \(Int(idle.rounded())) s at step \
                \(step.load(ordering: .relaxed)) in \(what); ending the job (--stall-timeout \(timeout))
                rank \(rank): hint: a peer rank may have died or hung; check the other ranks' messages, \
                or raise --stall-timeout for very slow steps

                """
            FileHandle.standardError.write(Data(message.utf8))
            abort(75)  // ExitStatus.stalled
        }
    }
}
