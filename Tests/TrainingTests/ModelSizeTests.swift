import Models
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
            XCTAssertTrue("\($0)".contains("needs about"), "\($0)")
        }
    }

    /// Admission counts the ranks on the node and keeps a 10 % margin: 9 GB per rank fits 20 GB
    /// alone and twice (18 ≤ 0.9 × 20), not three times; an address-space limit binds per rank.
    func testAdmissionCountsTheRanksOnTheNodeAndTheLimits() {
        let alone = MemoryAdmission(nodeBytes: 20e9, nodeSource: "MemAvailable", processLimitBytes: nil, ranksOnNode: 1)
        XCTAssertNil(alone.refusal(bytesPerRank: 9e9))
        XCTAssertNil(MemoryAdmission(nodeBytes: 20e9, nodeSource: "MemAvailable", processLimitBytes: nil, ranksOnNode: 2)
            .refusal(bytesPerRank: 9e9))
        XCTAssertEqual(MemoryAdmission(nodeBytes: 20e9, nodeSource: "MemAvailable", processLimitBytes: nil, ranksOnNode: 3)
            .refusal(bytesPerRank: 9e9),
            "it needs about 9.0 GB per rank × 3 ranks on this node; 20.0 GB available (MemAvailable), of which 90 % may be planned")
        XCTAssertEqual(MemoryAdmission(nodeBytes: 20e9, nodeSource: "MemAvailable", processLimitBytes: 4e9, ranksOnNode: 1)
            .refusal(bytesPerRank: 9e9),
            "it needs about 11.51 GB of address space per rank (9.00 GB of buffers, with the libraries' and the allocator's "
                + "reservations); the address-space limit (ulimit -v) is 4.00 GB per process")
        // What the process already holds counts against the limit: 1.5 + 0.256 + 1.25 × 1.79 = 3.9975 GB fits in 4.
        let holding = MemoryAdmission(nodeBytes: 20e9, nodeSource: "MemAvailable", processLimitBytes: 4e9, processUsedBytes: 1.5e9, ranksOnNode: 1)
        XCTAssertNil(holding.refusal(bytesPerRank: 1.79e9))
        XCTAssertNotNil(holding.refusal(bytesPerRank: 1.8e9))
        XCTAssertEqual(MemoryAdmission(nodeBytes: 20e9, nodeSource: "MemAvailable", processLimitBytes: nil, ranksOnNode: 0).ranksOnNode, 1)
    }

    /// `--hidden 45000,45000` (about 16 GB with SGD at batch 500) on this node: refused from
    /// what the node can give, not from the total RAM.
    func testTheIssuesExampleIsRefusedWithTheNumbers() {
        let admission = MemoryAdmission(nodeBytes: 22.9e9, nodeSource: "MemAvailable", processLimitBytes: nil, ranksOnNode: 2)
        XCTAssertThrowsError(try ModelSizeError.checkMemory(
            ModelFootprint(layerSizes: [784, 45_000, 45_000, 10]), model: "784-45000-45000-10", flag: "--hidden",
            optimizerBuffers: 1, maximumBatch: 500, admission: admission)) {
            XCTAssertTrue("\($0)".hasPrefix("the model 784-45000-45000-10 is too large: it needs about "), "\($0)")
            XCTAssertTrue("\($0)".hasSuffix(" per rank × 2 ranks on this node; 22.9 GB available (MemAvailable), of which 90 % may be planned"), "\($0)")
        }
    }
}
