import Foundation
import Reporting
import Synchronization

/// Turns a hang into an error: a background thread that ends the job when the training loop
/// makes no progress for `timeout` seconds (`--stall-timeout`).
///
/// The loop reports progress with `enter(_:step:)` before each phase that can block (a collective,
/// a step's compute) and the watchdog remembers the last one, so the error names the step and
/// what the rank was waiting in. A rank stuck in a collective because a peer died or stalls is
/// ended promptly instead of waiting forever. Updates are two relaxed atomic stores.
public final class StallWatchdog: Sendable {
    /// What the rank is doing; names the collective in the error.
    public enum Activity: Int, CaseIterable, Sendable {
        case startup, computingGradients, gradientReduction, verification, evaluation, checkpoint

        public var description: String {
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
    private let onStall: @Sendable (Stall) -> Void

    /// What the watchdog saw when it gave up.
    public struct Stall: Equatable, Sendable, CustomStringConvertible {
        public let rank: Int
        /// Seconds without progress.
        public let idleSeconds: Double
        public let step: Int64
        public let activity: Activity?
        /// `--stall-timeout`.
        public let timeout: Double

        /// `rank R: error: stalled: …` and `rank R: hint: …`, each ending with a newline.
        public var description: String {
            """
            rank \(rank): error: stalled: no progress for \(Int(idleSeconds.rounded())) s at step \(step) in \
            \(activity?.description ?? "unknown"); ending the job (--stall-timeout \(timeout))
            rank \(rank): hint: a peer rank may have died or hung; check the other ranks' messages, \
            or raise --stall-timeout for very slow steps

            """
        }
    }

    /// Ends the job on a stall: writes `stall` to standard error and calls `abort` with exit
    /// status 75 (`ExitStatus.stalled`). What a real job passes as `onStall`.
    public static func reportAndAbort(_ abort: @escaping @Sendable (Int32) -> Never) -> @Sendable (Stall) -> Void {
        { stall in
            FileHandle.standardError.write(Data(stall.description.utf8))
            abort(ExitStatus.stalled.rawValue)
        }
    }

    /// Starts the watchdog thread; `timeout` ≤ 0 disables it (nothing is started).
    /// - Parameter onStall: called once, on the watchdog's thread, when no progress was recorded
    ///   for `timeout` seconds; the watchdog stops after it returns.
    public init(timeout: Double, rank: Int, onStall: @escaping @Sendable (Stall) -> Void) {
        self.timeout = timeout
        self.rank = rank
        self.onStall = onStall
        guard timeout > 0 else { return }
        let thread = Thread { [self] in watch() }
        thread.name = "lockstep-watchdog"
        thread.start()
    }

    /// Records progress: the rank is now in `activity` at global step `step`.
    @inline(__always)
    public func enter(_ activity: Activity, step: Int64) {
        self.step.store(step, ordering: .relaxed)
        self.activity.store(activity.rawValue, ordering: .relaxed)
        progress.wrappingAdd(1, ordering: .relaxed)
    }

    /// Stops watching (the thread exits at its next wake-up).
    public func stop() { stopped.store(true, ordering: .relaxed) }

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
            onStall(Stall(
                rank: rank, idleSeconds: idle, step: step.load(ordering: .relaxed),
                activity: Activity(rawValue: activity.load(ordering: .relaxed)), timeout: timeout))
            stop()
        }
    }
}
