import CVectorKernels

/// The exact, order-independent sum of `--world-size-invariant` training: the sum of `termCount`
/// float vectors (one per micro-batch of the global batch, spread over the ranks in any way) that
/// is the same bits whichever rank holds which term and however many ranks there are.
///
/// **Method** (block floating point over 64-bit integers; the functions are in
/// `CVectorKernels/fixed_point.c`):
/// 1. The vector is cut into blocks of at most `blockElementCount` elements (never across a
///    caller's `boundaries`). Each rank finds the largest biased exponent `e` in each block over
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
/// Use per step: `beginStep()`, `add(_:)` once per local term, then `finish(into:)` (collective).
/// The terms before the last are copied into a stash allocated once (`(localTermCount − 1) ×
/// count` floats); the last is read in place. Nothing allocates in a step.
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

    /// Block `b` is elements `blockStarts[b] ..< blockStarts[b + 1]`.
    private let blockStarts: UnsafeMutableBufferPointer<Int64>
    /// Per block: the largest exponent code seen (local, then agreed).
    private let codes: UnsafeMutableBufferPointer<Int64>
    private let sums: UnsafeMutableBufferPointer<Int64>
    /// Copies of the terms `0 ..< localTermCount − 1`, `count` floats each.
    private let stash: UnsafeMutableBufferPointer<Float>
    private let slots: UnsafeMutableBufferPointer<UnsafePointer<Float>?>
    private var added = 0

    public var blockCount: Int { blockStarts.count - 1 }
    /// Bytes this sum allocates (stash, integer sums, codes).
    public var byteCount: Int { stash.count * 4 + sums.count * 8 + codes.count * 8 + blockStarts.count * 8 }

    /// - Parameters:
    ///   - count: elements per term.
    ///   - boundaries: indices in `1..<count` where a block must end (for the gradients, the start
    ///     of the loss slot and of the stop-request slots, so that their exponents are their own).
    ///   - termCount: terms over every rank (micro-batches per global batch), ≥ 1.
    ///   - localTermCount: terms this rank adds, `1...termCount`.
    public init(count: Int, boundaries: [Int] = [], termCount: Int, localTermCount: Int) {
        precondition(count > 0 && termCount >= 1 && (1...termCount).contains(localTermCount),
                     "FixedPointSum(count: \(count), termCount: \(termCount), localTermCount: \(localTermCount))")
        self.count = count
        self.termCount = termCount
        self.localTermCount = localTermCount
        carryBits = Int32(Int.bitWidth - (termCount - 1).leadingZeroBitCount)
        var starts: [Int64] = []
        var lower = 0
        for upper in (boundaries.filter { $0 > 0 && $0 < count }.sorted() + [count]) where upper > lower {
            var start = lower
            while start < upper {
                starts.append(Int64(start))
                start = min(upper, start + Self.blockElementCount)
            }
            lower = upper
        }
        starts.append(Int64(count))
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
    }

    deinit {
        blockStarts.deallocate()
        codes.deallocate()
        sums.deallocate()
        stash.deallocate()
        slots.deallocate()
    }

    /// Starts a new sum.
    public func beginStep() {
        for b in 0..<codes.count { codes[b] = 0 }
        added = 0
    }

    /// Adds this rank's next term (`count` floats). The last term (`localTermCount`-th) is read in
    /// place by `finish`: keep it untouched until then; earlier ones are copied.
    public func add(_ values: UnsafeBufferPointer<Float>) {
        precondition(values.count == count && added < localTermCount, "term \(added + 1) of \(localTermCount), \(values.count) of \(count) elements")
        let last = added == localTermCount - 1
        lockstep_fixed_exponent_codes(
            values.baseAddress!, last ? nil : stash.baseAddress! + added * count, blockStarts.baseAddress!, blockCount,
            codes.baseAddress!)
        if last { slots[added] = values.baseAddress! }
        added += 1
    }

    /// Sums every rank's terms into `result` (`count` floats; may be the last term's own buffer).
    /// Collective: two allreduces (the blocks' exponents, `MPI_MAX`; the integers, `MPI_SUM`).
    /// Returns false when some term held a NaN or infinity or the sum overflowed float: the same on
    /// every rank.
    public func finish(into result: UnsafeMutableBufferPointer<Float>, communicator: Communicator) throws -> Bool {
        precondition(added == localTermCount && result.count == count, "finish after \(added) of \(localTermCount) terms")
        try communicator.allreduce(codes, operation: .max)
        lockstep_fixed_sum(
            UnsafePointer(slots.baseAddress!), localTermCount, blockStarts.baseAddress!, blockCount, codes.baseAddress!,
            carryBits, sums.baseAddress!)
        try communicator.allreduce(sums, operation: .sum)
        let nonFinite = lockstep_fixed_to_float(
            sums.baseAddress!, blockStarts.baseAddress!, blockCount, codes.baseAddress!, carryBits, result.baseAddress!)
        return nonFinite == 0
    }
}
