import CVectorKernels
import Tracing

/// The exact, order-independent sum of `--world-size-invariant` training: the sum of `termCount`
/// float vectors (one per micro-batch of the global batch, spread over the ranks in any way) that
/// is the same bits whichever rank holds which term and however many ranks there are.
///
/// **Method** (block floating point over 64-bit integers; the functions are in
/// `CVectorKernels/fixed_point.c`):
/// 1. The vector is cut into blocks of at most `blockElementCount` elements (never across a
///    caller's `boundaries` or `sections`). Each rank finds the largest biased exponent `e` in each block over
///    its terms; a max-allreduce makes it the block's exponent over every term of every rank (a
///    maximum does not depend on grouping).
/// 2. With `c = ⌈log₂ termCount⌉` carry bits, each element `x` of the block becomes the integer
///    `round(x · 2^(188 − c − e))` (to nearest, ties to even; subnormals count as 0). Since
///    `|x| < 2^(e − 126)`, every integer is below `2^(62 − c)` and any sum of `termCount` of them
///    below `2^62`: no overflow is possible, so no finite value is ever refused or saturated.
/// 3. The integers are summed locally over the rank's terms, then across ranks by an
///    `MPI_Allreduce` of `MPI_INT64_T`: integer addition is associative and commutative, so the
///    result is the same bits for any grouping and order.
/// 4. Each sum becomes `float(sum) · 2^−(188 − c − e)`: one rounding to nearest float; a result
///    below the smallest normal float (2^−126) becomes 0, one above the largest, infinity.
///
/// **Error against the exact real sum** of the block's terms: at most `termCount` half-quanta from
/// step 2 plus half an ulp of the result from step 4, i.e.
/// `|error| ≤ termCount · 2^(e + c − 189) + ulp(result)/2`. Relative to the block's largest
/// element (at least `2^(e − 127)`), the first part is at most `2^(2c − 62)`: below `2^−50` for
/// up to 64 terms, far below float's own `2^−24`. A float sum of the same terms errs by up to
/// `(termCount − 1) · 2^−24 · Σ|x|` and depends on the order. Elements far smaller than their
/// block's largest lose digits (an element `2^−k` times the largest keeps about `62 − 2c − k`
/// bits), which is why blocks are small (1,024 elements) rather than whole buckets.
///
/// **Non-finite values** are not summed: a NaN or ±infinity anywhere in a block marks the block
/// (exponent code 256 or 255, carried by the same max-allreduce), every element of it comes out
/// NaN (or +infinity), and `finish` returns false on every rank alike, as does a sum that
/// overflows float in step 4.
///
/// **Overlap.** The buffer is also cut into `sections` (the gradient buckets, in the order
/// backward finishes them). While backward computes the local terms, each section whose
/// elements are final in every term (`ready(from:)`) gets its exponents found over the rank's
/// terms and max-allreduced; when the next one is
/// ready, the previous section's integers are formed and their sum-allreduce started; `finish`
/// does the rest. Every rank starts these nonblocking collectives in the same order: exponents
/// of section 0, sums of 0, exponents of 1, sums of 1, …
///
/// Use per step: `beginStep()`; compute each local term but the last into `stashSlot(k)` and
/// the last into the result buffer (one after the other, or all together), calling
/// `ready(from:)` as elements become final in every term and `progress()` between kernels; then
/// `finish(into:)` with that buffer (collective). Nothing allocates in a step but the MPI
/// requests.
public final class FixedPointSum {
    /// Elements per exponent block (the last block before each boundary may be shorter).
    public static let blockElementCount = 1024

    /// Elements per term.
    public let count: Int
    /// Terms in the whole sum, over every rank.
    public let termCount: Int
    /// Terms this rank adds per step.
    public let localTermCount: Int
    /// `⌈log₂ termCount⌉`.
    public let carryBits: Int32
    /// Element ranges in the order their exponents and sums are reduced (the whole buffer as one
    /// section by default).
    public let sections: [Range<Int>]

    private let communicator: Communicator
    /// Block `b` is elements `blockStarts[b] ..< blockStarts[b + 1]`.
    private let blockStarts: UnsafeMutableBufferPointer<Int64>
    /// Per section: its blocks.
    private let sectionBlocks: [Range<Int>]
    /// Per block: the largest exponent code seen (local, then agreed).
    private let codes: UnsafeMutableBufferPointer<Int64>
    private let sums: UnsafeMutableBufferPointer<Int64>
    /// The terms `0 ..< localTermCount − 1`, `count` floats each.
    private let stash: UnsafeMutableBufferPointer<Float>
    /// Every local term, the last one (the result buffer) set by `ready` or `finish`.
    private let slots: UnsafeMutableBufferPointer<UnsafePointer<Float>?>

