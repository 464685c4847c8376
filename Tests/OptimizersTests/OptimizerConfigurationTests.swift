import Foundation
import Optimizers
import Reporting
import XCTest

final class OptimizerConfigurationTests: XCTestCase {
    private func error(_ configuration: OptimizerConfiguration) -> OptimizerConfigurationError? {
        do {
            try configuration.validate()
            return nil
        } catch {
            return error as? OptimizerConfigurationError
        }
    }

    /// Asserts that `configuration` is refused with exactly `message` (and `hint`).
    private func assertRefused(
        _ configuration: OptimizerConfiguration, _ message: String, hint: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        guard let error = error(configuration) else {
            return XCTFail("\(configuration) was accepted", file: file, line: line)
        }
        XCTAssertEqual(error.description, message, file: file, line: line)
        XCTAssertEqual(error.hint, hint, file: file, line: line)
        XCTAssertEqual(error.exitStatus, .usage, file: file, line: line)
    }

    // MARK: - Defaults

    func testDefaults() {
        let configuration = OptimizerConfiguration()
        XCTAssertEqual(configuration.kind, .sgd)
        XCTAssertEqual(configuration.momentum, 0.9)
        XCTAssertEqual(configuration.dampening, 0)
        XCTAssertFalse(configuration.nesterov)
        XCTAssertEqual(configuration.weightDecay, 0)
        XCTAssertEqual(configuration.beta1, 0.9)
        XCTAssertEqual(configuration.beta2, 0.999)
        XCTAssertEqual(configuration.epsilon, 1e-8)
        XCTAssertFalse(configuration.amsgrad)
        for kind in OptimizerKind.allCases {
            XCTAssertNil(error(.init(kind: kind)), "\(kind)")
        }
        XCTAssertEqual(OptimizerKind.allCases.map(\.rawValue), ["sgd", "adam", "adamw"])
    }

    func testBoundaryValuesAreAccepted() {
        XCTAssertNil(error(.init(kind: .sgd, momentum: 0)))
        XCTAssertNil(error(.init(kind: .sgd, momentum: 0.999, dampening: 1)))
        XCTAssertNil(error(.init(kind: .sgd, momentum: 0.5, nesterov: true, weightDecay: 5e-4)))
        XCTAssertNil(error(.init(kind: .adam, beta1: 0, beta2: 0)))
        XCTAssertNil(error(.init(kind: .adamw, weightDecay: 0.01, epsilon: 1e-12, amsgrad: true)))
    }

    // MARK: - Ranges

    func testRangeErrorsNameTheFlagAndTheValue() {
        assertRefused(.init(kind: .sgd, momentum: 1), "--momentum must be in [0, 1), found 1.0")
        assertRefused(.init(kind: .sgd, momentum: -0.1), "--momentum must be in [0, 1), found -0.1")
        assertRefused(.init(kind: .sgd, momentum: .nan), "--momentum must be in [0, 1), found nan")
        assertRefused(.init(kind: .sgd, dampening: 1.5), "--dampening must be in [0, 1], found 1.5")
        assertRefused(.init(kind: .sgd, weightDecay: -1e-4), "--weight-decay must be a finite number >= 0, found -0.0001")
        assertRefused(.init(kind: .adam, weightDecay: .infinity), "--weight-decay must be a finite number >= 0, found inf")
        assertRefused(.init(kind: .adam, beta1: 1), "--beta1 must be in [0, 1), found 1.0")
        assertRefused(.init(kind: .adamw, beta2: -0.5), "--beta2 must be in [0, 1), found -0.5")
        assertRefused(.init(kind: .adam, epsilon: 0), "--eps must be a finite number > 0, found 0.0")
    }

    func testNesterovNeedsUndampedMomentum() {
        let hint = "Nesterov momentum is defined for an undamped momentum buffer; drop --nesterov or --dampening"
        assertRefused(
            .init(kind: .sgd, momentum: 0, nesterov: true),
            "--nesterov needs --momentum > 0 and --dampening 0, found momentum 0.0 and dampening 0.0", hint: hint)
        assertRefused(
            .init(kind: .sgd, dampening: 0.1, nesterov: true),
            "--nesterov needs --momentum > 0 and --dampening 0, found momentum 0.9 and dampening 0.1", hint: hint)
    }

    func testDampeningWithoutMomentumIsRefused() {
        assertRefused(
            .init(kind: .sgd, momentum: 0, dampening: 0.5), "--dampening 0.5 has no effect with --momentum 0",
            hint: "give --momentum > 0 to use a momentum buffer, or drop --dampening")
    }

    // MARK: - Settings for another optimizer

