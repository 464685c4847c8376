import Determinism

/// The data order of synchronous data-parallel training: which samples each rank uses at each step.
///
/// **Order.** Every epoch has its own permutation of `0..<sampleCount`, a pure function of
/// `(seed, epoch)`: the identity shuffled by Fisher–Yates (Durstenfeld's form: for `i` from
/// `sampleCount − 1` down to 1, swap `i` with `j = nextIndex(below: i + 1)`) driven by
/// `SeededGenerator(seed: seed, stream: streamTag, epoch)`. Every rank computes the same
/// permutation by construction; nothing is communicated.
///
/// **Batches.** Global batch `k` of an epoch is `permutation[k·B ..< (k+1)·B]` (`B` =
/// `globalBatchSize`); rank `r` takes the consecutive slice `k·B + r·b ..< k·B + (r+1)·b`, with
/// local batch `b = B / worldSize`. So global batch `k` holds the same samples in the same order
/// whatever the world size: runs on 1, 2 or 4 ranks average the gradients of the same samples.
///
/// **Equal work.** `stepsPerEpoch = sampleCount / B` (integer division) on every rank. The last
/// partial global batch of each epoch (`sampleCount mod B` samples, `droppedSamplesPerEpoch`) is
/// dropped, as PyTorch's `DistributedSampler` with `drop_last=True`; because the permutation
/// changes every epoch, a different set is dropped each time and every sample is still seen.
/// A global batch that does not split evenly over the ranks, or a dataset smaller than one global
/// batch (zero steps), is refused up front with a `SamplerError`, so no rank ever waits in a
/// collective for a peer that has run out of data.
///
/// **Micro-batches** (`--world-size-invariant --micro-batch M`). Global batch `k` is cut into
/// `B / M` micro-batches in sample order, micro-batch `j` being `permutation[k·B + j·M ..< k·B +
/// (j+1)·M]`, and the micro-batches are dealt to the ranks in contiguous blocks whose sizes differ by
/// at most one (the first `(B/M) mod worldSize` ranks take one more). Any world size from 1 to
/// `B / M` works, including one that does not divide `B / M`: the ranks' local batches then differ
/// by `M` samples (the sums are exact, so nothing depends on which rank holds which micro-batch).
///
/// No allocation per step: `fillPermutation(epoch:into:)` writes into a caller-owned buffer once
/// per epoch, and `localRange(step:)` is arithmetic.
public struct DistributedSampler: Sendable, Equatable {
    /// The first stream word of the data-order generator (ASCII "lockdata"), so the data order
    /// never shares a random stream with other uses of the same seed (such as weight initialisation).
    public static let streamTag: UInt64 = 0x6C6F_636B_6461_7461

    /// Samples in the dataset (after `--limit-train`).
    public let sampleCount: Int
    /// Samples per step over all ranks (`--global-batch`).
    public let globalBatchSize: Int
    public let worldSize: Int
    public let rank: Int
    public let seed: UInt64
    /// Samples per micro-batch (`--micro-batch`), or nil when the global batch is split evenly
    /// over the ranks.
    public let microBatchSize: Int?

    /// Samples per step on this rank: `globalBatchSize / worldSize`, or with micro-batches this
    /// rank's micro-batches × `microBatchSize`.
    public var localBatchSize: Int { localMicroBatches.count * (microBatchSize ?? globalBatchSize / worldSize) }
    /// Micro-batches per global batch (one per rank without micro-batches).
    public var microBatchCount: Int { microBatchSize.map { globalBatchSize / $0 } ?? worldSize }
    /// The micro-batches of each global batch this rank computes (its rank without micro-batches).
    public var localMicroBatches: Range<Int> {
        guard microBatchSize != nil else { return rank..<(rank + 1) }
        let count = microBatchCount, base = count / worldSize, extra = count % worldSize
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }
    /// Steps per epoch, the same on every rank: `sampleCount / globalBatchSize` (rounded down).
    public var stepsPerEpoch: Int { sampleCount / globalBatchSize }
    /// Samples left out of each epoch's last, partial global batch: `sampleCount mod globalBatchSize`.
    public var droppedSamplesPerEpoch: Int { sampleCount % globalBatchSize }

