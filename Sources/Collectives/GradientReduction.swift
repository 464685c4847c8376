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
/// With `--reduction reduce-scatter-allgather` there is no nonblocking form in the communicator,
/// so the whole buffer is reduced by one blocking call after backward, whatever `overlap` says.
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
    /// True when buckets start during backward (allreduce mode with overlap requested).
    public let overlaps: Bool
    /// The elements reduced in place; owned by the caller, alive as long as this reduction.
    public let buffer: UnsafeMutableBufferPointer<Float>
    public let plan: BucketPlan

    /// Where each bucket's reduction is recorded (nil: nowhere). Set it between steps.
    public var timeline: Timeline? {
        didSet {
            guard let timeline else { return }
            bucketSpanName = timeline.name(mode == .allreduce ? "allreduce" : "reduce-scatter + allgather")
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
    /// The collective of each started, not yet completed bucket (index = bucket index).
    private var pending: [PendingCollective?]
    /// The OR over every checked element of `(bits & exponent) + exponent's lowest bit`: its sign
    /// bit is set iff some element had an all-ones exponent (NaN or ±Inf).
    private var nonFiniteMarker: UInt32 = 0

    /// - Parameters:
    ///   - buffer: the elements to reduce; must stay allocated while this reduction lives.
    ///   - readyPoints: the lower bounds at which elements become final, decreasing to 0 (for a
    ///     model, its `gradientReadyPoints`; `BucketPlan`).
    ///   - bucketByteCount: the bucket size for `BucketPlan`, in bytes of `Float`.
    public init(
        communicator: Communicator, mode: ReductionMode, overlap: Bool, buffer: UnsafeMutableBufferPointer<Float>,
        readyPoints: [Int], bucketByteCount: Int
    ) {
        self.communicator = communicator
        self.mode = mode
        self.buffer = buffer
        overlaps = overlap && mode == .allreduce
        plan = mode == .allreduce
            ? BucketPlan(readyPoints: readyPoints, bufferCount: buffer.count,
                         bucketElementCount: max(1, bucketByteCount / MemoryLayout<Float>.stride))
            : BucketPlan(readyPoints: [0], bufferCount: buffer.count, bucketElementCount: buffer.count)
        pending = Array(repeating: nil, count: plan.buckets.count)
        bucketStarts = Array(repeating: 0, count: plan.buckets.count)
    }

    // MARK: - Step

    /// Resets the per-step state; call before backward.
    public func beginStep() {
        started = 0
        completed = 0
        nonFiniteMarker = 0
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
        case .allreduce:
            while started < plan.buckets.count { try self.start(started) }
            while completed < started {
                let begin = communicator.wallTime()
                try pending[completed]!.wait()
                waited += communicator.wallTime() - begin
                complete()
            }
        case .reduceScatterAllgather:
            let begin = communicator.wallTime(), spanStart = timeline == nil ? 0 : Timeline.now()
            try communicator.sumByReduceScatterAllgather(buffer)
            waited = communicator.wallTime() - begin
            timeline?.record(bucketSpanName, from: spanStart, thread: 1)
            checkFinite(plan.buckets[0])
            completed = 1
        }
        times.record(waitSeconds: waited)
        return nonFiniteMarker & 0x8000_0000 == 0
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
        pending[index] = try communicator.startSumAllreduce(UnsafeMutableBufferPointer(rebasing: buffer[plan.buckets[index]]))
        started = index + 1
    }

    /// Tests the started buckets in order, checking each completed one.
    @inline(__always)
    private func testStarted() throws {
        let begin = communicator.wallTime()
        while completed < started, try pending[completed]!.test() { complete() }
        times.record(progressSeconds: communicator.wallTime() - begin)
    }

    @inline(__always)
    private func complete() {
        timeline?.record(bucketSpanName, from: bucketStarts[completed], thread: UInt32(completed + 1))
        pending[completed] = nil
        checkFinite(plan.buckets[completed])
        completed += 1
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
