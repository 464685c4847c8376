import Foundation
import Models

/// The signals that stop a run cleanly (README "Stopping a run with a signal"): the ranks agree on a step, finish
/// it, write a checkpoint and exit with `ExitStatus.stoppedBySignal`.
///
/// SIGTERM is what schedulers and `kill` send, and what `mpirun` sends its ranks (after one second,
/// then SIGKILL one second later: Open MPI's `odls_base_sigkill_timeout`) when it gets SIGTERM or
/// SIGINT; SIGINT is Ctrl-C on a single process; SIGUSR1 is the preemption warning of choice
/// (`sbatch --signal=USR1@…`), forwarded by `mpirun` at once and without a kill.
///
/// Catching them is the job's (`StopSignals` in `Job`); a rank passes what it received to
/// `TrainingStep.stopSignal`, and each kind has a slot in the reduced gradient buffer
/// (`GradientBuffer[stopRequest:]`), in `allCases` order.
public enum StopSignal: CaseIterable, Sendable {
    case terminate, interrupt, user1

    public var number: Int32 {
        switch self {
        case .terminate: SIGTERM
        case .interrupt: SIGINT
        case .user1: SIGUSR1
        }
    }

    /// `SIGTERM`, `SIGINT`, `SIGUSR1`.
    public var name: String {
        switch self {
        case .terminate: "SIGTERM"
        case .interrupt: "SIGINT"
        case .user1: "SIGUSR1"
        }
    }

    /// The kind for a signal number, or nil.
    public init?(number: Int32) {
        guard let match = Self.allCases.first(where: { $0.number == number }) else { return nil }
        self = match
    }

    /// The slot of this kind in the gradient buffer's stop requests.
    var slot: Int { Self.allCases.firstIndex(of: self)! }
}

/// A signal some ranks received, and how many (from the reduced stop slots).
public struct SignalCount: Equatable, Sendable {
    public let signal: StopSignal
    public let ranks: Int
}

/// The stop the ranks agreed on: which signals, on how many ranks, and where the run stopped.
public struct AgreedStop: Equatable, Sendable {
    /// Each signal received, with the number of ranks that received it, in `StopSignal` order.
    public let signals: [SignalCount]
    /// The global step after which the run stopped.
    public let step: Int64
    /// Where that is: `epoch 2, step 17/469` or `end of epoch 2`.
    public let position: String

    /// `SIGTERM`, or `SIGTERM (on 1 of 2 ranks) and SIGUSR1 (on 1 of 2 ranks)`.
    public func signalDescription(worldSize: Int) -> String {
        signals.map { entry in
            entry.ranks == worldSize || worldSize == 1
                ? entry.signal.name : "\(entry.signal.name) (on \(entry.ranks) of \(worldSize) ranks)"
        }.joined(separator: " and ")
    }
}

extension GradientBuffer {
    /// Writes this rank's stop requests before the reduction: 1 in the slot of `received`, 0 in the others.
    func setStopRequests(received: Int32) {
        for signal in StopSignal.allCases { self[stopRequest: signal.slot] = signal.number == received ? 1 : 0 }
    }

    /// After the reduction: each signal some rank received, with how many ranks did (identical on
    /// every rank: read from the reduced bytes).
    var agreedStopRequests: [SignalCount] {
        StopSignal.allCases.compactMap { signal in
            let count = self[stopRequest: signal.slot]
            return count > 0 ? SignalCount(signal: signal, ranks: Int(count.rounded())) : nil
        }
    }
}
