extension Communicator {
    /// The precondition of `startSumReduceScatter` and `allgather(inPlace:blockCounts:)`: one
    /// count per rank, together the buffer's.
    func checkBlocks(_ blockCounts: [Int64], of buffer: UnsafeMutableBufferPointer<Float>) {
        precondition(blockCounts.count == worldSize && blockCounts.reduce(0, +) == Int64(buffer.count),
                     "\(buffer.count) floats in blocks \(blockCounts) for \(worldSize) ranks")
    }

    /// The precondition of `gather`: one count per rank, this rank's the block's, and on `root`
    /// (only there) a receive buffer of their sum.
    func checkGather(
        _ block: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>?, blockCounts: [Int64], root: Int
    ) {
        precondition((0..<worldSize).contains(root), "gather root \(root) in a world of \(worldSize)")
        precondition(blockCounts.count == worldSize && blockCounts[rank] == Int64(block.count),
                     "a block of \(block.count) floats for blocks \(blockCounts) on rank \(rank)")
        precondition((rank == root) == (receive != nil) && (receive.map { Int64($0.count) == blockCounts.reduce(0, +) } ?? true),
                     "gather on rank \(rank), root \(root): receive of \(receive?.count ?? 0) for blocks \(blockCounts)")
    }

    /// The element counts of `partition`'s blocks, as `startSumReduceScatter` and
    /// `allgather(inPlace:blockCounts:)` take them (block r belongs to rank r).
    public func blockCounts(of partition: BlockPartition) -> [Int64] {
        precondition(partition.parts == worldSize, "\(partition.parts) blocks for \(worldSize) ranks")
        return partition.sizes.map { Int64($0) }
    }

    /// An in-place sum by the sharded reduction's collectives on their own: a ring reduce-scatter
    /// over `BlockPartition(count: buffer.count, parts: worldSize)`, then an allgather of the summed
    /// blocks. Every rank receives each block's owner's bytes, so the result is identical on every
    /// rank by construction (`lockstep diagnose reduction`, `lockstep bench allreduce`).
    public func sumByRingReduceScatterAllgather(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        let partition = BlockPartition(count: buffer.count, parts: worldSize)
        let counts = blockCounts(of: partition)
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, partition.sizes.max() ?? 0))
        defer { scratch.deallocate() }
        try startSumReduceScatter(buffer, blockCounts: counts, scratch: scratch, tag: 0).wait()
        try allgather(inPlace: buffer, blockCounts: counts)
    }
}
