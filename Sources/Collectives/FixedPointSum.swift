import CVectorKernels
import Tracing

/// The exact, order-independent sum of `--world-size-invariant` training: the sum of `termCount`
/// float vectors (one per micro-batch of the global batch, spread over the ranks in any way) that
/// is the same bits whichever rank holds which term and however many ranks there are.
///
/// **Method** (block floating point over `width`-bit integers, 32 or 64; the functions are in
/// `CVectorKernels/fixed_point.c`):
/// 1. The vector is cut into blocks of at most `blockElementCount` elements (never across a
///    caller's `boundaries` or `sections`). Each block gets an exponent code `e` that no element
///    of any term exceeds, agreed by a max-allreduce (a maximum does not depend on grouping):
///    either the largest biased exponent found in the block over every term (`tileComputed`
///    without bounds), or the code of an upper bound on the block's magnitudes over every term,
///    given before the terms are computed (`noteBounds`, `agreeBounds`).
/// 2. With `c = ⌈log₂ termCount⌉` carry bits and `p = width − 2 − c`, each element `x` of the
///    block becomes the integer `round(x · 2^(p + 126 − e))` (to nearest, ties to even; subnormals
///    count as 0): `2^(188 − c − e)` for 64 bits, `2^(156 − c − e)` for 32. Since
///    `|x| < 2^(e − 126)`, every integer is at most `2^p` and any sum of `termCount` of them at
///    most `2^(width − 2)`: no overflow is possible, so no finite value is ever refused or
///    saturated.
/// 3. The integers are summed locally over the rank's terms, then across ranks by an
///    `MPI_Allreduce` of `MPI_INT32_T` or `MPI_INT64_T`: integer addition is associative and
///    commutative, so the result is the same bits for any grouping and order.
/// 4. Each sum becomes `float(sum) · 2^−(p + 126 − e)`: one rounding to nearest float; a result
///    below the smallest normal float (2^−126) becomes 0, one above the largest, infinity.
///
/// **Width.** 32 bits for up to 256 terms (`width(termCount:)`), 64 above: the 32-bit sums halve
/// the bytes converted, sent and written back, and keep `30 − c` bits (22 or more) below the
/// block's ceiling.
///
/// **Error against the exact real sum** of the block's terms: at most `termCount` half-quanta from
/// step 2 plus half an ulp of the result from step 4, i.e.
/// `|error| ≤ termCount · 2^(e − 127 − p) + ulp(result)/2` (`2^(e + c − 189)` per term for 64
/// bits, `2^(e + c − 157)` for 32). Relative to `2^(e − 127)` (the block's largest element, or its
/// bound), the first part is at most `2^(2c − width + 2)`: `2^(2c − 62)` for 64 bits (below
/// `2^−50` for up to 64 terms), `2^(2c − 30)` for 32 (`2^−24` at 8 terms, float's own unit
/// roundoff). A float sum of the same terms errs by up to `(termCount − 1) · 2^−24 · Σ|x|`, up to
/// `2^(2c − 24)` times the largest term, 64 times the 32-bit bound, and depends on the order.
/// Elements far smaller than their block's largest (or bound) lose digits (an element `2^−k`
/// times it keeps about `width − 2 − 2c − k` bits), which is why blocks are small (1,024 elements)
/// rather than whole buckets.
///
/// **Non-finite values** are not summed: a NaN or ±infinity anywhere in a block (or a bound that
/// is not finite or exceeds the largest float) marks the block (exponent code 256 or 255, carried
/// by the same max-allreduce), every element of it comes out NaN (or +infinity), and `finish`
/// returns false on every rank alike, as does a sum that overflows float in step 4.
///
/// **Tiles.** The local terms arrive tile by tile, from the end of the vector down, every term's
/// part of a tile before the next tile (`target`, then `tileComputed`): each tile becomes integers
/// at once, while it is still in the core's cache, and its buffer is reused by the next tile.
/// Terms computed in several passes (`stashedTermCount`) keep those of the earlier passes whole, in
/// a stash, until the last pass's tiles arrive. Codes from bounds are agreed for a whole range of
/// tiles (a linear layer) by one nonblocking max-allreduce, started as soon as the bounds are
/// noted and waited for by the range's first tile (the caller computes something in between: the
/// layer above's weight tiles and the layer's input gradient); any other tile agrees its codes itself (a blocking max-allreduce of a
/// few integers). The sum of each section (the gradient buckets, in the order backward finishes
/// them) is started as a nonblocking allreduce as soon as its last tile is integers, and written
/// back as floats as soon as it is in (`progress`, else `finish`). Every rank makes these collective calls in the same order.
///
/// Use per step: `beginStep(into:)`; for each tile from the end down, optionally `noteBounds` for every
/// local term's rows and `agreeBounds` before it, write every term's part (`target`) and call
/// `tileComputed`; `progress()` between kernels; then `finish()`. Nothing allocates in a step but
/// the MPI requests.
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
    /// Bits per integer sum: 32 or 64.
    public let width: Int
    /// Element ranges in the order their sums are reduced (the whole vector as one section by
    /// default).
    public let sections: [Range<Int>]
    /// Local terms `0 ..< stashedTermCount` are written whole (`count` floats each) before the
    /// others' tiles arrive; the others share a tile buffer.
    public let stashedTermCount: Int
    /// The largest tile, in elements.
    public let tileCapacity: Int

    private let communicator: Communicator
    /// Block `b` is elements `blockStarts[b] ..< blockStarts[b + 1]`.
    private let blockStarts: UnsafeMutableBufferPointer<Int64>
    /// Per section: its blocks.
    private let sectionBlocks: [Range<Int>]
    /// Per block: the largest exponent code seen or bounded (local, then agreed).
    private let codes: UnsafeMutableBufferPointer<Int64>
    /// The integer sums: `count` of `width` bits.
    private let sums: UnsafeMutableRawBufferPointer
    /// The stashed terms, `count` floats each.
    private let stash: UnsafeMutableBufferPointer<Float>
    /// The other terms' current tile, `tileCapacity` floats each.
    private let tiles: UnsafeMutableBufferPointer<Float>
    /// Per local term, the current tile as a `count`-element vector base (for the C functions).
    private let slots: UnsafeMutableBufferPointer<UnsafePointer<Float>?>

    // Per step.
    /// Elements `agreedLower ..< count` have agreed codes; `convertedLower ..< count` are integers.
    private var agreedLower = 0
    private var convertedLower = 0
    /// Sections whose sums' allreduce has started, and those written back to `result` as floats.
    private var sumsStarted = 0
    private var sumsFinished = 0
    private var sumsPending: [PendingCollective?]
    /// The bounds' agreements in flight (`agreeBounds`), the oldest (highest range) first.
    private var agreements: [(elements: Range<Int>, request: PendingCollective)] = []
    /// Where the sum goes, and whether a section written so far was not finite.
    private var result: UnsafeMutablePointer<Float>?
    private var nonFinite: Int32 = 0

    public var blockCount: Int { blockStarts.count - 1 }
    /// Bytes this sum allocates (stash, tiles, integer sums, codes).
    public var byteCount: Int {
        stash.count * 4 + tiles.count * 4 + sums.count + codes.count * 8 + blockStarts.count * 8
    }

    /// The width of the integer sums for `termCount` terms: 32 bits for up to 256 (8 carry bits),
    /// 64 above.
    public static func width(termCount: Int) -> Int { termCount <= 256 ? 32 : 64 }

    /// - Parameters:
    ///   - count: elements per term.
    ///   - boundaries: indices in `1..<count` where a block must end: every tile's bounds, and
    ///     for the gradients, the start of the loss slot and of the stop-request slots, so that
    ///     their exponents are their own.
    ///   - sections: ranges covering `0..<count` without gaps, in the order they become final
    ///     (`BucketPlan.buckets`); their bounds are block boundaries too. Default: one.
    ///   - termCount: terms over every rank (micro-batches per global batch), ≥ 1.
    ///   - localTermCount: terms this rank adds, `1...termCount`.
    ///   - stashedTermCount: the local terms computed before the last pass over the others (0 when
    ///     every local term is computed tile by tile together; `localTermCount − 1` when one
    ///     after the other).
    ///   - tileCapacity: the largest tile, in elements.
    ///   - width: bits per integer sum, 32 or 64 (default: `width(termCount:)`); with 32, at most
    ///     2^28 terms.
    public init(
        count: Int, boundaries: [Int] = [], sections: [Range<Int>]? = nil, termCount: Int, localTermCount: Int,
        stashedTermCount: Int = 0, tileCapacity: Int, width: Int? = nil, communicator: Communicator
    ) {
        precondition(count > 0 && termCount >= 1 && (1...termCount).contains(localTermCount)
                     && (0..<localTermCount).contains(stashedTermCount) && tileCapacity > 0,
                     "FixedPointSum(count: \(count), termCount: \(termCount), localTermCount: \(localTermCount), stashed \(stashedTermCount), tiles \(tileCapacity))")
        let sections = sections ?? [0..<count]
        precondition(sections.map(\.count).reduce(0, +) == count && Set(sections.map(\.lowerBound)).count == sections.count
                     && sections.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= count && !$0.isEmpty },
                     "sections \(sections) must cover 0..<\(count)")
        self.count = count
        self.termCount = termCount
        self.localTermCount = localTermCount
        self.sections = sections
        self.stashedTermCount = stashedTermCount
        self.tileCapacity = tileCapacity
        self.communicator = communicator
        carryBits = Int32(Int.bitWidth - (termCount - 1).leadingZeroBitCount)
        let width = width ?? Self.width(termCount: termCount)
        precondition(width == 64 || (width == 32 && carryBits <= 28), "\(width)-bit sums of \(termCount) terms")
        self.width = width
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
        sums = .allocate(byteCount: count * width / 8, alignment: 64)
        // Bound to the integer type the C functions and MPI read and write (`integers`).
        if width == 32 { sums.initializeMemory(as: Int32.self, repeating: 0) } else { sums.initializeMemory(as: Int64.self, repeating: 0) }
        stash = .allocate(capacity: stashedTermCount * count)
        stash.initialize(repeating: 0)
        tiles = .allocate(capacity: (localTermCount - stashedTermCount) * tileCapacity)
        tiles.initialize(repeating: 0)
        slots = .allocate(capacity: localTermCount)
        slots.initialize(repeating: nil)
        sumsPending = Array(repeating: nil, count: sections.count)
        agreements.reserveCapacity(8)
    }

    deinit {
        blockStarts.deallocate()
        codes.deallocate()
        sums.deallocate()
        stash.deallocate()
        tiles.deallocate()
        slots.deallocate()
    }

    /// Where each section's reduction is recorded (nil: nowhere): a span from its sums' start to
    /// their completion, on a thread of its own (`section k`). Set it between steps.
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

    /// Starts a new sum, to be written into `result` (`count` floats; each section as soon as its
    /// sums are in, the rest by `finish`). `result` may be where the last term is computed.
    public func beginStep(into result: UnsafeMutableBufferPointer<Float>) {
        precondition(result.count == count, "\(result.count) of \(count) elements")
        for b in 0..<codes.count { codes[b] = 0 }
        agreedLower = count
        convertedLower = count
        sumsStarted = 0
        sumsFinished = 0
        nonFinite = 0
        self.result = result.baseAddress!
    }

    /// Where local term `term`'s elements `elements` go: a pointer `p` with `p[i]`, `i` in
    /// `elements`, in the term's stash (all of `0..<count`) or in the current tile (only
    /// `elements`, at most `tileCapacity`, below every tile already reported: other indices are
    /// not memory).
    @inline(__always)
    public func target(term: Int, elements: Range<Int>) -> UnsafeMutablePointer<Float> {
        precondition((0..<localTermCount).contains(term) && elements.upperBound <= convertedLower
                     && (term < stashedTermCount || elements.count <= tileCapacity),
                     "elements \(elements) of term \(term) (tile capacity \(tileCapacity), below \(convertedLower))")
        if term < stashedTermCount { return stash.baseAddress! + term * count }
        return tiles.baseAddress! + (term - stashedTermCount) * tileCapacity - elements.lowerBound
    }

    /// Raises the local codes of the blocks of `elements` (rows of `rowLength` elements: row `r` is
    /// `elements.lowerBound + r·rowLength ..<` one row later) to bound `|x| ≤ rowBounds[r]` for
    /// every element of the row. Call it for every local term (or once with bounds over all of
    /// them) before `agreeBounds`; no communication.
    public func noteBounds(elements: Range<Int>, rowLength: Int, rowBounds: UnsafePointer<Double>) {
        precondition(rowLength > 0 && elements.count % rowLength == 0 && elements.upperBound <= agreedLower,
                     "bounds of \(elements) in rows of \(rowLength) (agreed from \(agreedLower))")
        let blocks = blockRange(of: elements)
        for b in blocks {
            let firstRow = (Int(blockStarts[b]) - elements.lowerBound) / rowLength
            let lastRow = (Int(blockStarts[b + 1]) - 1 - elements.lowerBound) / rowLength
            var code = codes[b]
            for row in firstRow...lastRow { code = max(code, Self.code(bounding: rowBounds[row])) }
            codes[b] = code
        }
    }

    /// Starts agreeing the codes of `elements` (whose bounds every local term has noted, just
    /// below the elements agreed before) over every rank: a nonblocking max-allreduce of its
    /// blocks' codes, which the first tile of `elements` waits for (`tileComputed`); the
    /// agreements of lower ranges may start before that. Collective.
    public func agreeBounds(elements: Range<Int>) throws {
        precondition(elements.upperBound == agreedLower, "agreeing \(elements) below \(agreedLower)")
        let blocks = blockRange(of: elements)
        let request = try communicator.startAllreduce(UnsafeMutableBufferPointer(rebasing: codes[blocks]), operation: .max)
        agreements.append((elements, request))
        agreedLower = elements.lowerBound
    }

    /// Every local term's `elements` are written (`target`): without agreed bounds, their blocks'
    /// exponents are found over every local term and agreed (a blocking max-allreduce); then the
    /// tile becomes integers and every section now complete starts its sums. Tiles are reported
    /// from the end of the vector down, without gaps, each a whole number of blocks. Collective.
    public func tileComputed(_ elements: Range<Int>) throws {
        precondition(elements.upperBound == convertedLower && !elements.isEmpty,
                     "tile \(elements) after \(convertedLower)..<\(count)")
        let blocks = blockRange(of: elements)
        for term in 0..<localTermCount { slots[term] = UnsafePointer(target(term: term, elements: elements)) }
        let first = blockStarts.baseAddress! + blocks.lowerBound
        while let oldest = agreements.first, oldest.elements.upperBound > elements.lowerBound {
            try oldest.request.wait()
            agreements.removeFirst()
        }
        if elements.lowerBound < agreedLower {
            precondition(elements.upperBound == agreedLower, "tile \(elements) is partly agreed (from \(agreedLower))")
            for term in 0..<localTermCount {
                lockstep_fixed_exponent_codes(slots[term]!, first, blocks.count, codes.baseAddress! + blocks.lowerBound)
            }
            try communicator.allreduce(UnsafeMutableBufferPointer(rebasing: codes[blocks]), operation: .max)
            agreedLower = elements.lowerBound
        }
        lockstep_fixed_sum(
            UnsafePointer(slots.baseAddress!), localTermCount, first, blocks.count, codes.baseAddress! + blocks.lowerBound,
            carryBits, Int32(width), sums.baseAddress!)
        convertedLower = elements.lowerBound
        while sumsStarted < sections.count && sections[sumsStarted].lowerBound >= convertedLower {
            let index = sumsStarted
            if timeline != nil { sectionStarts[index] = Timeline.now() }
            let section = sections[index]
            sumsPending[index] = try width == 32
                ? communicator.startAllreduce(integers(Int32.self, section), operation: .sum)
                : communicator.startAllreduce(integers(Int64.self, section), operation: .sum)
            sumsStarted = index + 1
        }
    }

    /// Drives MPI's progress on the oldest section's sums in flight, and writes it back as floats
    /// once they are in; call between pieces of compute.
    @inline(__always)
    public func progress() throws {
        guard sumsFinished < sumsStarted, try sumsPending[sumsFinished]!.test() else { return }
        finishSection()
    }

    /// Writes every rank's sum into the step's `result`, after the last tile (element 0).
    /// Collective. Returns false when some term held a NaN or infinity (or a bound was not
    /// finite) or the sum overflowed float: the same on every rank.
    public func finish() throws -> Bool {
        precondition(convertedLower == 0 && sumsStarted == sections.count,
                     "finish: integers down to \(convertedLower), \(sumsStarted) of \(sections.count) sections started")
        while sumsFinished < sections.count {
            try sumsPending[sumsFinished]!.wait()
            finishSection()
        }
        return nonFinite == 0
    }

    /// Section `sumsFinished`'s sums are in: they become floats in `result`.
    private func finishSection() {
        let index = sumsFinished, blocks = sectionBlocks[index]
        timeline?.record(sectionSpanName, from: sectionStarts[index], thread: UInt32(index + 1))
        sumsPending[index] = nil
        let starts = blockStarts.baseAddress! + blocks.lowerBound, codes = codes.baseAddress! + blocks.lowerBound
        nonFinite |= lockstep_fixed_to_float(sums.baseAddress!, Int32(width), starts, blocks.count, codes, carryBits, result!)
        sumsFinished = index + 1
    }

    /// The exponent code of the block whose magnitudes are at most `bound`: the biased exponent of
    /// `2 · bound` (one binade of headroom, for the rounding of the computation the bound is of),
    /// 0 below the smallest normal float, 255 (not finite) for a bound beyond the largest float or
    /// infinite, 256 for NaN.
    public static func code(bounding bound: Double) -> Int64 {
        if bound.isNaN { return Int64(LOCKSTEP_FIXED_NAN) }
        let doubled = 2 * bound.magnitude
        guard doubled.isFinite else { return Int64(LOCKSTEP_FIXED_INFINITY) }
        if doubled < 0x1p-126 { return 0 }
        let code = Int64(doubled.exponent) + 127
        return code > 254 ? Int64(LOCKSTEP_FIXED_INFINITY) : code
    }

    /// The integer sums of `elements`, as `Integer` (`Int32` for 32-bit sums, `Int64` for 64).
    private func integers<Integer>(_: Integer.Type, _ elements: Range<Int>) -> UnsafeMutableBufferPointer<Integer> {
        precondition(MemoryLayout<Integer>.size * 8 == width, "\(Integer.self) sums of \(width) bits")
        let base = sums.baseAddress!.assumingMemoryBound(to: Integer.self)
        return UnsafeMutableBufferPointer(start: base + elements.lowerBound, count: elements.count)
    }

    /// The blocks that make up `elements` exactly.
    private func blockRange(of elements: Range<Int>) -> Range<Int> {
        func firstBlock(atOrAfter element: Int) -> Int {
            var low = 0, high = blockStarts.count - 1
            while low < high {
                let middle = (low + high) / 2
                if blockStarts[middle] < Int64(element) { low = middle + 1 } else { high = middle }
            }
            return low
        }
        let lower = firstBlock(atOrAfter: elements.lowerBound), upper = firstBlock(atOrAfter: elements.upperBound)
        precondition(blockStarts[lower] == Int64(elements.lowerBound) && blockStarts[upper] == Int64(elements.upperBound),
                     "elements \(elements) are not a whole number of blocks")
        return lower..<upper
    }
}
