import Datasets
import Determinism
import XCTest

/// The sampler with ranks simulated in one process.
final class DistributedSamplerTests: XCTestCase {
    // MARK: - Order

    /// Reference permutations from an independent Python model of `SeededGenerator`
    /// (SplitMix64 seeding with stream words, xoshiro256**, Lemire's bounded integers) and
    /// Durstenfeld's Fisher–Yates, with stream words (0x6C6F636B64617461, epoch).
    func testPermutationMatchesPythonReference() throws {
        let sampler = try DistributedSampler(sampleCount: 10, globalBatchSize: 2, worldSize: 1, rank: 0, seed: 42)
        XCTAssertEqual(sampler.permutation(epoch: 0), [3, 2, 6, 9, 7, 5, 4, 0, 1, 8])
        XCTAssertEqual(sampler.permutation(epoch: 1), [8, 9, 4, 6, 0, 3, 5, 7, 2, 1])
        let otherSeed = try DistributedSampler(sampleCount: 10, globalBatchSize: 2, worldSize: 1, rank: 0, seed: 7)
        XCTAssertEqual(otherSeed.permutation(epoch: 0), [2, 0, 8, 3, 5, 4, 6, 9, 7, 1])
        let larger = try DistributedSampler(sampleCount: 130, globalBatchSize: 13, worldSize: 1, rank: 0, seed: 2024)
        XCTAssertEqual(Array(larger.permutation(epoch: 3).prefix(12)), [58, 50, 129, 128, 12, 80, 68, 98, 39, 87, 49, 70])
    }

    func testPermutationIsAPermutationAndDependsOnSeedAndEpoch() throws {
        let sampler = try DistributedSampler(sampleCount: 997, globalBatchSize: 10, worldSize: 2, rank: 1, seed: 5)
        let epoch0 = sampler.permutation(epoch: 0)
        XCTAssertEqual(epoch0.sorted(), (0..<997).map(Int32.init))
        XCTAssertEqual(epoch0, sampler.permutation(epoch: 0))
        XCTAssertNotEqual(epoch0, sampler.permutation(epoch: 1))
        let otherSeed = try DistributedSampler(sampleCount: 997, globalBatchSize: 10, worldSize: 2, rank: 1, seed: 6)
        XCTAssertNotEqual(epoch0, otherSeed.permutation(epoch: 0))
    }

    func testFillPermutationWritesIntoTheCallersBuffer() throws {
        let sampler = try DistributedSampler(sampleCount: 130, globalBatchSize: 10, worldSize: 1, rank: 0, seed: 3)
        var buffer = [Int32](repeating: -1, count: 130)
        buffer.withUnsafeMutableBufferPointer { sampler.fillPermutation(epoch: 4, into: $0) }
        XCTAssertEqual(buffer, sampler.permutation(epoch: 4))
    }

    // MARK: - Simulated ranks

    /// For world sizes 1–5 and dataset sizes that do not divide: every rank runs the same number
    /// of steps with the same local batch; within each global batch the ranks' slices are disjoint
    /// and together form the global batch; every rank sees the same permutation.
    func testSimulatedRanksShareEveryGlobalBatchEvenly() throws {
        for worldSize in 1...5 {
            for sampleCount in [1001, 997, 130, 5] {
                for localBatch in [1, 3, 8] where localBatch * worldSize <= sampleCount {
                    let globalBatch = localBatch * worldSize
                    let context = "world \(worldSize), samples \(sampleCount), global batch \(globalBatch)"
                    let ranks = try (0..<worldSize).map {
                        try DistributedSampler(
                            sampleCount: sampleCount, globalBatchSize: globalBatch, worldSize: worldSize, rank: $0,
                            seed: 11)
                    }
                    let steps = sampleCount / globalBatch
                    XCTAssertEqual(ranks.map(\.stepsPerEpoch), [Int](repeating: steps, count: worldSize), context)
                    XCTAssertEqual(ranks.map(\.localBatchSize), [Int](repeating: localBatch, count: worldSize), context)
                    XCTAssertEqual(ranks[0].droppedSamplesPerEpoch, sampleCount - steps * globalBatch, context)
                    for epoch in 0..<2 {
                        let permutations = ranks.map { $0.permutation(epoch: epoch) }
                        XCTAssert(permutations.allSatisfy { $0 == permutations[0] }, context)
                        var seen = Set<Int32>()
                        for step in 0..<steps {
                            var union: [Int32] = []
                            for sampler in ranks {
                                let range = sampler.localRange(step: step)
                                XCTAssertEqual(range.count, localBatch, context)
                                union += permutations[sampler.rank][range]
                            }
                            let global = Array(permutations[0][(step * globalBatch)..<((step + 1) * globalBatch)])
                            XCTAssertEqual(union, global, "\(context), epoch \(epoch), step \(step)")
                            XCTAssertEqual(Set(union).count, globalBatch, "slices overlap: \(context)")
                            seen.formUnion(union)
                        }
                        XCTAssertEqual(seen.count, steps * globalBatch, context)
                    }
                }
            }
        }
    }

