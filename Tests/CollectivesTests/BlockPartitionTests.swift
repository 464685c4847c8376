import Collectives
import XCTest

/// `BlockPartition` splits the test set across ranks for evaluation and the gradient buffer for
/// the reduce-scatter-allgather reduction.
final class BlockPartitionTests: XCTestCase {
    private func blocks(_ count: Int, _ parts: Int) -> [Range<Int>] {
        let partition = BlockPartition(count: count, parts: parts)
        return (0..<parts).map(partition.range(of:))
    }

    func testBlocksTileTheRangeInNearEqualSizes() {
        XCTAssertEqual(blocks(10, 3), [0..<4, 4..<7, 7..<10])  // 10 = 4 + 3 + 3: the first gets the extra
        XCTAssertEqual(blocks(10_000, 4), [0..<2500, 2500..<5000, 5000..<7500, 7500..<10_000])
        XCTAssertEqual(blocks(2, 4), [0..<1, 1..<2, 2..<2, 2..<2])  // empty blocks: those ranks still join
        for parts in 1...5 {
            for count in [0, 1, 5, 997, 1001] {
                let ranges = blocks(count, parts)
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                XCTAssertEqual(ranges.last?.upperBound, count)
                for (left, right) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(left.upperBound, right.lowerBound) }
                let sizes = ranges.map(\.count)
                XCTAssertEqual(sizes, BlockPartition(count: count, parts: parts).sizes)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "\(count) over \(parts)")
            }
        }
    }
}
