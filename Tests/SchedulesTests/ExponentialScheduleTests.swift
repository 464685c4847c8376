import Schedules
import TestSupport
import XCTest

/// Reference values are issue 3's list, computed independently with mpmath at 40 digits (the
/// formula in each comment); all are compared within 1e-12 relative.
final class ExponentialScheduleTests: XCTestCase {
    private let tolerance = 1e-12

    private func schedule(
        _ configuration: ScheduleConfiguration, stepsPerEpoch: Int = 1, totalUnits: Int? = nil
    ) throws -> ExponentialSchedule {
        try ExponentialSchedule(configuration, stepsPerEpoch: stepsPerEpoch, totalUnits: totalUnits)
    }

    private func rates(_ schedule: ExponentialSchedule, steps: Range<Int64>) -> [Double] {
        steps.map { schedule.lr(at: $0) }
    }

    // MARK: - Issue 3 reference values

    func testGammaPerEpochMatchesPyTorchExponentialLR() throws {
        // 0.1·0.9^t; PyTorch ExponentialLR(gamma=0.9) stepped once per epoch gives the same.
        let perEpoch = try schedule(.init(learningRate: 0.1, gamma: 0.9))
        assertAllClose(rates(perEpoch, steps: 0..<5), [0.1, 0.09, 0.081, 0.0729, 0.06561], relative: tolerance)
        // With 7 steps per epoch the LR is constant within each epoch.
        let sevenPerEpoch = try schedule(.init(learningRate: 0.1, gamma: 0.9), stepsPerEpoch: 7)
        assertAllClose(rates(sevenPerEpoch, steps: 0..<7), Array(repeating: 0.1, count: 7), relative: 0)
        assertAllClose(rates(sevenPerEpoch, steps: 7..<14), Array(repeating: 0.09, count: 7), relative: tolerance)
        assertClose(sevenPerEpoch.lr(at: 4 * 7 + 6), 0.06561, relative: tolerance)
    }

    func testSeedTableFigures() throws {
        // γ = 0.99: LR after 100 units = 0.99^100 = 0.36603234127322950493 (the seed's 36.6%).
        let slow = try schedule(.init(learningRate: 1, gamma: 0.99))
        assertClose(slow.lr(at: 100), 0.36603234127322950493, relative: tolerance)
        // γ = 0.9: 0.9^100 = 2.6561398887587476934e-5 = 0.00266% (the seed prints "0.003%").
        let fast = try schedule(.init(learningRate: 1, gamma: 0.9))
        assertClose(fast.lr(at: 100), 2.6561398887587476934e-5, relative: tolerance)
        XCTAssertFalse(isClose(fast.lr(at: 100), 3e-5, relative: 0.01), "the seed's 0.003% is wrong")
    }

    func testFinalLearningRateIsUsedByTheLastTrainedEpoch() throws {
        // 0.1 → 1e-4 over 100 epochs: γ = (1e-3)^(1/99) = 0.93260334688321986952, LR at epoch 99 = 1e-4.
        let target = try schedule(.init(learningRate: 0.1, finalLearningRate: 1e-4), totalUnits: 100)
        assertClose(target.gamma, 0.93260334688321986952, relative: tolerance)
        assertClose(target.lr(at: 99), 1e-4, relative: tolerance)
        // The seed's 0.9313 is wrong, and so is its exact formula (1e-3)^(1/100) = 0.93325430079699104353
        // for our convention: that reaches 1e-4 at epoch 100, one epoch after training ends.
        XCTAssertFalse(isClose(target.gamma, 0.9313, relative: tolerance))
        XCTAssertFalse(isClose(target.gamma, 0.93325430079699104353, relative: tolerance))
    }

    func testHalfLife() throws {
        // γ = 2^(−1/10) = 0.93303299153680741598; 0.1·2^(−20/10) = 0.025.
        let halving = try schedule(.init(learningRate: 0.1, halfLife: 10))
        assertClose(halving.gamma, 0.93303299153680741598, relative: tolerance)
        assertClose(halving.lr(at: 10), 0.05, relative: tolerance)
        assertClose(halving.lr(at: 20), 0.025, relative: tolerance)
    }

    func testWarmupThenDecayWithFloor() throws {
        // t < 5: 0.001 + (0.1 − 0.001)·t/5; then max(0.1·0.9^(t−5), 0.05).
        let warm = try schedule(.init(
            learningRate: 0.1, gamma: 0.9, warmup: 5, warmupStartLearningRate: 1e-3, minimumLearningRate: 0.05))
        let expected = [0.001, 0.0208, 0.0406, 0.0604, 0.0802, 0.1, 0.09, 0.081, 0.0729, 0.06561, 0.059049,
                        0.0531441, 0.05, 0.05]
        assertAllClose(rates(warm, steps: 0..<14), expected, relative: tolerance)
        let phases = (0..<14).map { warm.phase(at: Int64($0)) }
        XCTAssertEqual(phases, Array(repeating: .warmup, count: 5) + Array(repeating: .decay, count: 7)
            + [.floor, .floor])
    }

