import Collectives
import Foundation

extension Communicator {
    /// Runs `body` on rank 0 alone and broadcasts its outcome: the bytes it returns (any length),
    /// or the error it throws. Every rank returns the same bytes or throws the same
    /// `CollectiveFailure`. Collective.
    public func runOnRankZero(_ body: () throws -> [UInt8]) throws -> [UInt8] {
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
