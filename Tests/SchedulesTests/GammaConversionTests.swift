import Schedules
import TestSupport
import XCTest

/// Reference values computed with mpmath at 40 digits from the formulas in the comments.
final class GammaConversionTests: XCTestCase {
    private let tolerance = 1e-12

    func testHalfLifeAndDecayConstant() throws {
        // 2^(−1/10); −ln 2^(−1/10) = ln 2 / 10; and back.
        assertClose(GammaConversion.gamma(halfLife: 10), 0.93303299153680741598, relative: tolerance)
        assertClose(GammaConversion.decayConstant(gamma: 0.9), 0.10536051565782630123, relative: tolerance)
        assertClose(try XCTUnwrap(GammaConversion.halfLife(gamma: 0.995)), 138.28257298606096599, relative: tolerance)
        assertClose(try XCTUnwrap(GammaConversion.halfLife(gamma: GammaConversion.gamma(halfLife: 3.5))), 3.5,
                    relative: tolerance)
        XCTAssertNil(GammaConversion.halfLife(gamma: 1))
    }

    func testTargetGammaUsesTheDecayedUnitCount() {
        // (1e-4 / 0.1)^(1/99) and the seed's own formula (…)^(1/100), exactly.
        assertClose(GammaConversion.gamma(initial: 0.1, final: 1e-4, decayedUnits: 99), 0.93260334688321986952,
                    relative: tolerance)
        assertClose(GammaConversion.gamma(initial: 0.1, final: 1e-4, decayedUnits: 100), 0.93325430079699104353,
                    relative: tolerance)
    }

    func testPerStepConversion() {
        // 0.95^(1/500); the seed's "0.9999 per step ≈ 0.95 per epoch" holds only near
        // ln 0.95 / ln 0.9999 = 512.9 steps per epoch.
        assertClose(GammaConversion.perStepGamma(perEpochGamma: 0.95, stepsPerEpoch: 500), 0.99989741867304906479,
                    relative: tolerance)
        XCTAssertFalse(isClose(GammaConversion.perStepGamma(perEpochGamma: 0.95, stepsPerEpoch: 100), 0.9999, relative: 1e-5))
        assertClose(GammaConversion.perStepGamma(perEpochGamma: 0.95, stepsPerEpoch: 513), 0.9999, relative: 1e-6)
    }
}