    /// Global batch k is the same samples in the same order at 1, 2, 3, 4 and 5 ranks.
    func testGlobalBatchesAreIdenticalAcrossWorldSizes() throws {
        let globalBatch = 60  // divisible by 1...5
        func globalBatches(worldSize: Int) throws -> [[Int32]] {
            let ranks = try (0..<worldSize).map {
                try DistributedSampler(
                    sampleCount: 1001, globalBatchSize: globalBatch, worldSize: worldSize, rank: $0, seed: 99)
            }
            let permutation = ranks[0].permutation(epoch: 2)
            return (0..<ranks[0].stepsPerEpoch).map { step in ranks.flatMap { permutation[$0.localRange(step: step)] } }
        }
        let reference = try globalBatches(worldSize: 1)
        XCTAssertEqual(reference.count, 16)  // 1001 / 60
        for worldSize in 2...5 {
            XCTAssertEqual(try globalBatches(worldSize: worldSize), reference, "world size \(worldSize)")
        }
    }

    /// Each epoch drops a different remainder, so over a few epochs every sample is used.
    func testEverySampleIsSeenAcrossEpochs() throws {
        let sampler = try DistributedSampler(sampleCount: 1001, globalBatchSize: 60, worldSize: 3, rank: 0, seed: 1)
        XCTAssertEqual(sampler.droppedSamplesPerEpoch, 41)
        var seen = Set<Int32>()
        for epoch in 0..<10 {
            let permutation = sampler.permutation(epoch: epoch)
            seen.formUnion(permutation[..<(sampler.stepsPerEpoch * 60)])
        }
        XCTAssertEqual(seen.count, 1001)
    }

    func testThousandAndOneSamplesOverThreeRanks() throws {
        let ranks = try (0..<3).map {
            try DistributedSampler(sampleCount: 1001, globalBatchSize: 99, worldSize: 3, rank: $0, seed: 8)
        }
        XCTAssertEqual(ranks.map(\.stepsPerEpoch), [10, 10, 10])  // 1001 = 10 × 99 + 11
        XCTAssertEqual(ranks[0].droppedSamplesPerEpoch, 11)
        XCTAssertEqual(ranks.map { $0.localRange(step: 9) }, [891..<924, 924..<957, 957..<990])
    }

    func testFiveSamplesOverFourRanks() throws {
        let ranks = try (0..<4).map {
            try DistributedSampler(sampleCount: 5, globalBatchSize: 4, worldSize: 4, rank: $0, seed: 0)
        }
        XCTAssertEqual(ranks.map(\.stepsPerEpoch), [1, 1, 1, 1])
        XCTAssertEqual(ranks.map(\.localBatchSize), [1, 1, 1, 1])
        XCTAssertEqual(ranks.map { $0.localRange(step: 0) }, [0..<1, 1..<2, 2..<3, 3..<4])
        XCTAssertEqual(ranks[0].droppedSamplesPerEpoch, 1)
    }

    // MARK: - Refusals

    func testGlobalBatchNotAMultipleOfTheWorldSize() {
        XCTAssertThrowsError(
            try DistributedSampler(sampleCount: 60_000, globalBatchSize: 128, worldSize: 3, rank: 0, seed: 0)
        ) { error in
            let error = error as? SamplerError
            XCTAssertEqual(error, .globalBatchNotDivisible(globalBatchSize: 128, worldSize: 3))
            XCTAssertEqual(
                error?.description,
                "--global-batch 128 does not split evenly over 3 ranks (remainder 2); every rank needs the same local batch")
            XCTAssertEqual(
                error?.hint,
                "use --global-batch 126 or 129 (multiples of 3), or run on a number of ranks that divides 128, such as 2 or 4")
            XCTAssertEqual(error?.exitStatus, .usage)
        }
    }

    func testGlobalBatchSmallerThanTheWorldSize() {
        XCTAssertThrowsError(
            try DistributedSampler(sampleCount: 100, globalBatchSize: 2, worldSize: 4, rank: 0, seed: 0)
        ) { error in
            XCTAssertEqual(error as? SamplerError, .globalBatchNotDivisible(globalBatchSize: 2, worldSize: 4))
            XCTAssertEqual(
                (error as? SamplerError)?.hint,
                "use --global-batch 4 (multiples of 4), or run on a number of ranks that divides 2, such as 2")
        }
    }

    func testNonPositiveGlobalBatch() {
        for batch in [0, -8] {
            XCTAssertThrowsError(
                try DistributedSampler(sampleCount: 100, globalBatchSize: batch, worldSize: 2, rank: 0, seed: 0)
            ) { error in
                XCTAssertEqual(error as? SamplerError, .invalidGlobalBatch(globalBatchSize: batch))
                XCTAssert((error as? SamplerError)?.description.hasPrefix("--global-batch \(batch) ") == true)
            }
        }
    }

