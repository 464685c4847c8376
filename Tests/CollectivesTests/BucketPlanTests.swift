@testable import Collectives
import TestSupport
import XCTest

final class BucketPlanTests: XCTestCase {
    /// The real model's segments: 784-512-256-10 with 512 KB weight-gradient blocks
    /// (`MLP.gradientReadyPoints`, asserted in ModelsTests' `GradientReadyPointsTests`), plus one
    /// trailing slot (535,818 + 1 = 535,819 elements).
    private let readyPoints = [533_248, 401_920, 301_056, 200_704, 100_352, 0]

    func testOneMebibyteBucketsCloseBeforeTheyWouldOverflow() {
        let plan = BucketPlan(readyPoints: readyPoints, bufferCount: 535_819, bucketElementCount: 262_144)
        // 2,571 + 131,328 + 100,864 = 234,763 fits; adding the next 100,352 would not.
        XCTAssertEqual(plan.buckets, [301_056..<535_819, 100_352..<301_056, 0..<100_352])
    }

    func testASegmentLargerThanTheBucketIsABucketOfItsOwnAndTheBucketsCoverTheBuffer() {
        let plan = BucketPlan(readyPoints: readyPoints, bufferCount: 535_819, bucketElementCount: 1000)
        XCTAssertEqual(plan.buckets.count, 6)
        XCTAssertEqual(plan.buckets.first?.upperBound, 535_819, "the first bucket carries the trailer")
        XCTAssertEqual(plan.buckets.last?.lowerBound, 0)
        for (upper, lower) in zip(plan.buckets, plan.buckets.dropFirst()) {
            XCTAssertEqual(upper.lowerBound, lower.upperBound, "no gap between \(upper) and \(lower)")
        }
        let whole = BucketPlan(readyPoints: readyPoints, bufferCount: 535_819, bucketElementCount: 1 << 30)
        XCTAssertEqual(whole.buckets, [0..<535_819])
    }

    func testBucketsStartOnlyWhenAllTheirGradientsAreFinal() {
        let plan = BucketPlan(readyPoints: readyPoints, bufferCount: 535_819, bucketElementCount: 262_144)
        XCTAssertEqual(plan.startableCount(from: 401_920, after: 0), 0)
        XCTAssertEqual(plan.startableCount(from: 301_056, after: 0), 1)
        XCTAssertEqual(plan.startableCount(from: 200_704, after: 1), 1)
        XCTAssertEqual(plan.startableCount(from: 0, after: 1), 3)
    }
}
