import Kernels
import XCTest

final class BLASCoreSelectionTests: XCTestCase {
    private let avx512: Set<String> = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]
    private let avx2: Set<String> = ["sse4_2", "avx", "avx2", "fma"]

    func testAutoReplacesGenericFallbackWithBestKernel() {
        XCTAssertEqual(BLASCoreSelection.decide(request: .auto, runningCore: "Prescott", environment: [:], cpuFlags: avx512),
                       .reexecute(core: "SkylakeX"))
        XCTAssertEqual(BLASCoreSelection.decide(request: .auto, runningCore: "Prescott", environment: [:], cpuFlags: avx2),
                       .reexecute(core: "Haswell"))
    }

    func testAutoKeepsARecognisedKernelAndTheUsersChoice() {
        XCTAssertEqual(BLASCoreSelection.decide(request: .auto, runningCore: "Haswell", environment: [:], cpuFlags: avx512), .keep)
        XCTAssertEqual(BLASCoreSelection.decide(request: .auto, runningCore: "Prescott",
                                                environment: ["OPENBLAS_CORETYPE": "Prescott"], cpuFlags: avx512), .keep)
        XCTAssertEqual(BLASCoreSelection.decide(request: .auto, runningCore: "Prescott", environment: [:], cpuFlags: ["sse2"]), .keep)
    }

    func testNamedAndLibraryRequests() {
        XCTAssertEqual(BLASCoreSelection.decide(request: .named("Haswell"), runningCore: "SkylakeX", environment: [:], cpuFlags: avx512),
                       .reexecute(core: "Haswell"))
        XCTAssertEqual(BLASCoreSelection.decide(request: .named("skylakex"), runningCore: "SkylakeX", environment: [:], cpuFlags: avx512), .keep)
        XCTAssertEqual(BLASCoreSelection.decide(request: .library, runningCore: "Prescott", environment: [:], cpuFlags: avx512), .keep)
        XCTAssertEqual(BLASCoreSelection.Request("AUTO"), .auto)
        XCTAssertEqual(BLASCoreSelection.Request("Zen"), .named("Zen"))
    }

    func testNeverReexecutesTwice() {
        XCTAssertEqual(BLASCoreSelection.decide(request: .named("Haswell"), runningCore: "Prescott",
                                                environment: [BLASCoreSelection.reexecutedMarker: "1"], cpuFlags: avx512), .keep)
    }

    func testRunningCoreIsReported() {
        XCTAssertFalse(BLASRuntime.coreName.isEmpty)
        XCTAssertNotEqual(BLASRuntime.coreName, "unknown")
    }
}