    func testFewerSamplesThanOneGlobalBatch() {
        XCTAssertThrowsError(
            try DistributedSampler(sampleCount: 100, globalBatchSize: 128, worldSize: 2, rank: 1, seed: 0)
        ) { error in
            let error = error as? SamplerError
            XCTAssertEqual(error, .tooFewSamples(sampleCount: 100, globalBatchSize: 128, worldSize: 2))
            XCTAssertEqual(
                error?.description,
                "--global-batch 128 is larger than the 100 training samples (see --limit-train): "
                    + "not one full global batch per epoch, so zero steps")
            XCTAssertEqual(
                error?.hint, "use --global-batch 100 or less (a multiple of 2), or raise --limit-train to at least 128")
        }
        // One rank: every batch size is a multiple of 1, so the hint does not say it.
        XCTAssertEqual(
            SamplerError.tooFewSamples(sampleCount: 100, globalBatchSize: 128, worldSize: 1).hint,
            "use --global-batch 100 or less, or raise --limit-train to at least 128")
    }

    func testFewerSamplesThanRanks() {
        XCTAssertThrowsError(
            try DistributedSampler(sampleCount: 3, globalBatchSize: 4, worldSize: 4, rank: 0, seed: 0)
        ) { error in
            XCTAssertEqual(error as? SamplerError, .tooFewSamples(sampleCount: 3, globalBatchSize: 4, worldSize: 4))
            XCTAssertEqual(
                (error as? SamplerError)?.hint,
                "the 3 training samples are fewer than the 4 ranks: raise --limit-train to at least 4, or run on fewer ranks")
        }
    }

    // MARK: - Micro-batches (world-size-invariant mode)

    /// Global batch 48 in micro-batches of 4 at world sizes 1…12: each rank's range is a whole
    /// number of micro-batches, the ranks' ranges tile the global batch in rank order, and their
    /// sizes differ by at most one micro-batch (the first ranks take the extra ones).
    func testMicroBatchesAreDealtInContiguousBlocks() throws {
        for worldSize in 1...12 {
            let samplers = try (0..<worldSize).map {
                try DistributedSampler(
                    sampleCount: 1_000, globalBatchSize: 48, worldSize: worldSize, rank: $0, seed: 3, microBatchSize: 4)
            }
            for step in [0, 5, 19] {
                let ranges = samplers.map { $0.localRange(step: step) }
                XCTAssertEqual(ranges.first?.lowerBound, step * 48, "world size \(worldSize)")
                XCTAssertEqual(ranges.last?.upperBound, (step + 1) * 48, "world size \(worldSize)")
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                let sizes = ranges.map(\.count)
                XCTAssertTrue(sizes.allSatisfy { $0 % 4 == 0 && $0 > 0 }, "\(sizes)")
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 4, "\(sizes)")
                XCTAssertEqual(sizes, sizes.sorted(by: >), "the first ranks take the extra micro-batches: \(sizes)")
            }
            XCTAssertEqual(samplers[0].microBatchCount, 12)
            XCTAssertEqual(samplers.map(\.localBatchSize).reduce(0, +), 48)
        }
        // 5 ranks: 12 micro-batches as 3, 3, 2, 2, 2.
        let five = try (0..<5).map {
            try DistributedSampler(sampleCount: 100, globalBatchSize: 48, worldSize: 5, rank: $0, seed: 0, microBatchSize: 4)
        }
        XCTAssertEqual(five.map(\.localMicroBatches), [0..<3, 3..<6, 6..<8, 8..<10, 10..<12])
        XCTAssertEqual(five[2].localRange(step: 1), (48 + 24)..<(48 + 32))
    }

    func testMicroBatchSettingsThatCannotWorkAreRefused() {
        XCTAssertThrowsError(
            try DistributedSampler(sampleCount: 100, globalBatchSize: 48, worldSize: 2, rank: 0, seed: 0, microBatchSize: 5)
        ) { error in
            XCTAssertEqual(error as? SamplerError, .microBatchNotDivisor(globalBatchSize: 48, microBatchSize: 5))
            XCTAssertEqual(
                (error as? SamplerError)?.description,
                "--micro-batch 5 does not divide --global-batch 48 (remainder 3): the global batch is cut into whole micro-batches")
            XCTAssertEqual((error as? SamplerError)?.hint, "use --micro-batch 4 or 6 (divisors of 48)")
        }
        XCTAssertThrowsError(
            try DistributedSampler(sampleCount: 100, globalBatchSize: 48, worldSize: 8, rank: 0, seed: 0, microBatchSize: 8)
        ) { error in
            XCTAssertEqual(error as? SamplerError, .moreRanksThanMicroBatches(globalBatchSize: 48, microBatchSize: 8, worldSize: 8))
            XCTAssertEqual(
                (error as? SamplerError)?.description,
                "8 ranks but only 6 micro-batches per step (--global-batch 48 / --micro-batch 8): every rank needs at least one")
            XCTAssertEqual((error as? SamplerError)?.hint, "use --micro-batch 6 or smaller, or run on at most 6 ranks")
        }
        // A global batch that does not divide by the world size is fine with micro-batches.
        XCTAssertNoThrow(
            try DistributedSampler(sampleCount: 100, globalBatchSize: 48, worldSize: 5, rank: 4, seed: 0, microBatchSize: 4))
    }
}
