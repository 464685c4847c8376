import CSignals
import Foundation
import Reporting

/// The process's handlers for the signals that stop a run cleanly (SIGTERM, SIGINT, SIGUSR1).
///
/// The handler (C, `lockstep_signals.h`) only records the first signal, which is all a handler
/// may safely do; the training loop reads `received` at every step. The same signal again from
/// the same sender ends the process at once (a second Ctrl-C); from another sender (a scheduler
/// and `mpirun` relaying the same request) it is ignored.
public enum StopSignals {
    /// Installs the handlers for `signals`.
    /// - Throws: `StopSignalsError` when `sigaction` fails.
    public static func install(_ signals: [Int32]) throws {
        let code = signals.withUnsafeBufferPointer { lockstep_install_stop_handlers($0.baseAddress, Int32($0.count)) }
        if code != 0 { throw StopSignalsError(code: code) }
    }

    /// The first signal received since `install`, or 0.
    public static var received: Int32 { lockstep_stop_signal() }
}

/// `sigaction` failed installing the stop handlers.
public struct StopSignalsError: ReportableError {
    public let code: Int32
    public var exitStatus: ExitStatus { .software }
    public var description: String { "cannot install the signal handlers: \(String(cString: strerror(code)))" }
}
