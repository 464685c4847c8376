import Collectives
import Coordination
import Reporting
import Training
import XCTest

final class FaultPlanTests: XCTestCase {
    func testParsesSeveralFaults() throws {
        let plan = try FaultPlan(parsing: "bitflip:rank=1:step=20,nan:rank=2:step=7,stall")
        XCTAssertEqual(plan.faults, [
            .init(kind: .bitflip, rank: 1, step: 20, argument: nil),
            .init(kind: .nan, rank: 2, step: 7, argument: nil),
            .init(kind: .stall, rank: 0, step: 0, argument: nil),
        ])
    }

    func testParsesTheFactorOfSlowAndRefusesSlowWithoutOne() throws {
        let plan = try FaultPlan(parsing: "slow:rank=1:step=3:factor=2.5,perturb-state:rank=2,mpi-error:rank=1:step=4")
        XCTAssertEqual(plan.faults, [
            .init(kind: .slow, rank: 1, step: 3, argument: nil, factor: 2.5),
            .init(kind: .perturbState, rank: 2, step: 0),
            .init(kind: .mpiError, rank: 1, step: 4),
        ])
        for bad in ["slow:rank=1", "slow:factor=0.5", "slow:factor=nan", "slow:factor=1e9", "nan:rank=99999999999"] {
            XCTAssertThrowsError(try FaultPlan(parsing: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("LOCKSTEP_FAULT"), "\(error)")
            }
        }
    }

    /// Only errors a planned fault can cause are marked `(injected)`.
    func testExplainsOnlyTheErrorsItsFaultsCause() throws {
        let plan = try FaultPlan(parsing: "nan:rank=1:step=3,bitflip:rank=0:step=7")
        XCTAssertTrue(plan.explains(NonFiniteError(step: 3, loss: .nan)))
        XCTAssertFalse(plan.explains(NonFiniteError(step: 4, loss: .nan)), "another step: a real failure")
        XCTAssertTrue(plan.explains(LockstepViolation(step: 10, context: "periodic check", differingParts: ["parameters"], rankGroups: [[0], [1]])))
        XCTAssertFalse(plan.explains(LockstepViolation(step: 5, context: "periodic check", differingParts: ["parameters"], rankGroups: [[0], [1]])),
                       "before the flip: a real violation")
        XCTAssertFalse(plan.explains(MPIError(operation: "allreduce", code: 1, message: "x")))
        XCTAssertFalse(FaultPlan().explains(NonFiniteError(step: 3, loss: .nan)), "no plan explains nothing")
        XCTAssertEqual(InjectedError(NonFiniteError(step: 3, loss: .nan)).description, "non-finite loss (nan) at step 3 (injected)")
        XCTAssertEqual(InjectedError(NonFiniteError(step: 3, loss: .nan)).exitStatus, .nonFinite)
    }

    func testRefusesUnknownKindsAndFields() {
        XCTAssertThrowsError(try FaultPlan(parsing: "meteor:rank=1")) { error in
            XCTAssertTrue("\(error)".contains("unknown fault 'meteor:rank=1'"), "\(error)")
        }
        XCTAssertThrowsError(try FaultPlan(parsing: "nan:rank=x")) { error in
            XCTAssertTrue("\(error)".contains("bad field 'rank=x'"), "\(error)")
        }
        XCTAssertThrowsError(try FaultPlan(parsing: "nan:colour=1")) { error in
            XCTAssertTrue("\(error)".contains("unknown field 'colour'"), "\(error)")
        }
    }
}
