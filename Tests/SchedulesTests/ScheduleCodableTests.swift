import Foundation
import Schedules
import XCTest

final class ScheduleCodableTests: XCTestCase {
    private let full = ScheduleConfiguration(
        learningRate: 0.2, finalLearningRate: 1e-3, unit: .epoch, smooth: true, warmup: 3,
        warmupStartLearningRate: 1e-3, hold: 2, minimumLearningRate: 5e-4, staircase: 2)

    private func roundTrip<Value: Codable>(_ value: Value) throws -> Value {
        try JSONDecoder().decode(Value.self, from: JSONEncoder().encode(value))
    }

    func testConfigurationRoundTrips() throws {
        XCTAssertEqual(try roundTrip(full), full)
        XCTAssertEqual(try roundTrip(ScheduleConfiguration()), ScheduleConfiguration())
        XCTAssertEqual(try roundTrip(ScheduleConfiguration(gamma: 0.9, unit: .step)), ScheduleConfiguration(gamma: 0.9, unit: .step))
    }

    func testScheduleRoundTripsWithBitwiseEqualRates() throws {
        let schedule = try ExponentialSchedule(full, stepsPerEpoch: 7, totalUnits: 40)
        let decoded = try roundTrip(schedule)
        XCTAssertEqual(decoded, schedule)
        for step in stride(from: Int64(0), to: 280, by: 3) {
            XCTAssertEqual(decoded.lr(at: step).bitPattern, schedule.lr(at: step).bitPattern, "step \(step)")
        }
    }

    func testDecodingRefusesATamperedDerivedValue() throws {
        let schedule = try ExponentialSchedule(.init(halfLife: 10), stepsPerEpoch: 1, totalUnits: 100)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(schedule)) as? [String: Any])
        XCTAssertEqual(object["gamma"] as? Double, schedule.gamma)
        object["gamma"] = 0.9330329915  // 4e-11 relative off the derived 0.933032991536807
        let tampered = try JSONSerialization.data(withJSONObject: object)
        XCTAssertThrowsError(try JSONDecoder().decode(ExponentialSchedule.self, from: tampered)) { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(context.debugDescription.contains("stored gamma 0.9330329915 differs"), context.debugDescription)
        }
    }

    func testDecodingRevalidatesTheConfiguration() throws {
        let json = #"{"configuration": {"learningRate": 0.1, "gamma": 1.5, "unit": "epoch", "smooth": false, "warmup": 0, "hold": 0}, "stepsPerEpoch": 1}"#
        XCTAssertThrowsError(try JSONDecoder().decode(ExponentialSchedule.self, from: Data(json.utf8))) { error in
            XCTAssertEqual(error as? ScheduleError, .gammaOutOfRange(1.5))
        }
    }

    func testAnalysisRoundTripsWithItsDocumentedKeys() throws {
        let analysis = ScheduleAnalysis(try ExponentialSchedule(.init(gamma: 0.5, staircase: 2), stepsPerEpoch: 10, totalUnits: 50))
        XCTAssertEqual(try roundTrip(analysis), analysis)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(analysis)) as? [String: Any])
        XCTAssertEqual(
            Set(object.keys),
            ["unit", "total", "lr", "gamma", "lambda", "half_life", "decay_percent_per_unit", "units_to_one_percent",
             "per_stair_factor", "per_step_gamma", "milestones", "final_lr", "halvings", "warnings"])
        let warning = try XCTUnwrap((object["warnings"] as? [[String: Any]])?.first)
        XCTAssertEqual(warning["kind"] as? String, "final_lr_below_1e-8")
    }
}
