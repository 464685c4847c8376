import Collectives
import Kernels
import TestSupport
@testable import Training
import XCTest

/// The reduction's finiteness check, in a world of one (the sums are the inputs).
final class GradientReductionTests: XCTestCase {
    private func reduction(_ values: [Float], overlap: Bool = false) -> GradientReduction {
        GradientReduction(
            communicator: SingleProcessCommunicator(), mode: .allreduce, overlap: overlap, buffer: FloatBuffer(values),
            readyPoints: [values.count / 2, 0], bucketByteCount: 4)
    }

    func testFiniteValuesPassIncludingTheLargestAndSubnormals() throws {
        let values: [Float] = [0, -0, 1, -2.5, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, .leastNormalMagnitude.nextDown]
        XCTAssertTrue(try reduction(values).reduce())
    }

    func testEveryKindOfNonFiniteValueAnywhereIsCaught() throws {
        for bad: Float in [.nan, -.nan, .infinity, -.infinity, .signalingNaN] {
            for index in [0, 3, 7] {
                var values = [Float](repeating: 1, count: 8)
                values[index] = bad
                XCTAssertFalse(try reduction(values).reduce(), "\(bad) at \(index)")
            }
        }
    }

    func testTheCheckResetsEveryStepAndSeesOverlappedBuckets() throws {
        let values: [Float] = [1, 2, 3, .nan]
        let subject = reduction(values, overlap: true)
        XCTAssertEqual(subject.plan.buckets, [2..<4, 0..<2])
        subject.beginStep()
        try subject.observe(.gradientsReady(from: 2))  // the bucket holding the NaN completes here
        try subject.observe(.gradientsReady(from: 0))
        XCTAssertFalse(try subject.finish())
        subject.buffer[3] = 4
        XCTAssertTrue(try subject.reduce())
    }
}
