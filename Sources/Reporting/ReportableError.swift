/// An error caused by the world (a file, the data, the configuration, MPI), reported to the user
/// as one or two lines and mapped to a documented exit status.
///
/// `description` says what is wrong and where (file, flag, rank, step); `hint`, when present,
/// says what to do about it. Programming errors are `precondition`s instead.
public protocol ReportableError: Error, CustomStringConvertible {
    /// The process exit status this error ends the job with.
    var exitStatus: ExitStatus { get }
    /// One line on how to fix it, or nil.
    var hint: String? { get }
    /// True when every rank of the job detects this same error from the same collective data
    /// (a lockstep violation, a start-up disagreement, a non-finite reduced gradient): then rank 0
    /// alone reports it instead of every rank printing the same lines.
    var isCollective: Bool { get }
    /// True when this error may be the echo of another rank's failure (a failed MPI call after a
    /// peer died or its host went away): then the failing rank gives the launcher a moment to
    /// name the process that ended first before it aborts the job.
    var mayFollowAPeersFailure: Bool { get }
}

extension ReportableError {
    public var hint: String? { nil }
    public var isCollective: Bool { false }
    public var mayFollowAPeersFailure: Bool { false }
}

/// A usage error raised outside argument parsing (for example a flag combination checked later).
public struct UsageError: ReportableError, Equatable {
    public let message: String
    public let hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String { message }
    public var exitStatus: ExitStatus { .usage }
}
