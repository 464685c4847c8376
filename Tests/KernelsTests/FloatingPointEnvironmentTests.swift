import Glibc
import Kernels
import XCTest

final class FloatingPointEnvironmentTests: XCTestCase {
    /// Keeps the value opaque to the optimiser so the multiplication happens at run time.
    @inline(never) private func halve(_ x: Float) -> Float { x * 0.5 }

    func testFlushToZeroFlushesSubnormalResults() throws {
        #if arch(x86_64)
        var saved = fenv_t()
        XCTAssertEqual(fegetenv(&saved), 0)
        defer { fesetenv(&saved) }
        XCTAssertTrue(halve(Float.leastNormalMagnitude).isSubnormal, "default mode keeps subnormals")
        XCTAssertTrue(FloatingPointEnvironment.enableFlushToZero())
        XCTAssertTrue(FloatingPointEnvironment.isFlushToZeroEnabled)
        XCTAssertEqual(halve(Float.leastNormalMagnitude), 0)
        #else
        throw XCTSkip("MXCSR flush-to-zero is x86-64 only")
        #endif
    }
}
