/// The process exit codes of `lockstep`, documented in README ("Exit codes").
///
/// Modelled on BSD `sysexits.h` where a code fits, so shell scripts and schedulers can tell a
/// usage mistake from bad data, an I/O failure, an MPI failure or a broken lockstep invariant.
public enum ExitStatus: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case success = 0
    /// A bad flag value, a bad configuration file, an invalid schedule (EX_USAGE).
    case usage = 64
    /// Malformed input data: a dataset or checkpoint file that is not what it claims (EX_DATAERR).
    case data = 65
    /// An input file that does not exist or cannot be opened (EX_NOINPUT).
    case missingInput = 66
    /// An MPI call failed (EX_UNAVAILABLE).
    case mpi = 69
    /// A bug in lockstep itself (EX_SOFTWARE).
    case software = 70
    /// Memory ran out although the model passed the memory check (EX_OSERR).
    case outOfMemory = 71
    /// Writing a file failed: disk full, permission denied (EX_IOERR).
    case io = 74
    /// The stall watchdog fired: a step made no progress within `--stall-timeout` (EX_TEMPFAIL).
    case stalled = 75
    /// The ranks disagree: configuration, parameters, optimizer or schedule state (EX_PROTOCOL).
    case lockstepViolation = 76
    /// A non-finite loss or gradient with `--on-nonfinite abort`.
    case nonFinite = 79
    /// SIGTERM, SIGINT or SIGUSR1 stopped the run at a step the ranks agreed on, after writing its
    /// checkpoint: continue with `--resume auto` (what a requeued job does).
    case stoppedBySignal = 80
    /// Training diverged and `--on-divergence stop` ended the run (its checkpoints kept).
    case diverged = 81

    public var description: String {
        switch self {
        case .success: "success"
        case .usage: "usage error"
        case .data: "malformed data"
        case .missingInput: "missing input"
        case .mpi: "MPI failure"
        case .software: "internal error"
        case .outOfMemory: "out of memory"
        case .io: "I/O error"
        case .stalled: "stalled"
        case .lockstepViolation: "lockstep violation"
        case .nonFinite: "non-finite value"
        case .stoppedBySignal: "stopped by a signal"
        case .diverged: "training diverged"
        }
    }
}