    func testStaircase() throws {
        // 0.1·0.9^(3·⌊t/3⌋), the seed's staircase; Keras/Optax decay_rate = 0.9^3 = 0.729.
        let stairs = try schedule(.init(learningRate: 0.1, gamma: 0.9, staircase: 3))
        assertAllClose(rates(stairs, steps: 0..<7), [0.1, 0.1, 0.1, 0.0729, 0.0729, 0.0729, 0.0531441],
                       relative: tolerance)
        assertClose(GammaConversion.perStairFactor(gamma: 0.9, stair: 3), 0.729, relative: tolerance)
    }

    func testSmoothMovesEveryStepAlongTheSameCurve() throws {
        // 0.1·0.95^(k/500): step 250 → 0.1·0.95^0.5 = 0.097467943448089639068;
        // per-step γ = 0.95^(1/500) = 0.99989741867304906479.
        let smooth = try schedule(.init(learningRate: 0.1, gamma: 0.95, smooth: true), stepsPerEpoch: 500)
        assertClose(smooth.lr(at: 250), 0.097467943448089639068, relative: tolerance)
        assertClose(smooth.lr(at: 1), 0.099989741867304906479, relative: tolerance)
        assertClose(smooth.lr(at: 1000), 0.09025, relative: tolerance)
        assertClose(smooth.lr(at: 1250), 0.087964818961900899259, relative: tolerance)
        let perStep = GammaConversion.perStepGamma(perEpochGamma: 0.95, stepsPerEpoch: 500)
        assertClose(perStep, 0.99989741867304906479, relative: tolerance)
        // The same curve as a per-step schedule with the converted γ.
        let stepped = try schedule(.init(learningRate: 0.1, gamma: perStep, unit: .step))
        for step: Int64 in [0, 1, 250, 499, 500, 1234] {
            assertClose(stepped.lr(at: step), smooth.lr(at: step), relative: tolerance, "step \(step)")
        }
        assertClose(GammaConversion.perEpochGamma(perStepGamma: perStep, stepsPerEpoch: 500), 0.95, relative: tolerance)
    }

    func testClosedFormStaysAccurateAtAMillionSteps() throws {
        // Exact reference: the binary value of the Double nearest 0.999999
        // (0.999998999999999971244335483789…) raised to 10^6 with mpmath at 40 digits.
        let exact = 0.367879257221066471203901
        let decay = try schedule(.init(learningRate: 1, gamma: 0.999999, unit: .step))
        assertClose(decay.lr(at: 1_000_000), exact, relative: tolerance)
        // The checker is tight enough to fail on a wrong value: the decimal 0.999999^(10^6)
        // = 0.3678792572316450942857981 differs by 2.9e-11 relative (γ's rounding, amplified 10^6 times).
        XCTAssertFalse(isClose(0.3678792572316450942857981, exact, relative: tolerance))
        XCTAssertFalse(isClose(exact * (1 + 2e-12), exact, relative: tolerance))
    }

    // MARK: - Combinations

    func testHoldAfterWarmupDelaysTheDecay() throws {
        // Warmup 2 from 0.01: 0.01, 0.055; hold 2 at 0.1; decay clock starts at t = 4: 0.1·0.5^(t−4).
        let held = try schedule(.init(
            learningRate: 0.1, gamma: 0.5, warmup: 2, warmupStartLearningRate: 0.01, hold: 2))
        assertAllClose(rates(held, steps: 0..<8), [0.01, 0.055, 0.1, 0.1, 0.1, 0.05, 0.025, 0.0125], relative: tolerance)
        XCTAssertEqual((0..<6).map { held.phase(at: Int64($0)) }, [.warmup, .warmup, .hold, .hold, .decay, .decay])
    }

    func testSmoothWarmupRisesEveryStep() throws {
        // 4 steps per epoch, warmup 1 epoch from 0.01: 0.01 + 0.09·k/4; then 0.1·0.5^(k/4 − 1):
        // k = 5, 6, 7 → 0.1·0.5^0.25, 0.1·0.5^0.5, 0.1·0.5^0.75 (mpmath).
        let configuration = ScheduleConfiguration(
            learningRate: 0.1, gamma: 0.5, smooth: true, warmup: 1, warmupStartLearningRate: 0.01)
        let smooth = try schedule(configuration, stepsPerEpoch: 4)
        assertAllClose(rates(smooth, steps: 0..<9),
                       [0.01, 0.0325, 0.055, 0.0775, 0.1, 0.084089641525371454303, 0.07071067811865475244,
                        0.059460355750136053336, 0.05], relative: tolerance)
        // Without --smooth the same schedule is constant within each epoch.
        var stepwise = configuration
        stepwise.smooth = false
        let perEpoch = try schedule(stepwise, stepsPerEpoch: 4)
        assertAllClose(rates(perEpoch, steps: 0..<9), [0.01, 0.01, 0.01, 0.01, 0.1, 0.1, 0.1, 0.1, 0.05], relative: tolerance)
    }

