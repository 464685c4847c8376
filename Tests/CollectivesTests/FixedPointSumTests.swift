import CVectorKernels
import Collectives
import Foundation
import XCTest

/// The exact sum of the world-size-invariant mode: the same bits for every grouping of the terms
/// over ranks and every order, within the stated bound of the exact real sum, every finite float
/// accepted, non-finite terms reported alike on every rank, and the AVX-512 path bitwise equal to
/// the portable one.
final class FixedPointSumTests: XCTestCase {
    /// SplitMix64: the terms are reproducible without the Determinism module.
    private struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// `termCount` vectors of `count` floats with random signs, significands and binary exponents
    /// in `exponents` (so a float sum depends on its order), a few exact zeros among them.
    private static func terms(count: Int, termCount: Int, exponents: ClosedRange<Int>, seed: UInt64 = 1) -> [[Float]] {
        var generator = Generator(state: seed)
        return (0..<termCount).map { _ in
            (0..<count).map { _ in
                if generator.below(50) == 0 { return 0 }
                let significand = 1 + Float(generator.below(1 << 23)) / Float(1 << 23)
                let exponent = exponents.lowerBound + generator.below(exponents.count)
                let value = Float(sign: .plus, exponent: exponent, significand: significand)
                return generator.below(2) == 0 ? value : -value
            }
        }
    }

    /// How the harness hands the terms to the sum.
    struct Feeding {
        /// Elements per tile (nil: the whole vector as one tile).
        var tile: Int?
        /// Every term but the last written whole first (terms computed one by one).
        var stashed = false
        /// Agree each tile's codes from bounds before it (`noteBounds` per term, element by
        /// element): `bound(term values, i)`; nil: from the tile's exponents.
        var bound: (@Sendable ([Float], Int) -> Double)?

        static let whole = Feeding()
    }

