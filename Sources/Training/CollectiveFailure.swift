import Collectives
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
    static func collectively<Value>(_ body: () throws -> Value) throws -> Value {
        do { return try body() } catch { throw CollectiveFailure(error) }
    }
}

extension Communicator {
    /// Runs `body` on rank 0 alone and broadcasts its outcome: the bytes it returns (any length),
    /// or the error it throws. Every rank returns the same bytes or throws the same
    /// `CollectiveFailure`. Collective.
    func runOnRankZero(_ body: () throws -> [UInt8]) throws -> [UInt8] {
        var outcome: [UInt8] = []
        if rank == 0 {
            do {
                outcome = [0] + (try body())
            } catch {
                outcome = [1] + Array(try JSONEncoder().encode(CollectiveFailure(error)))
            }
        }
        let received = try broadcast(bytes: outcome, root: 0)
        guard let tag = received.first else { preconditionFailure("empty rank-0 outcome") }
        if tag == 0 { return Array(received.dropFirst()) }
        throw try JSONDecoder().decode(CollectiveFailure.self, from: Data(received.dropFirst()))
    }
}

extension Communicator {
    /// Runs `body` on every rank, then agrees on the outcome: when `body` failed on any rank,
    /// every rank throws the same `CollectiveFailure`, which names the failing ranks when they are
    /// not all of them (`rank 1: dataset file … does not exist`) and carries the exit status of
    /// the lowest failing rank. Rank 0 alone then reports it, instead of each failing rank racing
    /// to print its own copy. `body` must not call collectives. Collective.
    public func agreeOnOutcome<Value>(_ body: () throws -> Value) throws -> Value {
        var result: Result<Value, any Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        var mine: [UInt8] = []
        if case .failure(let error) = result { mine = Array(try JSONEncoder().encode(CollectiveFailure(error))) }
        let failures = try allgather(bytes: mine).enumerated().compactMap { rank, bytes in
            bytes.isEmpty ? nil : (rank, try JSONDecoder().decode(CollectiveFailure.self, from: Data(bytes)))
        }
        guard let first = failures.first else { return try result.get() }
        let sameEverywhere = failures.count == worldSize && Set(failures.map(\.1.description)).count == 1
        let description = sameEverywhere
            ? first.1.description
            : failures.map { "rank \($0.0): \($0.1.description)" }.joined(separator: "\n")
        throw CollectiveFailure(description: description, hint: first.1.hint, status: first.1.status)
    }
}
