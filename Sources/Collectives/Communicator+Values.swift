/// Conveniences over the raw collectives for small, variable-sized values (start-up agreement,
/// fingerprints, counters). They allocate; keep them out of the training step.
extension Communicator {
    /// Gathers a byte string of any length from every rank; element r is rank r's bytes.
    public func allgather(bytes: [UInt8]) throws -> [[UInt8]] {
        let lengths = try allgather(fixed: withUnsafeBytes(of: Int64(bytes.count).littleEndian) { Array($0) })
            .map { Int(Int64(littleEndian: $0.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })) }
        let width = lengths.max() ?? 0
        var padded = bytes
        padded.append(contentsOf: repeatElement(0, count: width - bytes.count))
        let gathered = try allgather(fixed: padded)
        return zip(gathered, lengths).map { Array($0.prefix($1)) }
    }

    /// Gathers exactly `bytes.count` bytes from every rank (the count must match on all ranks).
    public func allgather(fixed bytes: [UInt8]) throws -> [[UInt8]] {
        var receive = [UInt8](repeating: 0, count: bytes.count * worldSize)
        try bytes.withUnsafeBytes { send in
            try receive.withUnsafeMutableBytes { try allgather(send, into: $0) }
        }
        return (0..<worldSize).map { Array(receive[($0 * bytes.count)..<(($0 + 1) * bytes.count)]) }
    }

    /// Broadcasts a byte string of any length from `root`; other ranks' arguments are ignored.
    public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        var length = Int64(bytes.count)
        try withUnsafeMutableBytes(of: &length) { try broadcast($0, root: root) }
        var result = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length))
        try result.withUnsafeMutableBytes { try broadcast($0, root: root) }
        return result
    }

    /// Allreduce of a few `Double`s.
    public func allreduce(_ values: [Double], operation: ReductionOperation) throws -> [Double] {
        var result = values
        try result.withUnsafeMutableBufferPointer { try allreduce($0, operation: operation) }
        return result
    }

    /// Allreduce of a few `Int64`s.
    public func allreduce(_ values: [Int64], operation: ReductionOperation) throws -> [Int64] {
        var result = values
        try result.withUnsafeMutableBufferPointer { try allreduce($0, operation: operation) }
        return result
    }
}
