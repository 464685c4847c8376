import Collectives
import Kernels
import Models
import Training

/// Latency and bandwidth of summing a `Float` buffer across ranks: the trainer's reduction path
/// (`GradientReduction`: buckets of nonblocking allreduces, or reduce-scatter-allgather, plus the
/// finiteness check) beside a plain loop of the communicator's own call on the same buffer.
///
/// Both loops run the same number of calls on every rank (from the size alone, never from the
/// clock), with a barrier before each timed batch; plain and path batches alternate, so that
/// noise from other processes falls on both alike.
public enum AllreduceBenchmark {
    /// One JSON line, `"bench": "allreduce"`, per mode and size. Times are medians per call.
    public struct Result: Codable, Sendable {
        public var bench = "allreduce"
        public let mode: String
        public let ranks: Int
        public let bytes: Int
        public let buckets: Int
        public let calls: Int
        public let repetitions: Int
        /// The communicator's call on the whole buffer (`MPI_Allreduce`, or the reduce-scatter +
        /// allgather pair), in a tight loop.
        public let plainSeconds: Double
        /// `bytes / plain_seconds`, in GB/s (10⁹ bytes).
        public let plainGigabytesPerSecond: Double
        /// The communicator's nonblocking allreduce on the whole buffer, started and waited for
        /// (allreduce mode only; nil otherwise): what the trainer's buckets are made of.
        public let nonblockingSeconds: Double?
        public let nonblockingGigabytesPerSecond: Double?
        /// The sum through a node's shared-memory window (`sumInNodeSharedMemory`), in a tight
        /// loop (allreduce mode, with every rank on one node; nil otherwise): the alternative to
        /// Open MPI's own shared-memory path that `plain` takes.
        public let sharedMemorySeconds: Double?
        public let sharedMemoryGigabytesPerSecond: Double?
        /// `GradientReduction.reduce()` on the same buffer.
        public let pathSeconds: Double
        public let pathGigabytesPerSecond: Double
        /// `path_gbps / plain_gbps`.
        public let ratio: Double
        public let peakResidentBytes: Int

        /// The JSON names (snake_case, as printed).
        public enum CodingKeys: String, CodingKey {
            case bench, mode, ranks, bytes, buckets, calls, repetitions, plainSeconds = "plain_seconds", plainGigabytesPerSecond = "plain_gbps", nonblockingSeconds = "nonblocking_seconds", nonblockingGigabytesPerSecond = "nonblocking_gbps", sharedMemorySeconds = "shared_memory_seconds", sharedMemoryGigabytesPerSecond = "shared_memory_gbps", pathSeconds = "path_seconds", pathGigabytesPerSecond = "path_gbps", ratio, peakResidentBytes = "peak_rss_bytes"
        }
    }

    /// The sizes measured: `minimumBytes` × 4ᵏ up to `maximumBytes` (4 KB to 64 MB by default).
    public static func sizes(minimumBytes: Int = 4096, maximumBytes: Int = 64 << 20) -> [Int] {
        precondition(minimumBytes >= 4 && maximumBytes >= minimumBytes, "sizes \(minimumBytes)...\(maximumBytes)")
        return Array(sequence(first: minimumBytes) { $0 * 4 }.prefix { $0 <= maximumBytes })
    }

    /// Calls per timed batch for `bytes`: about 32 MiB moved per batch, between 2 and 1,000 calls.
    public static func calls(bytes: Int) -> Int { max(2, min(1000, (32 << 20) / bytes)) }

