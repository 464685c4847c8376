import Schedules
import TestSupport
import XCTest

/// Reference values computed with mpmath at 40 digits from the formulas in the comments.
final class ScheduleAnalysisTests: XCTestCase {
    private let tolerance = 1e-12

    private func analysis(
        _ configuration: ScheduleConfiguration, stepsPerEpoch: Int = 1, totalUnits: Int
    ) throws -> ScheduleAnalysis {
        ScheduleAnalysis(try ExponentialSchedule(configuration, stepsPerEpoch: stepsPerEpoch, totalUnits: totalUnits))
    }

    private func kinds(_ analysis: ScheduleAnalysis) -> [ScheduleAnalysis.WarningKind] {
        analysis.warnings.map(\.kind)
    }

    func testSeedTableFiguresForGamma099() throws {
        let figures = try analysis(.init(learningRate: 0.1, gamma: 0.99), totalUnits: 100)
        // λ = −ln 0.99, h = ln 2 / λ, ln 0.01 / ln 0.99 (the seed's table: 0.01005, 69, —).
        assertClose(figures.decayConstant, 0.010050335853501441184, relative: tolerance)
        assertClose(try XCTUnwrap(figures.halfLife), 68.967563936528493296, relative: tolerance)
        assertClose(try XCTUnwrap(figures.unitsToOnePercent), 458.21057655338890835, relative: tolerance)
        assertClose(figures.decayPercentPerUnit, 1, relative: tolerance)
        // LR at 0, 25, 50, 75 and the last trained epoch 99: 0.1·0.99^u.
        XCTAssertEqual(figures.milestones.map(\.unit), [0, 25, 50, 75, 99])
        assertAllClose(figures.milestones.map(\.learningRate),
                       [0.1, 0.077782135939914677201, 0.060500606713753665045, 0.047058664158565021611,
                        0.036972963764972677266], relative: tolerance)
        assertClose(figures.finalLearningRate, 0.036972963764972677266, relative: tolerance)
        // Halvings by epoch 99: 99·λ / ln 2.
        assertClose(figures.halvings, 1.4354573998163925867, relative: tolerance)
        XCTAssertEqual(figures.warnings, [])
        XCTAssertNil(figures.perStairFactor)
        XCTAssertNil(figures.perStepGamma)
    }

    func testSeedTableFiguresForGamma09() throws {
        let figures = try analysis(.init(learningRate: 1, gamma: 0.9), totalUnits: 101)
        // h = ln 2 / −ln 0.9; LR at 100 = 0.9^100 (the seed's "6.6 epochs", "0.003%").
        assertClose(try XCTUnwrap(figures.halfLife), 6.5788134789605837831, relative: tolerance)
        assertClose(figures.finalLearningRate, 2.6561398887587476934e-5, relative: tolerance)
    }

    func testStaircaseAndPerStepFigures() throws {
        let figures = try analysis(.init(gamma: 0.95, staircase: 3), stepsPerEpoch: 500, totalUnits: 30)
        // Keras/Optax decay_rate = 0.95^3 = 0.857375; per-step γ = 0.95^(1/500).
        assertClose(try XCTUnwrap(figures.perStairFactor), 0.857375, relative: tolerance)
        assertClose(try XCTUnwrap(figures.perStepGamma), 0.99989741867304906479, relative: tolerance)
    }

    func testConstantScheduleNeverHalves() throws {
        let figures = try analysis(.init(gamma: 1), totalUnits: 10)
        XCTAssertNil(figures.halfLife)
        XCTAssertNil(figures.unitsToOnePercent)
        XCTAssertEqual(figures.halvings, 0)
        XCTAssertEqual(kinds(figures), [], "a constant rate is deliberate")
    }

    // MARK: - Warnings

    func testHalfLifeOfATenthOfTheRunDoesNotWarn() throws {
        // 2^(−1/10) recomputes its half-life as 9.999999999999998: a float-fragile boundary (NOTES.md).
        let figures = try analysis(.init(halfLife: 10), totalUnits: 100)
        XCTAssertEqual(figures.warnings, [])
        XCTAssertLessThanOrEqual(try XCTUnwrap(figures.halfLife), 10)
        assertClose(figures.halvings, 9.9, relative: tolerance)
    }

