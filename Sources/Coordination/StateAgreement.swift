import Collectives
import Foundation
import Reporting

/// Rank 0 is the source of truth: broadcasts rank 0's copy of named pieces of state and checks
/// that every rank's own copy (computed from the same seed, or read from the same checkpoint)
/// equals it bit for bit. A rank whose copy differs runs different code, libraries or inputs;
/// the job stops naming it instead of silently training from rank 0's copy.
public struct StateAgreement {
    public let communicator: Communicator

    public init(communicator: Communicator) { self.communicator = communicator }

    /// One piece of state as raw bytes (a buffer's storage, or an encoded value).
    public struct Piece {
        public let name: String
        public let bytes: UnsafeMutableRawBufferPointer

        public init(name: String, bytes: UnsafeMutableRawBufferPointer) {
            self.name = name
            self.bytes = bytes
        }
    }

    /// Broadcasts each piece from rank 0, compares, and leaves rank 0's bytes in every rank's
    /// piece. Throws `LockstepViolation` naming the step, the ranks and the pieces that differ.
    /// Collective.
    public func agree(on pieces: [Piece], step: Int64, context: String) throws {
        var mismatches = [Int64](repeating: 0, count: pieces.count)
        for (index, piece) in pieces.enumerated() {
            let received = UnsafeMutableRawBufferPointer(
                start: AlignedAllocation.allocate(byteCount: piece.bytes.count, alignment: 64, what: "rank 0's copy of \(piece.name)"),
                count: max(piece.bytes.count, 1))
            defer { free(received.baseAddress) }
            let view = UnsafeMutableRawBufferPointer(rebasing: received[0..<piece.bytes.count])
            view.copyMemory(from: UnsafeRawBufferPointer(piece.bytes))
            try communicator.broadcast(view, root: 0)
            if piece.bytes.count > 0, memcmp(view.baseAddress!, piece.bytes.baseAddress!, piece.bytes.count) != 0 {
                mismatches[index] = 1
                piece.bytes.copyMemory(from: UnsafeRawBufferPointer(view))
            }
        }
        try report(mismatches, names: pieces.map(\.name), step: step, context: context)
    }

    /// Broadcasts rank 0's encoding of a value (any length) and checks every rank's own encoding
    /// equals it. Collective.
    public func agree(onEncoded bytes: [UInt8], name: String, step: Int64, context: String) throws {
        let received = try communicator.broadcast(bytes: bytes, root: 0)
        try report([received == bytes ? 0 : 1], names: [name], step: step, context: context)
    }

    private func report(_ mismatches: [Int64], names: [String], step: Int64, context: String) throws {
        var flags = [UInt8]()
        for mismatch in mismatches { withUnsafeBytes(of: mismatch.littleEndian) { flags.append(contentsOf: $0) } }
        let gathered = try communicator.allgather(fixed: flags)
        let differingRanks = gathered.indices.filter { gathered[$0].contains { $0 != 0 } }
        guard !differingRanks.isEmpty else { return }
        let differingNames = names.indices.filter { index in
            gathered.contains { $0[(index * 8)..<(index * 8 + 8)].contains { $0 != 0 } }
        }.map { names[$0] }
        let agreeing = gathered.indices.filter { !differingRanks.contains($0) }
        throw LockstepViolation(
            step: step, context: context, differingParts: differingNames,
            rankGroups: [agreeing, differingRanks].filter { !$0.isEmpty })
    }
}