    /// Measures every mode at every size. Collective.
    /// - Parameters:
    ///   - calls: calls per timed batch for a size in bytes (the same on every rank).
    ///   - blockElements: the model's weight-gradient block (`MLP.gradientBlockElements`); the
    ///     path's buffer is split into segments of this size, as backward finishes them.
    public static func run(
        communicator: Communicator, sizes: [Int], modes: [ReductionMode], repetitions: Int, bucketMegabytes: Double,
        calls: (Int) -> Int = calls(bytes:), blockElements: Int = 1 << 17
    ) throws -> [Result] {
        var results: [Result] = []
        let nodeMemory = communicator.worldSize > 1 ? communicator as? NodeMemorySharing : nil
        let sharedMemory = try nodeMemory?.allRanksShareOneNode() == true ? nodeMemory : nil
        for mode in modes {
            for bytes in sizes {
                let buffer = FloatBuffer(count: bytes / MemoryLayout<Float>.stride)
                let readyPoints = Array(stride(from: buffer.count - blockElements, to: 0, by: -blockElements)) + [0]
                let reduction = GradientReduction(
                    communicator: communicator, mode: mode, overlap: false, buffer: buffer.buffer,
                    readyPoints: readyPoints, bucketByteCount: Int(bucketMegabytes * 1_048_576), shardedCount: buffer.count)
                let shardCounts = reduction.shards.map(communicator.blockCounts(of:))
                let calls = calls(bytes)
                var plain: [Double] = [], path: [Double] = [], nonblocking: [Double] = [], shared: [Double] = []
                func plainBatch() throws {
                    try communicator.barrier()
                    let start = Timing.now()
                    for _ in 0..<calls {
                        switch mode {
                        case .allreduce: try communicator.allreduce(buffer.buffer, operation: .sum)
                        case .reduceScatterAllgather: try communicator.sumByReduceScatterAllgather(buffer.buffer)
                        case .hierarchical: try communicator.sumHierarchically(buffer.buffer)
                        case .sharded: try communicator.sumByRingReduceScatterAllgather(buffer.buffer)
                        }
                    }
                    plain.append((Timing.now() - start) / Double(calls))
                }
                func nonblockingBatch() throws {
                    guard mode == .allreduce else { return }
                    try communicator.barrier()
                    let start = Timing.now()
                    for _ in 0..<calls { try communicator.startSumAllreduce(buffer.buffer).wait() }
                    nonblocking.append((Timing.now() - start) / Double(calls))
                }
                func sharedMemoryBatch() throws {
                    guard mode == .allreduce, let sharedMemory else { return }
                    try communicator.barrier()
                    let start = Timing.now()
                    for _ in 0..<calls { try sharedMemory.sumInNodeSharedMemory(buffer.buffer) }
                    shared.append((Timing.now() - start) / Double(calls))
                }
                func pathBatch() throws {
                    try communicator.barrier()
                    let start = Timing.now()
                    for _ in 0..<calls {
                        _ = try reduction.reduce()
                        // Sharded: the step all-gathers the parameters its slices update; timed here on the sums.
                        if let shardCounts { try communicator.allgather(inPlace: buffer.buffer, blockCounts: shardCounts) }
                    }
                    path.append((Timing.now() - start) / Double(calls))
                }
                let batches = [plainBatch, nonblockingBatch, sharedMemoryBatch, pathBatch]
                for batch in batches { try batch() }  // warm-up: connections, registration, caches
                plain.removeAll()
                path.removeAll()
                nonblocking.removeAll()
                shared.removeAll()
                for repetition in 0..<repetitions {
                    for batch in repetition % 2 == 0 ? batches : batches.reversed() { try batch() }
                }
                // The slowest rank's median: a collective is as slow as its last rank.
                let plainSeconds = try communicator.allreduce([Timing.median(plain)], operation: .max)[0]
                let pathSeconds = try communicator.allreduce([Timing.median(path)], operation: .max)[0]
                let nonblockingSeconds = try communicator.allreduce([Timing.median(nonblocking)], operation: .max)[0]
                let sharedSeconds = try communicator.allreduce([Timing.median(shared)], operation: .max)[0]
                let hasShared = mode == .allreduce && sharedMemory != nil
                results.append(Result(
                    mode: mode.rawValue, ranks: communicator.worldSize, bytes: bytes,
                    buckets: reduction.plan.buckets.count, calls: calls, repetitions: repetitions,
                    plainSeconds: plainSeconds, plainGigabytesPerSecond: Double(bytes) / plainSeconds / 1e9,
                    nonblockingSeconds: mode == .allreduce ? nonblockingSeconds : nil,
                    nonblockingGigabytesPerSecond: mode == .allreduce ? Double(bytes) / nonblockingSeconds / 1e9 : nil,
                    sharedMemorySeconds: hasShared ? sharedSeconds : nil,
                    sharedMemoryGigabytesPerSecond: hasShared ? Double(bytes) / sharedSeconds / 1e9 : nil,
                    pathSeconds: pathSeconds, pathGigabytesPerSecond: Double(bytes) / pathSeconds / 1e9,
                    ratio: plainSeconds / pathSeconds, peakResidentBytes: try PeakMemory.maximumOverRanks(communicator)))
            }
        }
        return results
    }
}
