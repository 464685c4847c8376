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
