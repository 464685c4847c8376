import Collectives
import Determinism
import Kernels
import Reporting

/// Proves that every rank holds the same state: hashes named parts of it (parameters, optimizer
/// buffers, counters, the LR's bit pattern), allgathers the hashes and compares them.
struct LockstepVerifier {
    let communicator: Communicator

    /// One named part of the state and its hash on this rank.
    struct Part {
        let name: String
        let hash: UInt64
    }

    /// Hashes `buffer`'s bytes.
    static func hash(_ buffer: FloatBuffer) -> UInt64 {
        var hasher = StateHash()
        buffer.hash(into: &hasher)
        return hasher.finalize()
    }

    /// Hashes 64-bit words (counters, `Double.bitPattern`s).
    static func hash(words: [UInt64]) -> UInt64 {
        var hasher = StateHash()
        for word in words { hasher.combine(word) }
        return hasher.finalize()
    }

    /// Allgathers `parts` (same names and order on every rank) and throws `LockstepViolation`
    /// naming the step, the groups of ranks that agree, and the parts that differ. Collective.
    /// - Returns: the hash of all parts together, identical on every rank.
    @discardableResult
    func verify(_ parts: [Part], step: Int64, context: String) throws -> UInt64 {
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

/// The ranks' states differ.
public struct LockstepViolation: ReportableError, Equatable {
    /// The global step at which the check ran.
    public let step: Int64
    /// Which check: "periodic check", "end of epoch 3", "final check", ….
    public let context: String
    /// Names of the state parts whose hashes differ, e.g. ["parameters"].
    public let differingParts: [String]
    /// Ranks grouped by identical hashes, each group sorted, groups by their lowest rank.
    public let rankGroups: [[Int]]

    public init(step: Int64, context: String, differingParts: [String], rankGroups: [[Int]]) {
        self.step = step
        self.context = context
        self.differingParts = differingParts
        self.rankGroups = rankGroups
    }

    public var exitStatus: ExitStatus { .lockstepViolation }
    public var isCollective: Bool { true }

    public var description: String {
        let groups = rankGroups.map { "ranks \($0.map(String.init).joined(separator: ","))" }.joined(separator: " vs ")
        return "lockstep violation at step \(step) (\(context)): \(differingParts.joined(separator: ", ")) differ: \(groups)"
    }

    public var hint: String? {
        "the ranks no longer hold identical state; rerun with --reduction reduce-scatter-allgather, and report this if it recurs"
    }
}