    /// - Parameters:
    ///   - sampleCount: samples in the training set, at most `Int32.max`.
    ///   - globalBatchSize: samples per step over all ranks; a positive multiple of `worldSize`
    ///     and at most `sampleCount`.
    ///   - worldSize, rank: the communicator's; `rank` in `0..<worldSize` (preconditions).
    ///   - seed: `--seed`.
    ///   - microBatchSize: `--micro-batch`: deal micro-batches of this many samples instead of
    ///     splitting the global batch evenly (then `globalBatchSize` need not divide by `worldSize`).
    /// - Throws: `SamplerError.invalidGlobalBatch` (≤ 0), `.globalBatchNotDivisible`,
    ///   `.microBatchNotDivisor`, `.moreRanksThanMicroBatches`, `.tooFewSamples` (zero steps per epoch).
    public init(
        sampleCount: Int, globalBatchSize: Int, worldSize: Int, rank: Int, seed: UInt64, microBatchSize: Int? = nil
    ) throws {
        precondition(worldSize > 0 && (0..<worldSize).contains(rank), "rank \(rank) of world size \(worldSize)")
        precondition(
            (0...Int(Int32.max)).contains(sampleCount), "sample count \(sampleCount) does not fit Int32 indices")
        guard globalBatchSize > 0 else { throw SamplerError.invalidGlobalBatch(globalBatchSize: globalBatchSize) }
        if let microBatchSize {
            guard microBatchSize > 0, globalBatchSize % microBatchSize == 0 else {
                throw SamplerError.microBatchNotDivisor(globalBatchSize: globalBatchSize, microBatchSize: microBatchSize)
            }
            guard worldSize <= globalBatchSize / microBatchSize else {
                throw SamplerError.moreRanksThanMicroBatches(
                    globalBatchSize: globalBatchSize, microBatchSize: microBatchSize, worldSize: worldSize)
            }
        } else if globalBatchSize % worldSize != 0 {
            throw SamplerError.globalBatchNotDivisible(globalBatchSize: globalBatchSize, worldSize: worldSize)
        }
        guard sampleCount >= globalBatchSize else {
            throw SamplerError.tooFewSamples(
                sampleCount: sampleCount, globalBatchSize: globalBatchSize, worldSize: worldSize)
        }
        self.sampleCount = sampleCount
        self.globalBatchSize = globalBatchSize
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
        self.microBatchSize = microBatchSize
    }

    /// Writes epoch `epoch`'s permutation of `0..<sampleCount` into `permutation` (exactly
    /// `sampleCount` elements). The same on every rank; different for each epoch and seed.
    public func fillPermutation(epoch: Int, into permutation: UnsafeMutableBufferPointer<Int32>) {
        precondition(epoch >= 0, "epoch \(epoch) must be ≥ 0")
        precondition(
            permutation.count == sampleCount, "permutation buffer holds \(permutation.count), needs \(sampleCount)")
        for index in 0..<sampleCount { permutation[index] = Int32(index) }
        var generator = SeededGenerator(seed: seed, stream: Self.streamTag, UInt64(epoch))
        var i = sampleCount - 1
        while i > 0 {
            permutation.swapAt(i, generator.nextIndex(below: i + 1))
            i -= 1
        }
    }

    /// Epoch `epoch`'s permutation as a new array (allocates; see `fillPermutation(epoch:into:)`).
    public func permutation(epoch: Int) -> [Int32] {
        [Int32](unsafeUninitializedCapacity: sampleCount) { buffer, initializedCount in
            fillPermutation(epoch: epoch, into: buffer)
            initializedCount = sampleCount
        }
    }

    /// The positions in the epoch's permutation that this rank uses at `step` (0-based within the
    /// epoch): `step·B + rank·b ..< step·B + (rank+1)·b`, or with micro-batches those of this
    /// rank's micro-batches (`localMicroBatches`, `microBatchSize` positions each, in order).
    public func localRange(step: Int) -> Range<Int> {
        precondition((0..<stepsPerEpoch).contains(step), "step \(step) not in 0..<\(stepsPerEpoch)")
        let micro = localMicroBatches, size = microBatchSize ?? localBatchSize
        let start = step * globalBatchSize + micro.lowerBound * size
        return start..<(start + micro.count * size)
    }
}