    func testSettingsTheOptimizerDoesNotReadAreRefused() {
        assertRefused(
            .init(kind: .adam, momentum: 0.5), "--momentum does not apply to --optimizer adam; it applies to sgd",
            hint: "remove --momentum; --optimizer adam reads --beta1 --beta2 --eps --weight-decay --amsgrad")
        assertRefused(
            .init(kind: .adamw, nesterov: true), "--nesterov does not apply to --optimizer adamw; it applies to sgd",
            hint: "remove --nesterov; --optimizer adamw reads --beta1 --beta2 --eps --weight-decay --amsgrad")
        assertRefused(
            .init(kind: .sgd, amsgrad: true), "--amsgrad does not apply to --optimizer sgd; it applies to adam, adamw",
            hint: "remove --amsgrad; --optimizer sgd reads --momentum --dampening --nesterov --weight-decay")
        assertRefused(
            .init(kind: .sgd, epsilon: 1e-6), "--eps does not apply to --optimizer sgd; it applies to adam, adamw",
            hint: "remove --eps; --optimizer sgd reads --momentum --dampening --nesterov --weight-decay")
    }

    /// The command line passes the flags actually given, so even a default value is refused for
    /// the wrong optimizer (which `validate()` cannot see).
    func testGivenFlagsAreCheckedAgainstTheOptimizer() throws {
        XCTAssertThrowsError(try OptimizerConfiguration.requireApplicable([.weightDecay, .momentum], to: .adam)) { error in
            XCTAssertEqual(error as? OptimizerConfigurationError, .notApplicable(flag: .momentum, optimizer: .adam))
        }
        XCTAssertThrowsError(try OptimizerConfiguration.requireApplicable([.beta2], to: .sgd)) { error in
            XCTAssertEqual(error as? OptimizerConfigurationError, .notApplicable(flag: .beta2, optimizer: .sgd))
        }
        try OptimizerConfiguration.requireApplicable([.weightDecay, .beta1, .amsgrad], to: .adamw)
        try OptimizerConfiguration.requireApplicable([.nesterov, .dampening], to: .sgd)
        try OptimizerConfiguration.requireApplicable([], to: .sgd)
    }

    func testEveryFlagAppliesToSomeOptimizer() {
        let covered = Set(OptimizerKind.allCases.flatMap(\.applicableFlags))
        XCTAssertEqual(covered, Set(OptimizerFlag.allCases))
    }

    // MARK: - Codable

    func testRoundTripsThroughJSON() throws {
        let configuration = OptimizerConfiguration(kind: .adamw, weightDecay: 0.01, beta2: 0.98, amsgrad: true)
        let data = try JSONEncoder().encode(configuration)
        XCTAssertEqual(try JSONDecoder().decode(OptimizerConfiguration.self, from: data), configuration)
    }

    func testMissingKeysTakeTheirDefaults() throws {
        let decoded = try JSONDecoder().decode(
            OptimizerConfiguration.self, from: Data(#"{"kind": "adam", "weightDecay": 0.01}"#.utf8))
        XCTAssertEqual(decoded, OptimizerConfiguration(kind: .adam, weightDecay: 0.01))
    }

    func testAnUnknownKindIsADecodingError() {
        XCTAssertThrowsError(
            try JSONDecoder().decode(OptimizerConfiguration.self, from: Data(#"{"kind": "rmsprop"}"#.utf8))
        ) { error in
            XCTAssertTrue(error is DecodingError, "\(error)")
        }
    }
}

final class StateBufferCountTests: XCTestCase {
    /// `stateBufferCount` (used to size memory before anything is allocated) matches the buffers
    /// each optimizer really keeps.
    func testCountMatchesTheOptimizersBuffers() throws {
        let configurations = [
            OptimizerConfiguration(kind: .sgd), OptimizerConfiguration(kind: .sgd, momentum: 0),
            OptimizerConfiguration(kind: .adam), OptimizerConfiguration(kind: .adamw, amsgrad: true),
        ]
        for configuration in configurations {
            XCTAssertEqual(makeOptimizer(configuration, parameterCount: 3).stateBuffers.count, configuration.stateBufferCount,
                           "\(configuration)")
        }
    }
}

/// Subnormal hyperparameters are refused by name (issue 15).
final class SubnormalHyperparameterTests: XCTestCase {
    func testSubnormalValuesAreRefused() {
        let tiny = Double("1e-320")!  // a subnormal (a literal would warn that it underflows)
        XCTAssertThrowsError(try OptimizerConfiguration(kind: .sgd, weightDecay: tiny).validate()) {
            XCTAssertEqual("\($0)", "--weight-decay must be 0 or at least 2.2250738585072014e-308 (not subnormal), found 1e-320")
        }
        XCTAssertThrowsError(try OptimizerConfiguration(kind: .sgd, momentum: tiny).validate())
        XCTAssertNoThrow(try OptimizerConfiguration(kind: .sgd, weightDecay: Double.leastNormalMagnitude).validate())
    }
}
