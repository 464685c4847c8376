import Foundation
internal import CMPIShim

/// A `Communicator` over MPI_COMM_WORLD through the `lockstep_mpi_` C shim.
///
/// MPI is initialised with `MPI_THREAD_FUNNELED` and `MPI_ERRORS_RETURN`, so a failing call throws
/// `MPIError` instead of killing the process. Create one per process, before any other MPI use;
/// call `finalize()` once at the end of a successful run.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let worldSize: Int

    /// Scratch for `sumByReduceScatterAllgather`, grown on demand and then reused.
    private var scratch: UnsafeMutableBufferPointer<Float> = .init(start: nil, count: 0)
    private var blockCounts: [Int64] = []
    private var blockCountsFor = -1
    /// `sumHierarchically`: the ranks per node, checked equal on every node at first use.
    private var hierarchyNodeSize: Int?

    /// The Open MPI setting for nonblocking allreduces that `init` applies unless the environment
    /// sets it: libnbc's ring algorithm. By default libnbc runs an in-place MPI_Iallreduce with
    /// fewer than 4 ranks as a binomial reduce to rank 0 then a broadcast, which moved gradients at
    /// 35-50% of MPI_Allreduce's bandwidth here (2 ranks, 256 KB-4 MB, `lockstep bench allreduce`);
    /// the ring reached 65-95%. The ring sums each block on one rank and then copies it to the
    /// others, so every rank still receives the same bytes.
    public static let nonblockingAllreduceAlgorithm = ("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1")

    /// Initialises MPI. Throws `MPIError` when MPI_Init fails.
    public init() throws {
        setenv(Self.nonblockingAllreduceAlgorithm.0, Self.nonblockingAllreduceAlgorithm.1, 0)  // 0: the user's value wins
        try MPIError.check(lockstep_mpi_init(), "MPI_Init")
        var r: Int32 = 0, s: Int32 = 0
        try MPIError.check(lockstep_mpi_rank(&r), "MPI_Comm_rank")
        try MPIError.check(lockstep_mpi_size(&s), "MPI_Comm_size")
        rank = Int(r)
        worldSize = Int(s)
    }

    deinit {
        scratch.deallocate()
    }

    /// The variables in which MPI launchers give a process its rank, in the order they are read:
    /// Open MPI's mpirun, PMIx (srun --mpi=pmix), PMI-1/2 (MPICH's mpiexec, srun --mpi=pmi2).
    public static let rankVariables = ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"]

    /// The rank an MPI launcher gave this process in `environment`, before MPI starts; nil when
    /// no launcher started it.
    public static func launcherRank(in environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        rankVariables.lazy.compactMap { environment[$0].flatMap { Int($0) } }.first
    }

    /// True when this process was started by an MPI launcher (mpirun/mpiexec/srun).
    public static var isLaunchedByMPI: Bool { launcherRank() != nil }

    /// Finalises MPI. Collective.
    public func finalize() throws {
        try MPIError.check(lockstep_mpi_finalize(), "MPI_Finalize")
    }

    /// The MPI library's version string.
    public static func libraryVersion() -> String {
        var text = [CChar](repeating: 0, count: 1024)
        _ = lockstep_mpi_library_version(&text, Int32(text.count))
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Communicator

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReductionOperation) throws {
        try allreduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, LOCKSTEP_MPI_FLOAT32, "Float", operation)
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, operation: ReductionOperation) throws {
        try allreduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, LOCKSTEP_MPI_FLOAT64, "Double", operation)
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, operation: ReductionOperation) throws {
        try allreduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, LOCKSTEP_MPI_INT64, "Int64", operation)
    }

    private func allreduce(
        _ pointer: UnsafeMutableRawPointer?, _ count: Int, _ type: lockstep_mpi_type, _ typeName: String,
        _ operation: ReductionOperation
    ) throws {
        let what = "allreduce (\(operation)) of \(count) \(typeName)"
        let count64 = try checkedCount(count, what)
        try MPIError.check(lockstep_mpi_allreduce(pointer, count64, type, operation.shim), what)
    }

    public func sumByReduceScatterAllgather(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        let what = "reduce-scatter-allgather of \(buffer.count) Float"
        _ = try checkedCount(buffer.count, what)
        if blockCountsFor != buffer.count {
            let partition = BlockPartition(count: buffer.count, parts: worldSize)
            blockCounts = self.blockCounts(of: partition)
            blockCountsFor = buffer.count
            growScratch(to: partition.sizes.max() ?? 0)
        }
        guard let base = buffer.baseAddress else { return }
        let start = BlockPartition(count: buffer.count, parts: worldSize).range(of: rank).lowerBound
        let mine = Int(blockCounts[rank])
        try blockCounts.withUnsafeBufferPointer { counts in
            try MPIError.check(
                lockstep_mpi_reduce_scatter_f32(base, scratch.baseAddress, counts.baseAddress), what)
            (base + start).update(from: scratch.baseAddress!, count: mine)
            try MPIError.check(lockstep_mpi_allgatherv_f32(base, counts.baseAddress), what)
        }
    }

    public func sumHierarchically(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        let what = "hierarchical allreduce of \(buffer.count) Float"
        let count = try checkedCount(buffer.count, what)
        if hierarchyNodeSize == nil {
            let size = try nodeRank().size
            let sizes = try allgather(fixed: withUnsafeBytes(of: Int64(size)) { Array($0) })
                .map { $0.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) } }
            guard Set(sizes).count == 1 else { throw HierarchyError(ranksPerNode: sizes.map(Int.init)) }
            hierarchyNodeSize = size
        }
        growScratch(to: (buffer.count + hierarchyNodeSize! - 1) / hierarchyNodeSize!)
        try MPIError.check(lockstep_mpi_hierarchical_allreduce_f32(buffer.baseAddress, count, scratch.baseAddress), what)
    }

    /// Makes `scratch` (the blocking reductions' receive buffer) hold at least `count` floats.
    private func growScratch(to count: Int) {
        guard scratch.count < count else { return }
        scratch.deallocate()
        scratch = .allocate(capacity: count)
    }

    public func startSumAllreduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingCollective {
        let what = "nonblocking allreduce of \(buffer.count) Float"
        let count = try checkedCount(buffer.count, what)
        let pending = MPIPendingOperation(collective: what)
        try MPIError.check(
            lockstep_mpi_iallreduce(buffer.baseAddress, count, LOCKSTEP_MPI_FLOAT32, LOCKSTEP_MPI_OP_SUM, &pending.handle),
            what)
        return pending
    }

    public func startAllreduce(
        _ buffer: UnsafeMutableBufferPointer<Int64>, operation: ReductionOperation
    ) throws -> PendingCollective {
        try startAllreduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, LOCKSTEP_MPI_INT64, "Int64", operation)
    }

    public func startAllreduce(
        _ buffer: UnsafeMutableBufferPointer<Int32>, operation: ReductionOperation
    ) throws -> PendingCollective {
        try startAllreduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, LOCKSTEP_MPI_INT32, "Int32", operation)
    }

    private func startAllreduce(
        _ pointer: UnsafeMutableRawPointer?, _ count: Int, _ type: lockstep_mpi_type, _ typeName: String,
        _ operation: ReductionOperation
    ) throws -> PendingCollective {
        let what = "nonblocking allreduce (\(operation)) of \(count) \(typeName)"
        let count64 = try checkedCount(count, what)
        let pending = MPIPendingOperation(collective: what)
        try MPIError.check(lockstep_mpi_iallreduce(pointer, count64, type, operation.shim, &pending.handle), what)
        return pending
    }

    public func startSumReduceScatter(
        _ buffer: UnsafeMutableBufferPointer<Float>, blockCounts: [Int64], scratch: UnsafeMutableBufferPointer<Float>,
        tag: Int
    ) throws -> PendingCollective {
        checkBlocks(blockCounts, of: buffer)
        precondition(Int64(scratch.count) >= (blockCounts.max() ?? 0), "reduce-scatter scratch of \(scratch.count) floats")
        let what = "ring reduce-scatter of \(buffer.count) Float"
        let pending = MPIPendingOperation(ring: what)
        try blockCounts.withUnsafeBufferPointer { counts in
            try MPIError.check(
                lockstep_mpi_ring_reduce_scatter_start(
                    buffer.baseAddress, counts.baseAddress, scratch.baseAddress, Int32(tag), &pending.handle),
                what)
        }
        return pending
    }

    public func allgather(inPlace buffer: UnsafeMutableBufferPointer<Float>, blockCounts: [Int64]) throws {
        checkBlocks(blockCounts, of: buffer)
        let what = "allgather of \(buffer.count) Float"
        _ = try checkedCount(buffer.count, what)
        try blockCounts.withUnsafeBufferPointer { counts in
            try MPIError.check(lockstep_mpi_allgatherv_f32(buffer.baseAddress, counts.baseAddress), what)
        }
    }

    public func gather(
        _ block: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>?, blockCounts: [Int64], root: Int
    ) throws {
        checkGather(block, into: receive, blockCounts: blockCounts, root: root)
        let total = Int(blockCounts.reduce(0, +))
        let what = "gather of \(total) Float on rank \(root)"
        _ = try checkedCount(total, what)
        try blockCounts.withUnsafeBufferPointer { counts in
            try MPIError.check(lockstep_mpi_gatherv_f32(block.baseAddress, receive?.baseAddress, counts.baseAddress, Int32(root)), what)
        }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        let what = "broadcast of \(bytes.count) bytes from rank \(root)"
        let count = try checkedCount(bytes.count, what)
        try MPIError.check(lockstep_mpi_broadcast(bytes.baseAddress, count, Int32(root)), what)
    }

    public func allgather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) throws {
        precondition(receive.count == send.count * worldSize,
                     "allgather: receive has \(receive.count) bytes, expected \(send.count) × \(worldSize)")
        let what = "allgather of \(send.count) bytes per rank"
        let count = try checkedCount(send.count, what)
        _ = try checkedCount(receive.count, what)
        try MPIError.check(lockstep_mpi_allgather(send.baseAddress, count, receive.baseAddress), what)
    }

    public func barrier() throws {
        try MPIError.check(lockstep_mpi_barrier(), "barrier")
    }

    public func abort(exitCode: Int32) -> Never {
        _ = lockstep_mpi_abort(exitCode)
        exit(exitCode)  // MPI_Abort does not return in practice; this keeps the promise if it does.
    }

    public var abortFromAnyThread: @Sendable (Int32) -> Never {
        { code in
            _ = lockstep_mpi_abort(code)
            exit(code)
        }
    }

    public func wallTime() -> Double { lockstep_mpi_wtime() }
}

