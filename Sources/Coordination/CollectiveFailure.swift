import Foundation
import Reporting

/// An error every rank of the job ends with, reported once by rank 0.
///
/// Two sources: an error that every rank detects from the same data (decoding the checkpoint
/// bytes rank 0 broadcast, checking them against the same configuration), and an error that
/// rank 0 alone meets (reading a file, writing a checkpoint) and broadcasts with
/// `Communicator.runOnRankZero`, so that no rank waits for rank 0 in a collective that never
/// comes and every rank exits with the same status.
public struct CollectiveFailure: ReportableError, Equatable, Codable {
    public let description: String
    public let hint: String?
    public let status: Int32

    public var exitStatus: ExitStatus { ExitStatus(rawValue: status) ?? .software }
    public var isCollective: Bool { true }

    /// The same message, hint and status as `error` (status 70 for an error that is not a
    /// `ReportableError`).
    public init(_ error: any Error) {
        if let failure = error as? CollectiveFailure {
            self = failure
        } else if let reportable = error as? any ReportableError {
            description = reportable.description
            hint = reportable.hint
            status = reportable.exitStatus.rawValue
        } else {
            description = "\(error)"
            hint = nil
            status = ExitStatus.software.rawValue
        }
    }

    public init(description: String, hint: String?, status: Int32) {
        self.description = description
        self.hint = hint
        self.status = status
    }

    /// Runs `body`, turning any error it throws into a `CollectiveFailure`. Use it only where
    /// every rank runs `body` on the same data, so every rank throws the same error.
    public static func collectively<Value>(_ body: () throws -> Value) throws -> Value {
        do { return try body() } catch { throw CollectiveFailure(error) }
    }
}
