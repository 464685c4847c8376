import Reporting
import Schedules
import XCTest

/// Every `ScheduleError`, with its exact message (the CLI prints these verbatim).
final class ScheduleValidationTests: XCTestCase {
    private func error(
        _ configuration: ScheduleConfiguration, stepsPerEpoch: Int = 1, totalUnits: Int? = 100,
        file: StaticString = #filePath, line: UInt = #line
    ) -> ScheduleError? {
        do {
            _ = try ExponentialSchedule(configuration, stepsPerEpoch: stepsPerEpoch, totalUnits: totalUnits)
            XCTFail("\(configuration) was accepted", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.exitStatus, .usage, file: file, line: line)
            return error
        }
    }

    private func assertRejected(
        _ configuration: ScheduleConfiguration, stepsPerEpoch: Int = 1, totalUnits: Int? = 100,
        _ expected: ScheduleError, _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        let found = error(configuration, stepsPerEpoch: stepsPerEpoch, totalUnits: totalUnits, file: file, line: line)
        XCTAssertEqual(found, expected, file: file, line: line)
        XCTAssertEqual(found?.description, message, file: file, line: line)
    }

    func testGammaOutsideZeroOne() {
        assertRejected(.init(gamma: 1.5), .gammaOutOfRange(1.5), "--gamma 1.5 is outside (0, 1]")
        assertRejected(.init(gamma: 0), .gammaOutOfRange(0), "--gamma 0.0 is outside (0, 1]")
        // A subnormal decay factor, given or derived, is refused before any rate underflows.
        let subnormal = "is below 2.2250738585072014e-308, the smallest normal Double (--gamma at least that, "
            + "--half-life at least 1/1022 units, or a --final-lr closer to --lr)"
        let tiny = Double("1e-320")!  // a subnormal (a literal would warn that it underflows)
        assertRejected(.init(gamma: tiny), .decayFactorSubnormal(gamma: tiny), "the decay factor gamma = 1e-320 " + subnormal)
        assertRejected(.init(halfLife: 1e-10), .decayFactorSubnormal(gamma: 0), "the decay factor gamma = 0.0 " + subnormal)
        XCTAssertNoThrow(try ExponentialSchedule(.init(gamma: Double.leastNormalMagnitude), stepsPerEpoch: 1, totalUnits: 100))
        XCTAssertNoThrow(try ExponentialSchedule(.init(halfLife: 1.0 / 1022), stepsPerEpoch: 1, totalUnits: 100))  // 2^-1022
        XCTAssertNotNil(error(.init(halfLife: 1.0 / 1023)))
        // PyTorch accepts γ = −0.5 and yields negative LRs (NOTES.md).
        assertRejected(.init(gamma: -0.5), .gammaOutOfRange(-0.5), "--gamma -0.5 is outside (0, 1]")
        XCTAssertEqual(error(.init(gamma: .nan))?.description, "--gamma nan is outside (0, 1]")
        XCTAssertNoThrow(try ExponentialSchedule(.init(gamma: 1), stepsPerEpoch: 1, totalUnits: 100))
    }

    func testNonPositiveOrNonFiniteLearningRates() {
        assertRejected(.init(learningRate: 0), .notPositive(flag: "--lr", value: 0), "--lr 0.0 must be a finite number > 0")
        assertRejected(.init(learningRate: -0.1), .notPositive(flag: "--lr", value: -0.1), "--lr -0.1 must be a finite number > 0")
        assertRejected(.init(learningRate: .infinity), .notPositive(flag: "--lr", value: .infinity),
                       "--lr inf must be a finite number > 0")
        XCTAssertEqual(error(.init(learningRate: .nan))?.description, "--lr nan must be a finite number > 0")
        assertRejected(.init(finalLearningRate: 0), .notPositive(flag: "--final-lr", value: 0),
                       "--final-lr 0.0 must be a finite number > 0")
        assertRejected(.init(warmup: 2, warmupStartLearningRate: 0), .notPositive(flag: "--warmup-start-lr", value: 0),
                       "--warmup-start-lr 0.0 must be a finite number > 0")
        assertRejected(.init(minimumLearningRate: 0), .notPositive(flag: "--min-lr", value: 0),
                       "--min-lr 0.0 must be a finite number > 0")
    }

    func testHalfLifeMustBePositive() {
        assertRejected(.init(halfLife: 0), .notPositive(flag: "--half-life", value: 0),
                       "--half-life 0.0 must be a finite number > 0")
        assertRejected(.init(halfLife: -3), .notPositive(flag: "--half-life", value: -3),
                       "--half-life -3.0 must be a finite number > 0")
    }

    func testOnlyOneDecayParameter() {
        assertRejected(.init(gamma: 0.9, halfLife: 5), .conflictingDecayParameters(["--gamma", "--half-life"]),
                       "only one of --gamma, --half-life, --final-lr may be given; found --gamma and --half-life")
        assertRejected(.init(gamma: 0.9, halfLife: 5, finalLearningRate: 0.01),
                       .conflictingDecayParameters(["--gamma", "--half-life", "--final-lr"]),
                       "only one of --gamma, --half-life, --final-lr may be given; found --gamma and --half-life and --final-lr")
        XCTAssertNotNil(ScheduleError.conflictingDecayParameters([]).hint)
    }

