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

    /// Samples per step on each rank: `globalBatchSize / worldSize`.
    public var localBatchSize: Int { globalBatchSize / worldSize }
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
    /// - Throws: `SamplerError.invalidGlobalBatch` (≤ 0), `.globalBatchNotDivisible`,
    ///   `.tooFewSamples` (zero steps per epoch).
    public init(sampleCount: Int, globalBatchSize: Int, worldSize: Int, rank: Int, seed: UInt64) throws {
        precondition(worldSize > 0 && (0..<worldSize).contains(rank), "rank \(rank) of world size \(worldSize)")
        precondition(
            (0...Int(Int32.max)).contains(sampleCount), "sample count \(sampleCount) does not fit Int32 indices")
        guard globalBatchSize > 0 else { throw SamplerError.invalidGlobalBatch(globalBatchSize: globalBatchSize) }
        guard globalBatchSize % worldSize == 0 else {
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
    /// epoch): `step·B + rank·b ..< step·B + (rank+1)·b`.
    public func localRange(step: Int) -> Range<Int> {
        precondition((0..<stepsPerEpoch).contains(step), "step \(step) not in 0..<\(stepsPerEpoch)")
        let start = step * globalBatchSize + rank * localBatchSize
        return start..<(start + localBatchSize)
    }
}