    /// Sums `terms` at `worldSize` in-process ranks: term `t` goes to rank `owner(t)`, and each
    /// rank adds its terms in the order `order` lists them, tile by tile from the end of the vector
    /// down (`feeding`). Returns rank 0's result and finiteness, after checking that every rank got
    /// the same bits.
    private func fixedSum(
        _ terms: [[Float]], worldSize: Int, boundaries: [Int] = [], sections: [Range<Int>]? = nil, order: [Int]? = nil,
        feeding: Feeding = .whole, width: Int? = nil, owner: @escaping @Sendable (Int) -> Int = { $0 },
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> (values: [Float], finite: Bool) {
        let order = order ?? Array(terms.indices)
        let count = terms[0].count, termCount = terms.count
        let tileSize = feeding.tile ?? count
        let tiles = stride(from: count, to: 0, by: -tileSize).map { max(0, $0 - tileSize)..<$0 }
        let sumWidth = sumWidth
        let results = InProcessGroup.run(worldSize: worldSize) { communicator -> ([Float], Bool) in
            let mine = order.filter { owner($0) % worldSize == communicator.rank }
            precondition(!mine.isEmpty, "rank \(communicator.rank) holds no term")
            let sum = FixedPointSum(
                count: count, boundaries: boundaries + tiles.map(\.lowerBound), sections: sections, termCount: termCount,
                localTermCount: mine.count, stashedTermCount: feeding.stashed ? mine.count - 1 : 0, tileCapacity: tileSize,
                width: width ?? sumWidth, communicator: communicator)
            var result = [Float](repeating: .nan, count: count)
            return try result.withUnsafeMutableBufferPointer { result in
                sum.beginStep(into: result)
                let stashed = feeding.stashed ? mine.count - 1 : 0
                for (local, term) in mine.prefix(stashed).enumerated() {
                    let target = sum.target(term: local, elements: 0..<count)
                    for i in 0..<count { target[i] = terms[term][i] }
                }
                for tile in tiles {
                    if let bound = feeding.bound {
                        for term in mine {
                            let bounds = tile.map { bound(terms[term], $0) }
                            bounds.withUnsafeBufferPointer {
                                sum.noteBounds(elements: tile, rowLength: 1, rowBounds: $0.baseAddress!)
                            }
                        }
                        try sum.agreeBounds(elements: tile)
                    }
                    for (local, term) in mine.enumerated() where local >= stashed {
                        let target = sum.target(term: local, elements: tile)
                        for i in tile { target[i] = terms[term][i] }
                    }
                    try sum.tileComputed(tile)
                    try sum.progress()
                }
                let finite = try sum.finish()
                return (Array(result), finite)
            }
        }
        let values = try results.map { try $0.get() }
        for (rank, value) in values.enumerated() {
            XCTAssertEqual(bits(value.0), bits(values[0].0), "rank \(rank) vs rank 0 at world size \(worldSize)", file: file, line: line)
            XCTAssertEqual(value.1, values[0].1, "finiteness on rank \(rank)", file: file, line: line)
        }
        return values[0]
    }

    private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// The width `fixedSum` uses when not given one (nil: `FixedPointSum.width(termCount:)`).
    private var sumWidth: Int?

    /// Runs `body` once with 32-bit and once with 64-bit sums.
    private func forEachWidth(_ body: () throws -> Void) rethrows {
        defer { sumWidth = nil }
        for width in [32, 64] {
            sumWidth = width
            try body()
        }
    }

    /// Element `i` of the terms' exact real sum, accumulated in double-double (exact to about
    /// 2⁻¹⁰⁰ relative: far below the bounds checked against it).
    private static func exactSum(_ terms: [[Float]], _ i: Int) -> Double {
        var high = 0.0, low = 0.0
        for term in terms {
            let s = high + Double(term[i])
            let bp = s - high
            low += (high - (s - bp)) + (Double(term[i]) - bp)
            high = s
        }
        return high + low
    }

    // MARK: - Independent of grouping and order

    func testTheSumIsTheSameBitsForEveryGroupingAndOrder() throws {
        // 12 terms with binary exponents from −40 to 40; two boundaries; blocks of 1,024.
        let terms = Self.terms(count: 2_500, termCount: 12, exponents: -40...40)
        let boundaries = [2_000, 2_001]
        let wide = try fixedSum(terms, worldSize: 1, boundaries: boundaries, width: 64)
        XCTAssertNotEqual(bits(wide.values), bits(try fixedSum(terms, worldSize: 1, boundaries: boundaries, width: 32).values),
                          "32-bit sums round differently from 64-bit ones: both widths are tested")
        for width in [32, 64] {
            let reference = try fixedSum(terms, worldSize: 1, boundaries: boundaries, width: width)
            XCTAssertTrue(reference.finite)
            let tiledReference = try fixedSum(
                terms, worldSize: 1, boundaries: boundaries + Array(stride(from: 500, to: 2_500, by: 500)), width: width)
            let loose: @Sendable ([Float], Int) -> Double = { values, i in 3 * Double(values[i].magnitude) }
            let boundedReference = try fixedSum(
                terms, worldSize: 1, boundaries: boundaries, feeding: .init(tile: 500, bound: loose), width: width)
            XCTAssertNotEqual(bits(boundedReference.values), bits(tiledReference.values), "coarser scales round differently")
            for worldSize in [2, 3, 4, 5, 6, 12] {
                let context = "\(width)-bit sums over \(worldSize) ranks"
                // Contiguous blocks of terms, as the sampler deals micro-batches.
                let blocks = try fixedSum(terms, worldSize: worldSize, boundaries: boundaries, width: width) { $0 * worldSize / 12 }
                XCTAssertEqual(bits(blocks.values), bits(reference.values), "contiguous blocks, \(context)")
                // Round-robin, each rank adding its terms backwards.
                let scattered = try fixedSum(
                    terms, worldSize: worldSize, boundaries: boundaries, order: Array((0..<12).reversed()), width: width,
                    owner: { $0 })
                XCTAssertEqual(bits(scattered.values), bits(reference.values), "round-robin, reversed, \(context)")
                // Reduced section by section, as during backward: the same bits.
                let sectioned = try fixedSum(
                    terms, worldSize: worldSize, boundaries: boundaries, sections: [2_000..<2_500, 700..<2_000, 0..<700],
                    width: width)
                XCTAssertEqual(bits(sectioned.values), bits(reference.values), "three sections, \(context)")
                // In tiles of 500 (blocks cut at their bounds too), stashed or not: the same bits as
                // the whole vector cut at the same places.
                for stashed in [false, true] {
                    let tiled = try fixedSum(
                        terms, worldSize: worldSize, boundaries: boundaries, feeding: .init(tile: 500, stashed: stashed),
                        width: width) { $0 * worldSize / 12 }
                    XCTAssertEqual(bits(tiled.values), bits(tiledReference.values), "tiles, stashed \(stashed), \(context)")
                }
                // With scales agreed from bounds (here 3 × each element's magnitude): the same bits at
                // every world size too.
                let bounded = try fixedSum(
                    terms, worldSize: worldSize, boundaries: boundaries, feeding: .init(tile: 500, bound: loose),
                    width: width) { $0 * worldSize / 12 }
                XCTAssertEqual(bits(bounded.values), bits(boundedReference.values), "bounds, \(context)")
            }
        }
        // The data is order-sensitive: Float sums of the same terms in two orders differ, so the
        // equalities above are not those of any sum.
        let forward = (0..<2_500).map { i in terms.reduce(Float(0)) { $0 + $1[i] } }
        let backward = (0..<2_500).map { i in terms.reversed().reduce(Float(0)) { $0 + $1[i] } }
        XCTAssertGreaterThan(zip(forward, backward).filter { $0 != $1 }.count, 100, "float sums depend on the order")
    }

    // MARK: - The error bound

    /// The half quantum of a block with code `code` (a term's largest rounding error): `2^(code + c − 189)`
    /// for 64-bit sums, `2^(code + c − 157)` for 32 (FixedPointSum's documentation).
    private static func halfQuantum(code: Int, termCount: Int, width: Int) -> Double {
        let carry = Int.bitWidth - (termCount - 1).leadingZeroBitCount
        return pow(2, Double(code + carry - 127 - (width - 2)))
    }

    /// Against the exact real sum (double-double accumulation: exact to about 2⁻¹⁰⁰ relative, far
    /// below the bound), every element is within `termCount · halfQuantum + ulp(result)/2`, `e` the
    /// block's largest biased exponent and `c` the carry bits, for both widths.
    func testTheSumIsWithinTheStatedBoundOfTheExactSum() throws {
        for width in [32, 64] {
            for (termCount, exponents) in [(12, -40...40), (3, -126...120), (64, -5...5), (1, -60...60)] {
                let count = 3_000
                let terms = Self.terms(count: count, termCount: termCount, exponents: exponents, seed: UInt64(termCount))
                let result = try fixedSum(terms, worldSize: min(termCount, 4), width: width, owner: { $0 })
                var worstRatio = 0.0
                for block in stride(from: 0, to: count, by: FixedPointSum.blockElementCount) {
                    let elements = block..<min(count, block + FixedPointSum.blockElementCount)
                    let code = terms.flatMap { $0[elements] }.map { Int($0.bitPattern >> 23 & 0xFF) }.max()!
                    let half = Self.halfQuantum(code: code, termCount: termCount, width: width)
                    for i in elements {
                        let exact = Self.exactSum(terms, i)
                        let value = result.values[i]
                        let bound = Double(termCount) * half + Double(value.ulp) / 2
                        let error = abs(Double(value) - exact)
                        XCTAssertLessThanOrEqual(error, bound, "element \(i): \(value) vs exact \(exact), \(termCount) terms, \(width) bits")
                        worstRatio = max(worstRatio, error / bound)
                    }
                }
                // Elements far below their block's largest are rounded even for one term: the check
                // is not vacuous (many terms' roundings partly cancel: a quarter of the bound).
                XCTAssertGreaterThan(worstRatio, 0.25, "\(termCount) terms, \(width) bits: rounding errors reach the bound's order")
            }
        }
    }

    /// With scales from bounds (each element's magnitude times 2⁸, so the agreed code is about 9
    /// binades above the block's largest), every element is within the same formula with the
    /// agreed code `E`, for both widths.
    func testTheSumFromBoundsIsWithinTheStatedBoundOfTheExactSum() throws {
        let termCount = 12, count = 3_000
        let terms = Self.terms(count: count, termCount: termCount, exponents: -30...30, seed: 4)
        let loose: @Sendable ([Float], Int) -> Double = { values, i in 0x1p8 * Double(values[i].magnitude) }
        for width in [32, 64] {
            let result = try fixedSum(
                terms, worldSize: 4, feeding: .init(tile: 1_000, bound: loose), width: width, owner: { $0 / 3 })
            XCTAssertTrue(result.finite)
            var worstRatio = 0.0
            for block in stride(from: 0, to: count, by: 1_000) {  // tiles of 1,000 cut the blocks there
                let elements = block..<(block + 1_000)
                let largestBound = terms.flatMap { term in elements.map { loose(term, $0) } }.max()!
                let code = Int(floor(log2(2 * largestBound))) + 127
                let half = Self.halfQuantum(code: code, termCount: termCount, width: width)
                for i in elements {
                    let exact = Self.exactSum(terms, i), value = result.values[i]
                    let bound = Double(termCount) * half + Double(value.ulp) / 2
                    let error = abs(Double(value) - exact)
                    XCTAssertLessThanOrEqual(error, bound, "element \(i): \(value) vs exact \(exact), \(width) bits")
                    worstRatio = max(worstRatio, error / bound)
                }
            }
            XCTAssertGreaterThan(worstRatio, 0.25, "\(width) bits: rounding errors reach the bound's order")
        }
    }

    func testTheCodeOfABound() {
        XCTAssertEqual(FixedPointSum.code(bounding: 0), 0)
        XCTAssertEqual(FixedPointSum.code(bounding: 0x1p-128), 0, "2·bound below the smallest normal float")
        XCTAssertEqual(FixedPointSum.code(bounding: 0x1p-127), 1)
        XCTAssertEqual(FixedPointSum.code(bounding: 1), 128, "2 = 2¹: biased 128, one binade above 1's 127")
        XCTAssertEqual(FixedPointSum.code(bounding: 1.5), 128)
        XCTAssertEqual(FixedPointSum.code(bounding: -3), 129, "the magnitude counts")
        XCTAssertEqual(FixedPointSum.code(bounding: 0x1.fp126), 254, "just inside float's range")
        XCTAssertEqual(FixedPointSum.code(bounding: 0x1p127), 255, "beyond the largest float: not finite")
        XCTAssertEqual(FixedPointSum.code(bounding: .infinity), 255)
        XCTAssertEqual(FixedPointSum.code(bounding: .nan), 256)
        // The headroom: every float up to the bound, even one binade above it, is below 2^(code − 126).
        for bound in [1.0, 3.0, 0x1.8p-100, 0x1.fffffep100] {
            let code = FixedPointSum.code(bounding: bound)
            XCTAssertLessThan(bound * 1.999, pow(2, Double(code - 126)), "\(bound)")
        }
    }

    // MARK: - The edges of the range

    func testEveryFiniteFloatFitsAndOnlyFloatOverflowIsNotFinite() throws {
        try forEachWidth(everyFiniteFloatFitsAndOnlyFloatOverflowIsNotFinite)
    }

    private func everyFiniteFloatFitsAndOnlyFloatOverflowIsNotFinite() throws {
        let largest = Float.greatestFiniteMagnitude, smallest = Float.leastNormalMagnitude
        // The largest floats: half + half is exactly the largest, with no integer overflow.
        let half = try fixedSum([[largest / 2, -largest], [largest / 2, largest]], worldSize: 2)
        XCTAssertTrue(half.finite)
        XCTAssertEqual(half.values, [largest, 0])
        // The smallest normal floats sum exactly, in their own block.
        let tiny = try fixedSum([[smallest, -smallest * 3], [smallest, smallest]], worldSize: 2)
        XCTAssertEqual(tiny.values, [2 * smallest, -2 * smallest])
        // Subnormal terms count as zero (as under flush-to-zero), and so does a subnormal result.
        let subnormal = try fixedSum([[smallest / 4, smallest * 1.5], [0, -smallest]], worldSize: 2)
        XCTAssertTrue(subnormal.finite)
        XCTAssertEqual(subnormal.values, [0, 0])
        // Beyond the largest float the sum is infinite, and reported so on every rank.
        let overflow = try fixedSum([[largest, 1], [largest, 2], [largest, 3]], worldSize: 3, boundaries: [1])
        XCTAssertFalse(overflow.finite)
        XCTAssertEqual(overflow.values, [.infinity, 6])
        // An element 2⁻⁶⁰ times its block's largest keeps no digits with 12 terms: documented.
        let spread = try fixedSum(Array(repeating: [1, 0x1p-70], count: 12), worldSize: 3)
        XCTAssertEqual(spread.values, [12, 0])
        // In a block of its own (a boundary) it is exact.
        let separated = try fixedSum(Array(repeating: [1, 0x1p-70], count: 12), worldSize: 3, boundaries: [1])
        XCTAssertEqual(separated.values, [12, 12 * 0x1p-70])
    }

    func testNonFiniteTermsMarkTheirBlockOnEveryRank() throws {
        try forEachWidth(nonFiniteTermsMarkTheirBlockOnEveryRank)
    }

    private func nonFiniteTermsMarkTheirBlockOnEveryRank() throws {
        let count = 2_100
        var terms = Self.terms(count: count, termCount: 4, exponents: -8...8)
        let clean = try fixedSum(terms, worldSize: 2)
        terms[3][1_500] = .nan
        terms[1][5] = .infinity
        let result = try fixedSum(terms, worldSize: 2)
        XCTAssertFalse(result.finite)
        XCTAssertTrue(result.values[0..<1_024].allSatisfy { $0 == .infinity }, "the block with an infinity")
        XCTAssertTrue(result.values[1_024..<2_048].allSatisfy(\.isNaN), "the block with a NaN")
        XCTAssertEqual(bits(Array(result.values[2_048...])), bits(Array(clean.values[2_048...])), "the clean block")
    }

    // MARK: - Implementation details

    func testAVX512AndPortablePathsGiveTheSameBits() throws {
        try XCTSkipUnless(lockstep_fixed_avx512() == 1, "no AVX-512 F/DQ/VL on this CPU: only the portable path runs")
        // Whole range; tiny blocks (their quantum below the smallest normal float: the double
        // path); and blocks with NaN, infinity and a sum that overflows.
        var special = Self.terms(count: 3_000, termCount: 7, exponents: 100...127, seed: 9)
        special[2][10] = .nan
        special[4][1_500] = -.infinity
        for term in 0..<7 { special[term][2_500] = .greatestFiniteMagnitude }
        for terms in [Self.terms(count: 5_003, termCount: 7, exponents: -130...127),
                      Self.terms(count: 2_100, termCount: 7, exponents: -130 ... -70, seed: 5), special] {
            for width in [32, 64] {
                lockstep_fixed_force_portable(0)
                let fast = try fixedSum(terms, worldSize: 3, width: width, owner: { $0 })
                lockstep_fixed_force_portable(1)
                defer { lockstep_fixed_force_portable(0) }
                let portable = try fixedSum(terms, worldSize: 3, width: width, owner: { $0 })
                XCTAssertEqual(bits(fast.values), bits(portable.values), "\(width) bits")
                XCTAssertEqual(fast.finite, portable.finite, "\(width) bits")
            }
        }
    }

    func testCarryBitsWidthsAndBlocks() {
        for (terms, carry) in [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (64, 6), (65, 7), (256, 8), (257, 9)] {
            let sum = FixedPointSum(count: 1, termCount: terms, localTermCount: 1, tileCapacity: 1, communicator: SingleProcessCommunicator())
            XCTAssertEqual(sum.carryBits, Int32(carry), "\(terms) terms")
            XCTAssertEqual(sum.width, carry <= 8 ? 32 : 64, "\(terms) terms: 32-bit sums up to 8 carry bits")
        }
        // 2,500 elements with boundaries at 2,000 and 2,001: 1,024 + 976 | 1 | 499.
        let single = SingleProcessCommunicator()
        XCTAssertEqual(
            FixedPointSum(count: 2_500, boundaries: [2_001, 2_000], termCount: 2, localTermCount: 1, tileCapacity: 1, communicator: single)
                .blockCount, 4)
        XCTAssertEqual(FixedPointSum(count: 2_048, termCount: 2, localTermCount: 2, tileCapacity: 1, communicator: single).blockCount, 2)
        // Sections cut blocks too: 2,500 in sections 1,500..<2,500 and 0..<1,500: 1,000 | 1,024 + 476.
        XCTAssertEqual(
            FixedPointSum(count: 2_500, sections: [1_500..<2_500, 0..<1_500], termCount: 2, localTermCount: 1, tileCapacity: 1, communicator: single)
                .blockCount, 3)
    }
}
