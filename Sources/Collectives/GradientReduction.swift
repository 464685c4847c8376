import Tracing

/// Sums the ranks' gradient buffers in place, bucket by bucket, and checks that the sums are finite.
///
/// The buffer is whatever the caller reduces in one piece: for training, the flat gradients
/// followed by the loss slot (`Models.GradientBuffer`), so the same collectives carry both and
/// every rank takes its decisions (non-finite loss or gradient) from the same reduced bytes. This
/// type knows nothing of models: the caller says which ranges are final.
///
/// With `--reduction allreduce` the buffer is cut into the buckets of a `BucketPlan`, each summed by
/// a nonblocking allreduce. With overlap on, a bucket starts as soon as its elements are final
/// (`ready(from:)`, called by whoever computes them: backward, from the end of the buffer down),
/// and `progress()` between pieces of compute drives MPI's progress engine (Open MPI moves a
/// nonblocking collective only inside MPI calls), so the transfer hides behind the remaining
/// backward GEMMs. With overlap off, the same buckets are started, with the same calls, after
/// backward: the results are bitwise identical.
/// With `--reduction reduce-scatter-allgather` or `hierarchical` there is no nonblocking form in
/// the communicator, so the whole buffer is reduced by one blocking call after backward, whatever
/// `overlap` says.
///
/// With `--reduction sharded` (ZeRO stage 1) the buffer's first `shards.count` elements (the
/// gradients) are split among the ranks by `shards`, and each bucket is reduce-scattered by a ring
/// (`Communicator.startSumReduceScatter`), started and driven exactly as the allreduce buckets: rank r
/// receives the sums of `ownedRange` only, the rest of the buffer holds partial sums. The trailing
/// slots (loss, stop requests) are allreduced, so every rank reads them. Each rank checks its own
/// slice and sums its squares in Double as the buckets complete; `finish()` gathers the ranks'
/// partial sums, adds them in rank order (so every rank gets the same bits) and decides from them:
/// a NaN or ±Inf anywhere makes the sum non-finite. `squaredNorm` is that agreed Σ gᵢ², for
/// gradient clipping.
///
/// Each bucket's sums are checked for NaN and ±Inf as soon as it completes (with overlap, between
/// GEMMs), so no separate pass over the whole buffer follows the reduction.
///
/// Use per step: `beginStep()`; during backward `ready(from:)` for each final range and
/// `progress()` between kernels; then `finish()`.
///
/// With a `timeline`, each bucket's reduction is a span from its start to the call that saw it
/// complete, on a thread of its own (`bucket k`), so the trace shows which buckets overlap backward.
public final class GradientReduction {
    private let communicator: Communicator
    public let mode: ReductionMode
    /// True when buckets start during backward (allreduce or sharded mode with overlap requested).
    public let overlaps: Bool
    /// Sharded mode: how the buffer's first `shards.count` elements are split among the ranks
    /// (nil in the other modes).
    public let shards: BlockPartition?
    /// The elements whose sums this rank receives: its block of `shards`, or the whole buffer.
    public let ownedRange: Range<Int>
    /// Sharded mode, after `finish()`: Σ gᵢ² over the whole reduced gradient (the ranks' partial
    /// sums added in rank order: the same bits on every rank); NaN or +∞ when an element is not
    /// finite. 0 in the other modes.
    public private(set) var squaredNorm = 0.0
    /// The elements reduced in place; owned by the caller, alive as long as this reduction.
    public let buffer: UnsafeMutableBufferPointer<Float>
    public let plan: BucketPlan

    /// Where each bucket's reduction is recorded (nil: nowhere). Set it between steps.
    public var timeline: Timeline? {
        didSet {
            guard let timeline else { return }
            let name = switch mode {
            case .allreduce: "allreduce"
            case .sharded: "reduce-scatter"
            case .reduceScatterAllgather: "reduce-scatter + allgather"
            case .hierarchical: "hierarchical allreduce"
            }
            bucketSpanName = timeline.name(name)
            for (index, bucket) in plan.buckets.enumerated() {
                let megabytes = Double(bucket.count * MemoryLayout<Float>.stride) / 1_048_576
                timeline.nameThread(UInt32(index + 1), "bucket \(index) (\((megabytes * 100).rounded() / 100) MB)")
            }
        }
    }
    private var bucketSpanName = Timeline.Name.unregistered
    /// When each started bucket started (`Timeline.now()`), with a timeline.
    private var bucketStarts: [UInt64]

