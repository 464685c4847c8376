internal import CMPIShim

/// The ranks of one node and memory they share: MPI-3 shared-memory windows on the
/// communicator of the ranks that share a node's memory (`MPI_Comm_split_type` with
/// `MPI_COMM_TYPE_SHARED`). Only the MPI communicator offers it; a single process or in-process
/// ranks have nothing to share.
public protocol NodeMemorySharing {
    /// This rank's index among the ranks of its node, and their number.
    func nodeRank() throws -> (rank: Int, size: Int)
    /// Broadcasts `bytes` from node rank `root` to the other ranks of the node. Collective over the node.
    func nodeBroadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Collective over the node.
    func nodeBarrier() throws
    /// A segment of `byteCount` bytes that every rank of the node maps: node rank 0 passes the
    /// size, the others 0, and all receive node rank 0's segment. It lives until `finalize`.
    /// Collective over the node.
    func allocateNodeShared(byteCount: Int) throws -> UnsafeMutableRawBufferPointer
    /// Sums `buffer` over every rank in place through a shared-memory window of the node, without
    /// MPI's point-to-point path: node rank r sums block r (`BlockPartition`) over the ranks'
    /// copies in rank order, ((x[0] + x[1]) + …) + x[N−1], and every rank copies every block from
    /// its owner, so every rank holds the same bytes. Collective.
    /// - Throws: `MPIError` when the job's ranks span more than one node (code
    ///   `LOCKSTEP_MPI_ERR_ARGUMENT`), or from MPI.
    func sumInNodeSharedMemory(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// True when every rank of the job is on this rank's node. Collective.
    func allRanksShareOneNode() throws -> Bool
}

extension MPICommunicator: NodeMemorySharing {
    public func nodeRank() throws -> (rank: Int, size: Int) {
        var rank: Int32 = 0, size: Int32 = 0
        try MPIError.check(lockstep_mpi_node_rank(&rank, &size), "MPI_Comm_split_type")
        return (Int(rank), Int(size))
    }

    public func nodeBroadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        try MPIError.check(lockstep_mpi_node_broadcast(bytes.baseAddress, Int64(bytes.count), Int32(root)), "node broadcast")
    }

    public func nodeBarrier() throws {
        try MPIError.check(lockstep_mpi_node_barrier(), "node barrier")
    }

    public func allocateNodeShared(byteCount: Int) throws -> UnsafeMutableRawBufferPointer {
        var base: UnsafeMutableRawPointer?
        var total: Int64 = 0
        try MPIError.check(lockstep_mpi_node_shared_allocate(Int64(byteCount), &base, &total), "MPI_Win_allocate_shared")
        return UnsafeMutableRawBufferPointer(start: base, count: Int(total))
    }

    public func sumInNodeSharedMemory(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        let what = "shared-memory allreduce of \(buffer.count) Float"
        let count = try checkedCount(buffer.count, what)
        try MPIError.check(lockstep_mpi_node_shared_allreduce_f32(buffer.baseAddress, count), what)
    }

    public func allRanksShareOneNode() throws -> Bool {
        let size = try nodeRank().size
        return try allreduce([Double(size == worldSize ? 1 : 0)], operation: .min)[0] == 1
    }
}
