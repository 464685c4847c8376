@testable import Collectives
import TestSupport
import XCTest

/// The reduction's finiteness check, in a world of one (the sums are the inputs).
final class GradientReductionTests: XCTestCase {
    private var buffers: [UnsafeMutableBufferPointer<Float>] = []

    override func tearDown() {
        for buffer in buffers { buffer.deallocate() }
        buffers = []
    }

    private func reduction(_ values: [Float], overlap: Bool = false) -> GradientReduction {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
        _ = buffer.initialize(from: values)
        buffers.append(buffer)
        return GradientReduction(
            communicator: SingleProcessCommunicator(), mode: .allreduce, overlap: overlap, buffer: buffer,
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
        try subject.ready(from: 2)  // the bucket holding the NaN completes here
        try subject.ready(from: 0)
        XCTAssertFalse(try subject.finish())
        subject.buffer[3] = 4
        XCTAssertTrue(try subject.reduce())
    }
}