    func testExactlyTenHalvingsDoesNotWarnButElevenDo() throws {
        // T = 101, h = 10: ten halvings by epoch 100, not more than 10; but h < T/10 = 10.1.
        let ten = try analysis(.init(halfLife: 10), totalUnits: 101)
        assertClose(ten.halvings, 10, relative: tolerance)
        XCTAssertEqual(kinds(ten), [.shortHalfLife])
        let eleven = try analysis(.init(halfLife: 10), totalUnits: 111)
        XCTAssertEqual(kinds(eleven), [.moreThanTenHalvings, .shortHalfLife])
    }

    func testHalfAHalvingDoesNotWarnButLessDoes() throws {
        let one = try analysis(.init(gamma: 0.5), totalUnits: 2)
        assertClose(one.halvings, 1, relative: tolerance)
        XCTAssertEqual(one.warnings, [])
        // 0.5^(1/2) per unit over 2 units (1 decaying step): exactly half a halving.
        let half = try analysis(.init(gamma: 0.5.squareRoot()), totalUnits: 2)
        assertClose(half.halvings, 0.5, relative: tolerance)
        XCTAssertEqual(half.warnings, [])
        // lockstep's defaults (γ 0.95 over 10 epochs: 0.666 halvings, 0.8851 test accuracy) and a
        // deliberate constant rate do not warn.
        XCTAssertEqual(try analysis(.init(gamma: 0.95), totalUnits: 10).warnings, [])
        XCTAssertEqual(try analysis(.init(gamma: 1), totalUnits: 10).warnings, [])
        let slow = try analysis(.init(gamma: 0.999), totalUnits: 100)
        XCTAssertEqual(kinds(slow), [.lessThanOneHalving])
        XCTAssertEqual(
            slow.warnings.first?.message,
            "the LR halves only 0.1429 times by the last trained epoch (99): the decay barely matters; "
                + "decay faster (smaller --gamma, --half-life or --final-lr)")
    }

    func testEveryConditionFiresOnceAtMost() throws {
        // 0.1·0.5^99 = 1.6e-31: tiny final LR, 99 halvings, half-life 1 < 10.
        let fast = try analysis(.init(gamma: 0.5), totalUnits: 100)
        XCTAssertEqual(kinds(fast), [.finalLearningRateTiny, .moreThanTenHalvings, .shortHalfLife])
        XCTAssertEqual(
            fast.warnings.first?.message,
            "the LR of the last trained epoch (99) is 1.578e-31, below 1e-08: such updates change almost nothing; "
                + "decay more slowly or set --min-lr")
        XCTAssertEqual(
            fast.warnings.last?.message,
            "the half-life (1 epoch) is shorter than a tenth of the run (10 epochs): the LR decays too fast")
    }

    func testFinalLearningRateAtTheTinyBoundaryDoesNotWarn() throws {
        // The last trained epoch uses exactly 1e-8 (up to rounding): log2(1e7) = 23.253496664211536435 halvings.
        let boundary = try analysis(.init(learningRate: 0.1, finalLearningRate: 1e-8), totalUnits: 100)
        assertClose(boundary.finalLearningRate, 1e-8, relative: tolerance)
        assertClose(boundary.halvings, 23.253496664211536435, relative: tolerance)
        XCTAssertFalse(kinds(boundary).contains(.finalLearningRateTiny))
    }

    func testTheFloorLimitsTheHalvings() throws {
        // Floor 0.025 = lr0/4: two halvings, however fast the curve.
        let floored = try analysis(.init(learningRate: 0.1, gamma: 0.5, minimumLearningRate: 0.025), totalUnits: 100)
        assertClose(floored.halvings, 2, relative: tolerance)
        XCTAssertEqual(kinds(floored), [.shortHalfLife])
    }

    func testMilestonesIncludeWarmupAndHold() throws {
        // T = 8, warmup 2 from 0.01, hold 2, γ = 0.5: units 0, 2, 4, 6, 7 → 0.01, 0.1, 0.1, 0.025, 0.0125.
        let figures = try analysis(
            .init(learningRate: 0.1, gamma: 0.5, warmup: 2, warmupStartLearningRate: 0.01, hold: 2), totalUnits: 8)
        XCTAssertEqual(figures.milestones.map(\.unit), [0, 2, 4, 6, 7])
        assertAllClose(figures.milestones.map(\.learningRate), [0.01, 0.1, 0.1, 0.025, 0.0125], relative: tolerance)
        assertClose(figures.halvings, 3, relative: tolerance)
    }

    func testShortRunsHaveNoDuplicateMilestones() throws {
        XCTAssertEqual(try analysis(.init(), totalUnits: 1).milestones.map(\.unit), [0])
        XCTAssertEqual(try analysis(.init(), totalUnits: 3).milestones.map(\.unit), [0, 1, 2])
    }
}
