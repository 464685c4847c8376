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

    /// Initialises MPI. Throws `MPIError` when MPI_Init fails.
    public init() throws {
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

    /// True when this process was started by an MPI launcher (mpirun/mpiexec/srun with PMIx).
    public static var isLaunchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"].contains {
            environment[$0] != nil
        }
    }

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
            blockCounts = partition.sizes.map { Int64($0) }
            blockCountsFor = buffer.count
            let largest = partition.sizes.max() ?? 0
            if scratch.count < largest {
                scratch.deallocate()
                scratch = .allocate(capacity: largest)
            }
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

    public func startSumAllreduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingCollective {
        let what = "nonblocking allreduce of \(buffer.count) Float"
        let count = try checkedCount(buffer.count, what)
        let pending = MPIPendingCollective(what)
        try MPIError.check(
            lockstep_mpi_iallreduce(buffer.baseAddress, count, LOCKSTEP_MPI_FLOAT32, LOCKSTEP_MPI_OP_SUM, &pending.request),
            what)
        return pending
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

/// A nonblocking MPI operation; owns its request handle.
final class MPIPendingCollective: PendingCollective {
    var request = lockstep_mpi_request(opaque: nil)
    private let operation: String
    private var completed = false

    init(_ operation: String) { self.operation = operation }

    func test() throws -> Bool {
        if completed { return true }
        var done: Int32 = 0
        try MPIError.check(lockstep_mpi_test(&request, &done), operation)
        completed = done != 0
        return completed
    }

    func wait() throws {
        if completed { return }
        try MPIError.check(lockstep_mpi_wait(&request), operation)
        completed = true
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
