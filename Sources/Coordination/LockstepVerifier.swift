import Collectives
import Determinism
import Reporting

/// Proves that every rank holds the same state: hashes named parts of it (parameters, optimizer
/// buffers, counters, the LR's bit pattern), allgathers the hashes and compares them.
public struct LockstepVerifier {
    public let communicator: Communicator

    public init(communicator: Communicator) { self.communicator = communicator }

    /// One named part of the state and its hash on this rank.
    public struct Part: Equatable, Sendable {
        public let name: String
        public let hash: UInt64

        public init(name: String, hash: UInt64) {
            self.name = name
            self.hash = hash
        }
    }

    /// Hashes raw bytes (a buffer's storage).
    public static func hash(bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hasher = StateHash()
        hasher.combine(bytes: bytes)
        return hasher.finalize()
    }

    /// Hashes 64-bit words (counters, `Double.bitPattern`s).
    public static func hash(words: [UInt64]) -> UInt64 {
        var hasher = StateHash()
        for word in words { hasher.combine(word) }
        return hasher.finalize()
    }

    /// Allgathers `parts` (same names and order on every rank) and throws `LockstepViolation`
    /// naming the step, the groups of ranks that agree, and the parts that differ. Collective.
    /// - Returns: the hash of all parts together, identical on every rank.
    @discardableResult
    public func verify(_ parts: [Part], step: Int64, context: String) throws -> UInt64 {
        let words = parts.map(\.hash)
        var bytes = [UInt8]()
        bytes.reserveCapacity(words.count * 8)
        for word in words { withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) } }
        let gathered = try communicator.allgather(fixed: bytes).map { rankBytes in
            (0..<words.count).map { index in
                rankBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
            }
        }
        let differing = parts.indices.filter { index in gathered.contains { $0[index] != gathered[0][index] } }
        if !differing.isEmpty {
            var groups: [[UInt64]: [Int]] = [:]
            for (rank, hashes) in gathered.enumerated() { groups[hashes, default: []].append(rank) }
            throw LockstepViolation(
                step: step, context: context, differingParts: differing.map { parts[$0].name },
                rankGroups: groups.values.sorted { $0[0] < $1[0] })
        }
        return Self.hash(words: words)
    }
}