    /// Time spent in this rank's reductions, accumulated over steps (see `ReductionTimes`).
    public private(set) var times = ReductionTimes()

    /// Starts a new accumulation of `times`.
    public func resetTimes() { times = ReductionTimes() }

    // MARK: Per-step state (no allocation in the step: `pending` keeps its capacity)

    /// Buckets `0..<started` have been started.
    private var started = 0
    /// Buckets `0..<completed` have completed and been checked.
    private var completed = 0
    /// The collective of each started, not yet completed bucket (index = bucket index): the
    /// allreduce, or in sharded mode the ring reduce-scatter of its gradients.
    private var pending: [PendingCollective?]
    /// Sharded mode: the allreduce of each started bucket's trailing slots, if it has any.
    private var pendingTrailer: [PendingCollective?]
    /// Sharded mode, per bucket: the part reduce-scattered (below `shards.count`), each rank's
    /// share of it, where its ring's scratch starts, and the part allreduced (the trailing slots).
    private let ringRanges: [Range<Int>], ringBlockCounts: [[Int64]], scratchOffsets: [Int], trailerRanges: [Range<Int>]
    /// Receives the rings' incoming blocks, one region per bucket (empty in the other modes).
    private let scratch: UnsafeMutableBufferPointer<Float>
    /// Sharded mode: this rank's Σ gᵢ² over its completed blocks, and the ranks' gathered sums.
    private var partialSquares = 0.0
    private let gatheredSquares: UnsafeMutableBufferPointer<Double>
    /// The OR over every checked element of `(bits & exponent) + exponent's lowest bit`: its sign
    /// bit is set iff some element had an all-ones exponent (NaN or ±Inf).
    private var nonFiniteMarker: UInt32 = 0

    /// - Parameters:
    ///   - buffer: the elements to reduce; must stay allocated while this reduction lives.
    ///   - readyPoints: the lower bounds at which elements become final, decreasing to 0 (for a
    ///     model, its `gradientReadyPoints`; `BucketPlan`).
    ///   - bucketByteCount: the bucket size for `BucketPlan`, in bytes of `Float`.
    ///   - shardedCount: sharded mode: how many leading elements are split among the ranks (the
    ///     gradients; the rest are allreduced). Ignored in the other modes.
    public init(
        communicator: Communicator, mode: ReductionMode, overlap: Bool, buffer: UnsafeMutableBufferPointer<Float>,
        readyPoints: [Int], bucketByteCount: Int, shardedCount: Int = 0
    ) {
        self.communicator = communicator
        self.mode = mode
        self.buffer = buffer
        let bucketed = mode == .allreduce || mode == .sharded
        overlaps = overlap && bucketed
        plan = bucketed
            ? BucketPlan(readyPoints: readyPoints, bufferCount: buffer.count,
                         bucketElementCount: max(1, bucketByteCount / MemoryLayout<Float>.stride))
            : BucketPlan(readyPoints: [0], bufferCount: buffer.count, bucketElementCount: buffer.count)
        pending = Array(repeating: nil, count: plan.buckets.count)
        pendingTrailer = Array(repeating: nil, count: plan.buckets.count)
        bucketStarts = Array(repeating: 0, count: plan.buckets.count)
        gatheredSquares = .allocate(capacity: communicator.worldSize)
        guard mode == .sharded else {
            shards = nil
            ownedRange = 0..<buffer.count
            (ringRanges, ringBlockCounts, scratchOffsets, trailerRanges) = ([], [], [], [])
            scratch = .init(start: nil, count: 0)
            return
        }
        precondition(shardedCount >= 0 && shardedCount <= buffer.count, "\(shardedCount) sharded of \(buffer.count)")
        precondition(plan.buckets.count <= 32768, "\(plan.buckets.count) buckets: more than the rings' tags")
        let shards = BlockPartition(count: shardedCount, parts: communicator.worldSize)
        self.shards = shards
        ownedRange = shards.range(of: communicator.rank)
        ringRanges = plan.buckets.map { $0.clamped(to: 0..<shardedCount) }
        trailerRanges = plan.buckets.map { $0.clamped(to: shardedCount..<buffer.count) }
        ringBlockCounts = ringRanges.map { ring in
            (0..<communicator.worldSize).map { Int64(ring.clamped(to: shards.range(of: $0)).count) }
        }
        var offsets: [Int] = [], total = 0
        for counts in ringBlockCounts {
            offsets.append(total)
            total += Int(counts.max() ?? 0)
        }
        scratchOffsets = offsets
        scratch = .allocate(capacity: max(total, 1))
    }

