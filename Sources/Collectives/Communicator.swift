/// The collective operations the trainer needs, over a group of `worldSize` ranks.
///
/// Three implementations: `MPICommunicator` (Open MPI through the `lockstep_mpi_` C shim),
/// `SingleProcessCommunicator` (world size 1) and `InProcessCommunicator` (ranks as threads of one
/// process, for tests). Training code is written once against this protocol and has no
/// `worldSize == 1` branches.
///
/// Every method is collective unless stated otherwise: all ranks must call it, in the same order,
/// with the same counts. Failures are thrown as `MPIError`; once a collective has failed the job
/// cannot continue, and the caller should report and `abort(exitCode:)`.
public protocol Communicator: AnyObject {
    /// This process's rank in `0..<worldSize`.
    var rank: Int { get }
    /// The number of ranks in the job.
    var worldSize: Int { get }

    /// In-place allreduce of `buffer` (same count on every rank).
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, operation: ReductionOperation) throws
    /// In-place allreduce of `buffer` (same count on every rank).
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, operation: ReductionOperation) throws
    /// In-place allreduce of `buffer` (same count on every rank).
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, operation: ReductionOperation) throws

    /// In-place sum whose result is bitwise identical on every rank by construction: a
    /// reduce-scatter (rank r sums block r) followed by an allgather of the summed blocks, so every
    /// rank receives the very same bytes for every block.
    func sumByReduceScatterAllgather(_ buffer: UnsafeMutableBufferPointer<Float>) throws

    /// In-place sum for ranks spread over nodes: a reduce-scatter among each node's ranks, a
    /// reduce-scatter and an allgather of each block among the ranks with the same node rank (one
    /// per node: only they use the network, each for 1/(ranks per node) of the buffer), then an
    /// allgather within the node. Every part is summed on one rank and copied, so every rank
    /// receives the same bytes. Throws `HierarchyError` when the nodes hold different numbers of
    /// ranks.
    func sumHierarchically(_ buffer: UnsafeMutableBufferPointer<Float>) throws

    /// Starts an in-place nonblocking sum-allreduce of `buffer`.
    ///
    /// `buffer` must stay allocated and untouched until the returned operation completes: pass a
    /// long-lived allocation, never a temporary array pointer. Open MPI progresses the transfer only
    /// inside MPI calls, so call `test()` between pieces of compute.
    func startSumAllreduce(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingCollective

    /// Starts an in-place nonblocking allreduce of `buffer`, under the same rules as
    /// `startSumAllreduce` (the world-size-invariant sum's exponents and integer sums).
    func startAllreduce(_ buffer: UnsafeMutableBufferPointer<Int64>, operation: ReductionOperation) throws -> PendingCollective
    /// The same for 32-bit integers (the invariant sum's 32-bit sums).
    func startAllreduce(_ buffer: UnsafeMutableBufferPointer<Int32>, operation: ReductionOperation) throws -> PendingCollective

    /// Starts an in-place nonblocking reduce-scatter of `buffer` (the sharded reduction's
    /// buckets): block r, `blockCounts[r]` elements starting at the sum of `blockCounts[0..<r]`,
    /// ends summed on rank r; the other blocks hold partial sums. A ring of N − 1 point-to-point
    /// steps, so each rank sends, receives and adds (N − 1)/N of the buffer: no rank does the
    /// others' additions. Block r's sum is `((x[r+1] + x[r+2]) + …) + x[r]`, rank indices modulo
    /// N, in every implementation, so the bits do not depend on timing.
    ///
    /// `scratch` holds at least `blockCounts.max()` floats; it and `buffer` stay allocated and
    /// untouched until completion (drive it with `test()`, as `startSumAllreduce`). Reductions in
    /// flight at the same time need different `tag`s (0 to 32767, the same on every rank).
    func startSumReduceScatter(
        _ buffer: UnsafeMutableBufferPointer<Float>, blockCounts: [Int64], scratch: UnsafeMutableBufferPointer<Float>,
        tag: Int
    ) throws -> PendingCollective
    /// In-place allgather of blocks: rank r's block (`blockCounts[r]` elements at the sum of
    /// `blockCounts[0..<r]`) is already in `buffer`; afterwards every rank holds every rank's
    /// block, the very bytes its owner sent (`MPI_Allgatherv`).
    func allgather(inPlace buffer: UnsafeMutableBufferPointer<Float>, blockCounts: [Int64]) throws
    /// Gathers the ranks' blocks on `root` only (`MPI_Gatherv`): rank r's `block`
    /// (`blockCounts[r]` elements) lands in `receive` at the sum of `blockCounts[0..<r]`. `receive`
    /// holds the sum of `blockCounts` on `root` and is nil elsewhere, so only `root` needs memory
    /// for the whole.
    func gather(
        _ block: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>?, blockCounts: [Int64], root: Int
    ) throws

    /// Broadcasts `bytes` from `root` to every rank (same byte count everywhere).
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Gathers `send.count` bytes from every rank into `receive` (`worldSize × send.count` bytes,
    /// rank r's bytes at offset `r × send.count`).
    func allgather(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) throws
    func barrier() throws
    /// Ends the communicator after a successful job (`MPI_Finalize`); nothing may follow it. Collective.
    func finalize() throws

    /// Ends every process of the job with `exitCode`. Not collective: any one rank may call it.
    func abort(exitCode: Int32) -> Never
    /// The same as `abort(exitCode:)`, callable from any thread (for the stall watchdog).
    var abortFromAnyThread: @Sendable (Int32) -> Never { get }
    /// Wall-clock seconds from an arbitrary origin. Not collective.
    func wallTime() -> Double
}

/// The reduction applied elementwise by `allreduce`.
public enum ReductionOperation: Sendable {
    case sum, max, min
}

/// A nonblocking collective in flight.
public protocol PendingCollective: AnyObject {
    /// Drives progress; returns true once the operation has completed.
    func test() throws -> Bool
    /// Blocks until the operation has completed.
    func wait() throws
}
