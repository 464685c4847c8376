@testable import Training
import XCTest

final class ModelSizeTests: XCTestCase {
    func testTheFashionMNISTModelFits() throws {
        XCTAssertNoThrow(try ModelSizeError.check(layerSizes: [784, 512, 256, 10], optimizerBuffers: 1, maximumBatch: 500))
    }

    func testALayerBeyondMPIsCountIsRefused() {
        // 100,000 × 100,000 = 1e10 weights > 2^31 − 1: one collective could not carry them.
        XCTAssertThrowsError(try ModelSizeError.check(layerSizes: [784, 100_000, 100_000, 10], optimizerBuffers: 1, maximumBatch: 128)) {
            XCTAssertEqual("\($0)", "the model 784-100000-100000-10 is too large: one layer has 100000 × 100000 weights")
        }
    }

    func testMoreMemoryThanTheMachineHasIsRefused() throws {
        // 31,623² ≈ 1e9 weights (within MPI's count) × 4 bytes × 22 buffers ≈ 88 GB.
        let physical = Double(ProcessInfo.processInfo.physicalMemory)
        try XCTSkipIf(physical > 80e9, "this machine has more than 80 GB")
        XCTAssertThrowsError(try ModelSizeError.check(layerSizes: [784, 31_623, 31_623, 10], optimizerBuffers: 20, maximumBatch: 128)) {
            XCTAssertTrue("\($0)".contains("one rank needs about"), "\($0)")
        }
    }
}