    deinit {
        scratch.deallocate()
        gatheredSquares.deallocate()
    }

    // MARK: - Step

    /// Resets the per-step state; call before backward.
    public func beginStep() {
        started = 0
        completed = 0
        nonFiniteMarker = 0
        partialSquares = 0
    }

    /// Elements `from..<buffer.count` are final: starts the buckets that lie entirely in them and
    /// drives progress (overlap on); otherwise nothing.
    @inline(__always)
    public func ready(from: Int) throws {
        guard overlaps else { return }
        let startable = plan.startableCount(from: from, after: started)
        while started < startable { try start(started) }
        try testStarted()
    }

    /// Drives MPI's progress on the buckets in flight (overlap on); call between pieces of compute.
    @inline(__always)
    public func progress() throws {
        guard overlaps else { return }
        try testStarted()
    }

    /// Starts what is left, waits for every bucket, and returns true when every reduced element
    /// (gradients and trailer) is finite. The same on every rank: decided from reduced bytes.
    public func finish() throws -> Bool {
        var waited = 0.0
        switch mode {
        case .allreduce, .sharded:
            while started < plan.buckets.count { try self.start(started) }
            while completed < started {
                let begin = communicator.wallTime()
                try pending[completed]?.wait()
                try pendingTrailer[completed]?.wait()
                waited += communicator.wallTime() - begin
                complete()
            }
        case .reduceScatterAllgather, .hierarchical:
            let begin = communicator.wallTime(), spanStart = timeline == nil ? 0 : Timeline.now()
            if mode == .hierarchical {
                try communicator.sumHierarchically(buffer)
            } else {
                try communicator.sumByReduceScatterAllgather(buffer)
            }
            waited = communicator.wallTime() - begin
            timeline?.record(bucketSpanName, from: spanStart, thread: 1)
            checkFinite(plan.buckets[0])
            completed = 1
        }
        if mode == .sharded {
            let begin = communicator.wallTime()
            try agreeOnSquares()
            waited += communicator.wallTime() - begin
        }
        times.record(waitSeconds: waited)
        return nonFiniteMarker & 0x8000_0000 == 0 && squaredNorm.isFinite
    }

    /// Sharded mode: every rank's Σ gᵢ² over its slice, added in rank order into `squaredNorm`.
    private func agreeOnSquares() throws {
        var mine = partialSquares
        try withUnsafeBytes(of: &mine) { send in
            try communicator.allgather(send, into: UnsafeMutableRawBufferPointer(gatheredSquares))
        }
        squaredNorm = gatheredSquares.reduce(0, +)
    }

    /// `beginStep()` then `finish()`: a whole reduction with nothing to overlap.
    public func reduce() throws -> Bool {
        beginStep()
        return try finish()
    }

    // MARK: - Buckets

    @inline(__always)
    private func start(_ index: Int) throws {
        if timeline != nil { bucketStarts[index] = Timeline.now() }
        if mode == .sharded {
            let ring = ringRanges[index], trailer = trailerRanges[index]
            if !ring.isEmpty {
                let counts = ringBlockCounts[index]
                pending[index] = try communicator.startSumReduceScatter(
                    UnsafeMutableBufferPointer(rebasing: buffer[ring]), blockCounts: counts,
                    scratch: UnsafeMutableBufferPointer(rebasing: scratch[scratchOffsets[index]...]), tag: index)
            }
            if !trailer.isEmpty {
                pendingTrailer[index] = try communicator.startSumAllreduce(UnsafeMutableBufferPointer(rebasing: buffer[trailer]))
            }
        } else {
            pending[index] = try communicator.startSumAllreduce(UnsafeMutableBufferPointer(rebasing: buffer[plan.buckets[index]]))
        }
        started = index + 1
    }