    func testStepUnitWithHoldStaircaseAndFloor() throws {
        // Step unit, hold 1, stairs of 2, floor 0.2: decay clock c = t − 1, lr = max(0.5^(2⌊c/2⌋), 0.2).
        let combined = try schedule(.init(
            learningRate: 1, gamma: 0.5, unit: .step, hold: 1, minimumLearningRate: 0.2, staircase: 2),
            stepsPerEpoch: 100)
        assertAllClose(rates(combined, steps: 0..<7), [1, 1, 1, 0.25, 0.25, 0.2, 0.2], relative: tolerance)
        XCTAssertEqual((0..<7).map { combined.phase(at: Int64($0)) },
                       [.hold, .decay, .decay, .decay, .decay, .floor, .floor])
    }

    func testFinalLearningRateAfterWarmupAndHold() throws {
        // T = 20, warmup 5, hold 5: the decay clock of the last trained epoch 19 is n = 9,
        // γ = (1e-3/0.1)^(1/9) = 0.59948425031894101481.
        let base = ScheduleConfiguration(learningRate: 0.1, finalLearningRate: 1e-3, warmup: 5, hold: 5)
        let target = try schedule(base, totalUnits: 20)
        assertClose(target.gamma, 0.59948425031894101481, relative: tolerance)
        assertClose(target.lr(at: 19), 1e-3, relative: tolerance)
        assertClose(target.lr(at: 10), 0.1, relative: tolerance)
        // With stairs of 4 the last trained epoch is on the stair starting at clock 8:
        // γ = (1e-2)^(1/8) = 0.56234132519034908039; epochs 18 and 19 both use 1e-3.
        var stairs = base
        stairs.staircase = 4
        let stepped = try schedule(stairs, totalUnits: 20)
        assertClose(stepped.gamma, 0.56234132519034908039, relative: tolerance)
        assertClose(stepped.lr(at: 18), 1e-3, relative: tolerance)
        assertClose(stepped.lr(at: 19), 1e-3, relative: tolerance)
        assertClose(stepped.lr(at: 17), 1e-2, relative: tolerance)
    }

    func testFinalLearningRateInSteps() throws {
        // 1001 steps: γ = 0.01^(1/1000) = 0.99540541735152696245, step 1000 uses 0.001.
        let target = try schedule(.init(learningRate: 0.1, finalLearningRate: 1e-3, unit: .step), totalUnits: 1001)
        assertClose(target.gamma, 0.99540541735152696245, relative: tolerance)
        assertClose(target.lr(at: 1000), 1e-3, relative: tolerance)
    }

    func testSmoothFinalLearningRateKeepsTheCurve() throws {
        // --smooth does not change γ: the first step of the last epoch uses final_lr.
        let smooth = try schedule(.init(learningRate: 0.1, finalLearningRate: 1e-4, smooth: true),
                                  stepsPerEpoch: 10, totalUnits: 100)
        assertClose(smooth.gamma, 0.93260334688321986952, relative: tolerance)
        assertClose(smooth.lr(at: 990), 1e-4, relative: tolerance)
        XCTAssertLessThan(smooth.lr(at: 999), 1e-4)
    }

    func testDefaultsAreDocumented() throws {
        let defaults = try schedule(.init(warmup: 2))
        XCTAssertEqual(defaults.gamma, 0.95)
        XCTAssertEqual(defaults.configuration.learningRate, 0.1)
        // The warmup never starts at LR 0: 1% of lr0 by default.
        XCTAssertEqual(defaults.warmupStartLearningRate, 0.001)
        XCTAssertGreaterThan(defaults.lr(at: 0), 0)
        // γ = 1 is a constant LR.
        let constant = try schedule(.init(gamma: 1))
        XCTAssertEqual(rates(constant, steps: 0..<4), [0.1, 0.1, 0.1, 0.1])
    }

    func testTableRowsArePerUnitOrPerStep() throws {
        let perEpoch = try schedule(.init(gamma: 0.9), stepsPerEpoch: 3)
        XCTAssertEqual(perEpoch.samples(count: 3).map(\.step), [0, 3, 6])
        XCTAssertEqual(perEpoch.samples(count: 3).map(\.epoch), [0, 1, 2])
        let smooth = try schedule(.init(gamma: 0.9, smooth: true), stepsPerEpoch: 3)
        XCTAssertEqual(smooth.samples(count: 4).map(\.step), [0, 1, 2, 3])
        XCTAssertEqual(smooth.samples(count: 4).map(\.epoch), [0, 0, 0, 1])
        let perStep = try schedule(.init(gamma: 0.9, unit: .step), stepsPerEpoch: 2)
        XCTAssertEqual(perStep.samples(count: 3).map(\.learningRate), [0.1, 0.1 * 0.9, perStep.lr(at: 2)])
        XCTAssertEqual(perStep.samples(count: 3).map(\.epoch), [0, 0, 1])
    }
}