    // Per step.
    private var live: UnsafeMutablePointer<Float>?
    /// Sections whose exponents' allreduce has started, and whose sums' allreduce has.
    private var codesStarted = 0
    private var sumsStarted = 0
    private var codesPending: [PendingCollective?]
    private var sumsPending: [PendingCollective?]

    public var blockCount: Int { blockStarts.count - 1 }
    /// Bytes this sum allocates (stash, integer sums, codes).
    public var byteCount: Int { stash.count * 4 + sums.count * 8 + codes.count * 8 + blockStarts.count * 8 }

    /// - Parameters:
    ///   - count: elements per term.
    ///   - boundaries: indices in `1..<count` where a block must end (for the gradients, the start
    ///     of the loss slot and of the stop-request slots, so that their exponents are their own).
    ///   - sections: ranges covering `0..<count` without gaps, in the order they become final
    ///     (`BucketPlan.buckets`); their bounds are block boundaries too. Default: one.
    ///   - termCount: terms over every rank (micro-batches per global batch), ≥ 1.
    ///   - localTermCount: terms this rank adds, `1...termCount`.
    public init(
        count: Int, boundaries: [Int] = [], sections: [Range<Int>]? = nil, termCount: Int, localTermCount: Int,
        communicator: Communicator
    ) {
        precondition(count > 0 && termCount >= 1 && (1...termCount).contains(localTermCount),
                     "FixedPointSum(count: \(count), termCount: \(termCount), localTermCount: \(localTermCount))")
        let sections = sections ?? [0..<count]
        precondition(sections.map(\.count).reduce(0, +) == count && Set(sections.map(\.lowerBound)).count == sections.count
                     && sections.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= count && !$0.isEmpty },
                     "sections \(sections) must cover 0..<\(count)")
        self.count = count
        self.termCount = termCount
        self.localTermCount = localTermCount
        self.sections = sections
        self.communicator = communicator
        carryBits = Int32(Int.bitWidth - (termCount - 1).leadingZeroBitCount)
        var starts: [Int64] = []
        var lower = 0
        let cuts = Set(boundaries.filter { $0 > 0 && $0 < count } + sections.map(\.lowerBound).filter { $0 > 0 })
        for upper in cuts.sorted() + [count] where upper > lower {
            var start = lower
            while start < upper {
                starts.append(Int64(start))
                start = min(upper, start + Self.blockElementCount)
            }
            lower = upper
        }
        starts.append(Int64(count))
        sectionBlocks = sections.map { section in
            starts.firstIndex(of: Int64(section.lowerBound))!..<starts.firstIndex(of: Int64(section.upperBound))!
        }
        blockStarts = .allocate(capacity: starts.count)
        _ = blockStarts.initialize(from: starts)
        codes = .allocate(capacity: starts.count - 1)
        codes.initialize(repeating: 0)
        sums = .allocate(capacity: count)
        sums.initialize(repeating: 0)
        stash = .allocate(capacity: (localTermCount - 1) * count)
        stash.initialize(repeating: 0)
        slots = .allocate(capacity: localTermCount)
        slots.initialize(repeating: nil)
        for slot in 0..<(localTermCount - 1) { slots[slot] = UnsafePointer(stash.baseAddress! + slot * count) }
        codesPending = Array(repeating: nil, count: sections.count)
        sumsPending = Array(repeating: nil, count: sections.count)
    }

    deinit {
        blockStarts.deallocate()
        codes.deallocate()
        sums.deallocate()
        stash.deallocate()
        slots.deallocate()
    }

    /// Where each section's reduction is recorded (nil: nowhere): a span from its exponents'
    /// allreduce to its sums' completion, on a thread of its own (`section k`). Set it between steps.
    public var timeline: Timeline? {
        didSet {
            guard let timeline else { return }
            sectionSpanName = timeline.name("exact sum")
            for (index, section) in sections.enumerated() {
                let megabytes = Double(section.count * MemoryLayout<Float>.stride) / 1_048_576
                timeline.nameThread(UInt32(index + 1), "section \(index) (\((megabytes * 100).rounded() / 100) MB)")
            }
            sectionStarts = Array(repeating: 0, count: sections.count)
        }
    }
    private var sectionSpanName = Timeline.Name.unregistered
    private var sectionStarts: [UInt64] = []

    /// Starts a new sum.
    public func beginStep() {
        for b in 0..<codes.count { codes[b] = 0 }
        live = nil
        codesStarted = 0
        sumsStarted = 0
    }

    /// Where local term `slot` (`0 ..< localTermCount − 1`) is computed: `count` floats.
    public func stashSlot(_ slot: Int) -> UnsafeMutablePointer<Float> {
        precondition((0..<(localTermCount - 1)).contains(slot), "stash slot \(slot) of \(localTermCount - 1)")
        return stash.baseAddress! + slot * count
    }

    /// Copies `values` (`count` floats) into stash slot `slot` (for callers that did not compute
    /// into the slot).
    public func add(_ values: UnsafeBufferPointer<Float>, slot: Int) {
        precondition(values.count == count, "\(values.count) of \(count) elements")
        stashSlot(slot).update(from: values.baseAddress!, count: count)
    }

    /// Elements `from ..< count` are final in every local term (the last one in `values`): starts
    /// the reductions of the sections that lie entirely in them (and forms the integers of the
    /// section before each). Collective in order: every rank calls it with the same `from`s.
    @inline(__always)
    public func ready(from: Int, values: UnsafeMutablePointer<Float>) throws {
        live = values
        while codesStarted < sections.count && sections[codesStarted].lowerBound >= from { try startSection() }
    }

    /// Drives MPI's progress on the reductions in flight; call between pieces of compute.
    @inline(__always)
    public func progress() throws {
        if codesStarted > sumsStarted, let pending = codesPending[codesStarted - 1] { _ = try pending.test() }
        if sumsStarted > 0, let pending = sumsPending[sumsStarted - 1] { _ = try pending.test() }
    }

    /// Sums every rank's terms into `result` (`count` floats: the last local term, computed in
    /// place). Collective. Returns false when some term held a NaN or infinity or the sum
    /// overflowed float: the same on every rank.
    public func finish(into result: UnsafeMutableBufferPointer<Float>) throws -> Bool {
        precondition(result.count == count, "\(result.count) of \(count) elements")
        live = result.baseAddress!
        while codesStarted < sections.count { try startSection() }
        try startSums(of: sections.count - 1)
        var nonFinite: Int32 = 0
        for (index, blocks) in sectionBlocks.enumerated() {
            try sumsPending[index]!.wait()
            timeline?.record(sectionSpanName, from: sectionStarts[index], thread: UInt32(index + 1))
            sumsPending[index] = nil
            nonFinite |= lockstep_fixed_to_float(
                sums.baseAddress!, blockStarts.baseAddress! + blocks.lowerBound, blocks.count,
                codes.baseAddress! + blocks.lowerBound, carryBits, result.baseAddress!)
        }
        return nonFinite == 0
    }

    /// The exponents of section `codesStarted` over every local term, max-allreduced; before
    /// them, the sums of the section before.
    private func startSection() throws {
        let index = codesStarted
        if timeline != nil { sectionStarts[index] = Timeline.now() }
        if index > 0 { try startSums(of: index - 1) }
        let blocks = sectionBlocks[index]
        slots[localTermCount - 1] = UnsafePointer(live!)
        for slot in 0..<localTermCount {
            lockstep_fixed_exponent_codes(
                slots[slot]!, blockStarts.baseAddress! + blocks.lowerBound, blocks.count, codes.baseAddress! + blocks.lowerBound)
        }
        codesPending[index] = try communicator.startAllreduce(
            UnsafeMutableBufferPointer(rebasing: codes[blocks]), operation: .max)
        codesStarted = index + 1
    }

    /// Waits for section `index`'s exponents, forms its integers and starts their sum-allreduce.
    private func startSums(of index: Int) throws {
        precondition(index == sumsStarted && index < codesStarted, "sums of section \(index)")
        try codesPending[index]!.wait()
        codesPending[index] = nil
        slots[localTermCount - 1] = UnsafePointer(live!)
        let blocks = sectionBlocks[index]
        lockstep_fixed_sum(
            UnsafePointer(slots.baseAddress!), localTermCount, blockStarts.baseAddress! + blocks.lowerBound, blocks.count,
            codes.baseAddress! + blocks.lowerBound, carryBits, sums.baseAddress!)
        sumsPending[index] = try communicator.startAllreduce(
            UnsafeMutableBufferPointer(rebasing: sums[sections[index]]), operation: .sum)
        sumsStarted = index + 1
    }
}
