import Checkpoints
import XCTest
@testable import Training

/// `LOCKSTEP_FAULT=checkpoint-crash|checkpoint-fail:…` maps onto the writer's test faults.
final class CheckpointFaultTests: XCTestCase {
    func testCheckpointFaultsMapOntoTheWritersFaultsAtTheirStepOnly() throws {
        let plan = try FaultPlan(parsing: "checkpoint-crash:rank=0:step=12:bytes=1000,checkpoint-fail:step=8")
        XCTAssertEqual(plan.faults, [
            .init(kind: .checkpointCrash, rank: 0, step: 12, argument: 1000),
            .init(kind: .checkpointFail, rank: 0, step: 8, argument: nil),
        ])
        XCTAssertEqual(plan.checkpointWriteFault(rank: 0, step: 12), .crashAfterBytes(1000))
        XCTAssertEqual(plan.checkpointWriteFault(rank: 0, step: 8), .failAfterBytes(0, code: ENOSPC))
        XCTAssertEqual(plan.checkpointWriteFault(rank: 0, step: 11), CheckpointWriteFault.none)
        XCTAssertEqual(plan.checkpointWriteFault(rank: 1, step: 12), CheckpointWriteFault.none)
        XCTAssertFalse(plan.fires(.nan, rank: 0, step: 12), "checkpoint faults do not fire as step faults")
    }
}
