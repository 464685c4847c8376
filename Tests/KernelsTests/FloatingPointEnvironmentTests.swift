import Glibc
import Kernels
import XCTest

final class FloatingPointEnvironmentTests: XCTestCase {
    /// Keeps the value opaque to the optimiser so the multiplication happens at run time.
    @inline(never) private func halve(_ x: Float) -> Float { x * 0.5 }

    #if arch(x86_64)
    /// Turns FTZ and DAZ off on this thread, whatever earlier tests left on it.
    private func clearFlushToZero(from environment: fenv_t) {
        var cleared = environment
        cleared.__mxcsr &= ~UInt32((1 << 15) | (1 << 6))
        XCTAssertEqual(fesetenv(&cleared), 0)
    }
    #endif

    func testFlushToZeroFlushesSubnormalResults() throws {
        #if arch(x86_64)
        var saved = fenv_t()
        XCTAssertEqual(fegetenv(&saved), 0)
        defer { fesetenv(&saved) }
        clearFlushToZero(from: saved)
        XCTAssertTrue(halve(Float.leastNormalMagnitude).isSubnormal, "without FTZ subnormals are kept")
        XCTAssertTrue(FloatingPointEnvironment.enableFlushToZero())
        XCTAssertTrue(FloatingPointEnvironment.isFlushToZeroEnabled)
        XCTAssertEqual(halve(Float.leastNormalMagnitude), 0)
        #else
        throw XCTSkip("MXCSR flush-to-zero is x86-64 only")
        #endif
    }

    func testWithFlushToZeroRestoresTheCallersMode() throws {
        #if arch(x86_64)
        var saved = fenv_t()
        XCTAssertEqual(fegetenv(&saved), 0)
        defer { fesetenv(&saved) }
        clearFlushToZero(from: saved)
        let inside = FloatingPointEnvironment.withFlushToZero { halve(Float.leastNormalMagnitude) }
        XCTAssertEqual(inside, 0)
        XCTAssertTrue(halve(Float.leastNormalMagnitude).isSubnormal, "the caller's mode is back")
        #else
        throw XCTSkip("MXCSR flush-to-zero is x86-64 only")
        #endif
    }
}