/// A nonblocking MPI operation; owns its shim handle (`lockstep_mpi_request` for a collective,
/// `lockstep_mpi_ring` for a ring reduce-scatter) and the shim's test and wait for it.
final class MPIPendingOperation<Handle>: PendingCollective {
    var handle: Handle
    private let operation: String
    private let testHandle: (UnsafeMutablePointer<Handle>, UnsafeMutablePointer<Int32>) -> Int32
    private let waitHandle: (UnsafeMutablePointer<Handle>) -> Int32
    private var completed = false

    init(
        _ operation: String, handle: Handle, test: @escaping (UnsafeMutablePointer<Handle>, UnsafeMutablePointer<Int32>) -> Int32,
        wait: @escaping (UnsafeMutablePointer<Handle>) -> Int32
    ) {
        self.operation = operation
        self.handle = handle
        testHandle = test
        waitHandle = wait
    }

    func test() throws -> Bool {
        if completed { return true }
        var done: Int32 = 0
        try MPIError.check(testHandle(&handle, &done), operation)
        completed = done != 0
        return completed
    }

    func wait() throws {
        if completed { return }
        try MPIError.check(waitHandle(&handle), operation)
        completed = true
    }
}

extension MPIPendingOperation where Handle == lockstep_mpi_request {
    /// A collective (`MPI_Iallreduce`) to be started into `handle`.
    convenience init(collective operation: String) {
        self.init(operation, handle: lockstep_mpi_request(opaque: nil), test: { lockstep_mpi_test($0, $1) }, wait: { lockstep_mpi_wait($0) })
    }
}

extension MPIPendingOperation where Handle == lockstep_mpi_ring {
    /// A ring reduce-scatter to be started into `handle`.
    convenience init(ring operation: String) {
        self.init(operation, handle: lockstep_mpi_ring(opaque: nil), test: { lockstep_mpi_ring_test($0, $1) }, wait: { lockstep_mpi_ring_wait($0) })
    }
}

extension ReductionOperation {
    var shim: lockstep_mpi_op {
        switch self {
        case .sum: LOCKSTEP_MPI_OP_SUM
        case .max: LOCKSTEP_MPI_OP_MAX
        case .min: LOCKSTEP_MPI_OP_MIN
        }
    }
}