    func testFinalMustBeBelowInitialAndAboveTheFloor() {
        assertRejected(.init(learningRate: 0.1, finalLearningRate: 0.1), .finalNotBelowInitial(final: 0.1, initial: 0.1),
                       "--final-lr 0.1 is not below --lr 0.1; exponential decay only goes down")
        assertRejected(.init(learningRate: 0.1, finalLearningRate: 1e-4, minimumLearningRate: 1e-3),
                       .finalBelowMinimum(final: 1e-4, minimum: 1e-3),
                       "--final-lr 0.0001 is below --min-lr 0.001; the floor would stop the decay first")
    }

    func testFloorAndWarmupStartMustNotExceedTheInitialRate() {
        assertRejected(.init(learningRate: 0.1, minimumLearningRate: 0.2), .minimumAboveInitial(minimum: 0.2, initial: 0.1),
                       "--min-lr 0.2 is above --lr 0.1")
        assertRejected(.init(learningRate: 0.1, warmup: 3, warmupStartLearningRate: 0.2),
                       .warmupStartAboveInitial(start: 0.2, initial: 0.1),
                       "--warmup-start-lr 0.2 is above --lr 0.1; warmup rises to --lr")
        // Equal is allowed: a floor at lr0 is a constant LR, a warmup from lr0 is flat.
        XCTAssertNoThrow(try ExponentialSchedule(
            .init(learningRate: 0.1, warmup: 3, warmupStartLearningRate: 0.1, minimumLearningRate: 0.1),
            stepsPerEpoch: 1, totalUnits: 10))
    }

    func testLengths() {
        assertRejected(.init(warmup: -1), .lengthBelowMinimum(flag: "--warmup", value: -1, minimum: 0),
                       "--warmup -1 must be at least 0")
        assertRejected(.init(hold: -2), .lengthBelowMinimum(flag: "--hold", value: -2, minimum: 0),
                       "--hold -2 must be at least 0")
        assertRejected(.init(staircase: 0), .lengthBelowMinimum(flag: "--staircase", value: 0, minimum: 1),
                       "--staircase 0 must be at least 1")
        assertRejected(.init(), stepsPerEpoch: 0, .lengthBelowMinimum(flag: "--steps-per-epoch", value: 0, minimum: 1),
                       "--steps-per-epoch 0 must be at least 1")
        assertRejected(.init(), totalUnits: 0, .totalBelowOne(0),
                       "the schedule's length (--total, or --epochs for train) is 0; it must be at least 1")
    }

    func testWarmupAndHoldMustLeaveRoomToDecay() {
        assertRejected(.init(warmup: 5), totalUnits: 5, .warmupAndHoldCoverTotal(warmup: 5, hold: 0, total: 5, unit: .epoch),
                       "--warmup 5 + --hold 0 must be shorter than the schedule's length of 5 epochs; the LR would never decay")
        assertRejected(.init(unit: .step, warmup: 3, hold: 2), totalUnits: 4,
                       .warmupAndHoldCoverTotal(warmup: 3, hold: 2, total: 4, unit: .step),
                       "--warmup 3 + --hold 2 must be shorter than the schedule's length of 4 steps; the LR would never decay")
        // Without a known length there is nothing to compare with.
        XCTAssertNoThrow(try ExponentialSchedule(.init(warmup: 5), stepsPerEpoch: 1, totalUnits: nil))
        XCTAssertNoThrow(try ExponentialSchedule(.init(warmup: 4), stepsPerEpoch: 1, totalUnits: 5))
    }

    func testFinalLearningRateNeedsALengthAndADecayedUnit() {
        assertRejected(.init(finalLearningRate: 1e-3), totalUnits: nil, .finalNeedsTotal,
                       "--final-lr needs the schedule's length (--total, or --epochs for train)")
        // T = 6, warmup 5: the last trained epoch 5 is the first of the decay (n = 0).
        assertRejected(.init(finalLearningRate: 1e-3, warmup: 5), totalUnits: 6,
                       .finalUnreachable(final: 1e-3, decayedUnits: 0, stair: 1, unit: .epoch),
                       "--final-lr 0.001 cannot be reached: the last trained epoch is the first epoch of the decay")
        // T = 8, warmup 5, stairs of 3: the last trained epoch 7 is 2 epochs into the decay, on stair 0.
        assertRejected(.init(finalLearningRate: 1e-3, warmup: 5, staircase: 3), totalUnits: 8,
                       .finalUnreachable(final: 1e-3, decayedUnits: 2, stair: 3, unit: .epoch),
                       "--final-lr 0.001 cannot be reached: the last trained epoch is 2 epochs into the decay, "
                           + "still on its first stair of 3")
        XCTAssertNoThrow(try ExponentialSchedule(.init(finalLearningRate: 1e-3, warmup: 5), stepsPerEpoch: 1, totalUnits: 7))
    }

    func testSmoothNeedsEpochUnit() {
        assertRejected(.init(unit: .step, smooth: true), .smoothNeedsEpochUnit,
                       "--smooth needs --unit epoch; with --unit step the LR already changes every step")
    }

    func testConfigurationValidateChecksWithoutALength() {
        XCTAssertThrowsError(try ScheduleConfiguration(gamma: 2).validate()) { error in
            XCTAssertEqual(error as? ScheduleError, .gammaOutOfRange(2))
        }
        XCTAssertNoThrow(try ScheduleConfiguration(finalLearningRate: 1e-3).validate())
    }
}
