import Collectives
import Foundation

extension Communicator {
    /// Runs `body` on every rank, then agrees on the outcome: when `body` failed on any rank,
    /// every rank throws the same `CollectiveFailure`, which names the failing ranks when they are
    /// not all of them (`rank 1: dataset file … does not exist`) and carries the exit status of
    /// the lowest failing rank. Rank 0 alone then reports it, instead of each failing rank racing
    /// to print its own copy. `body` must not call collectives. Collective.
    /// - Parameter participants: how many ranks do the work (`body` does nothing on the others,
    ///   e.g. one reading rank per node); when that many fail with the same message it is reported
    ///   without rank numbers. Nil: every rank.
    public func agreeOnOutcome<Value>(participants: Int? = nil, _ body: () throws -> Value) throws -> Value {
        var result: Result<Value, any Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        var mine: [UInt8] = []
        if case .failure(let error) = result { mine = Array(try JSONEncoder().encode(CollectiveFailure(error))) }
        let failures = try allgather(bytes: mine).enumerated().compactMap { rank, bytes in
            bytes.isEmpty ? nil : (rank, try JSONDecoder().decode(CollectiveFailure.self, from: Data(bytes)))
        }
        guard let first = failures.first else { return try result.get() }
        let sameEverywhere = failures.count == (participants ?? worldSize) && Set(failures.map(\.1.description)).count == 1
        let description = sameEverywhere
            ? first.1.description
            : failures.map { "rank \($0.0): \($0.1.description)" }.joined(separator: "\n")
        throw CollectiveFailure(description: description, hint: first.1.hint, status: first.1.status)
    }
}
