import Coordination
import Foundation
import Synchronization
import XCTest

/// The stall watchdog turns a silence into one report naming the rank, the step and the activity,
/// and stays quiet while progress is recorded or after it is stopped.
final class StallWatchdogTests: XCTestCase {
    private final class Reports: Sendable {
        let stalls = Mutex<[StallWatchdog.Stall]>([])
    }

    func testSilenceIsReportedOnceWithTheStepAndTheActivity() throws {
        let reports = Reports()
        let stalled = expectation(description: "stall reported")
        let watchdog = StallWatchdog(timeout: 0.2, rank: 3) { stall in
            reports.stalls.withLock { $0.append(stall) }
            stalled.fulfill()
        }
        watchdog.enter(.gradientReduction, step: 41)
        wait(for: [stalled], timeout: 10)
        Thread.sleep(forTimeInterval: 0.5)  // a second report would come within this
        let stalls = reports.stalls.withLock { $0 }
        XCTAssertEqual(stalls.count, 1)
        XCTAssertEqual(stalls.first?.rank, 3)
        XCTAssertEqual(stalls.first?.step, 41)
        XCTAssertEqual(stalls.first?.activity, .gradientReduction)
        XCTAssertGreaterThanOrEqual(stalls.first?.idleSeconds ?? 0, 0.2)
        let text = stalls.first?.description ?? ""
        XCTAssertTrue(text.hasPrefix("rank 3: error: stalled: no progress for "), text)
        XCTAssertTrue(text.contains(
            " s at step 41 in the gradient reduction (allreduce); ending the job (--stall-timeout 0.2)\nrank 3: hint: "), text)
    }

    func testProgressAndStopKeepItQuiet() throws {
        let reports = Reports()
        let watchdog = StallWatchdog(timeout: 0.3, rank: 0) { stall in reports.stalls.withLock { $0.append(stall) } }
        for step in 0..<10 {
            watchdog.enter(.computingGradients, step: Int64(step))
            Thread.sleep(forTimeInterval: 0.05)
        }
        watchdog.stop()
        Thread.sleep(forTimeInterval: 0.8)
        XCTAssertEqual(reports.stalls.withLock { $0.count }, 0)
    }

    func testAZeroTimeoutWatchesNothing() throws {
        let reports = Reports()
        let watchdog = StallWatchdog(timeout: 0, rank: 0) { stall in reports.stalls.withLock { $0.append(stall) } }
        watchdog.enter(.startup, step: 0)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(reports.stalls.withLock { $0.count }, 0)
    }
}