    /// Tests the started buckets in order, checking each completed one.
    @inline(__always)
    private func testStarted() throws {
        let begin = communicator.wallTime()
        while completed < started, try pending[completed]?.test() ?? true, try pendingTrailer[completed]?.test() ?? true {
            complete()
        }
        times.record(progressSeconds: communicator.wallTime() - begin)
    }

    @inline(__always)
    private func complete() {
        timeline?.record(bucketSpanName, from: bucketStarts[completed], thread: UInt32(completed + 1))
        pending[completed] = nil
        pendingTrailer[completed] = nil
        if mode == .sharded {
            let owned = ringRanges[completed].clamped(to: ownedRange)
            partialSquares += Self.sumOfSquares(UnsafePointer(buffer.baseAddress! + owned.lowerBound), owned.count)
            checkFinite(trailerRanges[completed])
        } else {
            checkFinite(plan.buckets[completed])
        }
        completed += 1
    }

    /// Σ xᵢ² in Double, in a fixed pattern (sixteen lanes, then the tail in order): the same bits
    /// for the same elements. NaN or +∞ when an element is not finite.
    @inline(__always)
    private static func sumOfSquares(_ x: UnsafePointer<Float>, _ count: Int) -> Double {
        typealias Lanes = SIMD8<Double>
        let raw = UnsafeRawPointer(x)
        var even = Lanes(repeating: 0), odd = Lanes(repeating: 0)
        var i = 0
        while i + 16 <= count {
            let a = Lanes(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            let b = Lanes(raw.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self))
            even += a * a
            odd += b * b
            i += 16
        }
        let lanes = even + odd
        var sum = 0.0
        for lane in 0..<Lanes.scalarCount { sum += lanes[lane] }
        while i < count {
            let value = Double(x[i])
            sum += value * value
            i += 1
        }
        return sum
    }

    /// ORs the elements of `range` into `nonFiniteMarker`: integer operations only (no NaN-aware
    /// float compare, no unsigned max), sixteen lanes at a time, so it runs at memory speed with
    /// plain SSE2.
    @inline(__always)
    private func checkFinite(_ range: Range<Int>) {
        typealias Lanes = SIMD16<UInt32>
        let raw = UnsafeRawPointer(buffer.baseAddress! + range.lowerBound)
        let exponent = Lanes(repeating: 0x7F80_0000), lowestExponentBit = Lanes(repeating: 0x0080_0000)
        var lanes = Lanes(repeating: 0)
        let vectorCount = range.count / Lanes.scalarCount
        for v in 0..<vectorCount {
            let bits = raw.loadUnaligned(fromByteOffset: v * MemoryLayout<Lanes>.stride, as: Lanes.self)
            lanes |= (bits & exponent) &+ lowestExponentBit
        }
        var marker = lanes.max()  // bit 31 is set iff it is set in some lane
        let tail = raw.assumingMemoryBound(to: UInt32.self)
        for i in (vectorCount * Lanes.scalarCount)..<range.count { marker |= (tail[i] & 0x7F80_0000) &+ 0x0080_0000 }
        nonFiniteMarker |= marker
    }
}

/// Seconds a rank spent on gradient reduction, accumulated over steps.
public struct ReductionTimes: Sendable {
    /// Blocked in `finish()`: waiting for buckets still in flight after backward (all of the
    /// reduction when it is not overlapped). The finiteness checks are not included.
    public private(set) var waitSeconds = 0.0
    /// In progress calls between backward kernels (testing and checking completed buckets).
    public private(set) var progressSeconds = 0.0
    /// Reductions finished.
    public private(set) var steps = 0

    mutating func record(waitSeconds seconds: Double) {
        waitSeconds += seconds
        steps += 1
    }

    mutating func record(progressSeconds seconds: Double) { progressSeconds += seconds }
}
