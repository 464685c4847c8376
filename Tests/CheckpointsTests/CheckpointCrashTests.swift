import Foundation
import TestSupport
import XCTest
@testable import Checkpoints

/// `kill -9` in the middle of a checkpoint write: a child process (this test binary, running
/// only `testChildWritesWithAFault`) writes step 200 with `CheckpointWriteFault.crashAfterBytes`,
/// and the parent checks that step 100 survives and is what `--resume auto` picks.
final class CheckpointCrashTests: XCTestCase {
    static let directoryVariable = "LOCKSTEP_TEST_CRASH_DIRECTORY"
    static let faultVariable = "LOCKSTEP_TEST_CRASH_FAULT"

    /// The child's side; skipped unless the parent started it.
    func testChildWritesWithAFault() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let path = environment[Self.directoryVariable], let specification = environment[Self.faultVariable] else {
            throw XCTSkip("runs only as the child process of the other tests in CheckpointCrashTests")
        }
        let fault = try XCTUnwrap(CheckpointWriteFault(specification: specification))
        try CheckpointDirectory(url: URL(fileURLWithPath: path)).write(CheckpointSamples.mlp(seed: 2), step: 200, fault: fault)
        XCTFail("the fault \(specification) should have killed this process")
    }

    func testKillMidWriteKeepsThePreviousCheckpoint() throws {
        try crash(afterBytes: 3000)
    }

    func testKillAfterTheLastByteBeforeRenameKeepsThePreviousCheckpoint() throws {
        try crash(afterBytes: Int.max)
    }

    func crash(afterBytes byteCount: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try ProcessRunner.temporaryDirectory("checkpoint-crash")
        defer { try? FileManager.default.removeItem(at: url) }
        let directory = CheckpointDirectory(url: url)
        let previous = CheckpointSamples.mlp(seed: 1)
        try directory.write(previous, step: 100)

        let result = try ProcessRunner.run(
            CommandLine.arguments[0], ["CheckpointsTests.CheckpointCrashTests/testChildWritesWithAFault"],
            environment: [Self.directoryVariable: url.path, Self.faultVariable: "crash-after-bytes:\(byteCount)"])
        XCTAssertEqual(result.exitCode, SIGKILL, "the child should die of SIGKILL\n\(result.combinedOutput)", file: file, line: line)

        let listing = try directory.list()
        XCTAssertEqual(listing.checkpoints.map(\.step), [100], file: file, line: line)
        XCTAssertEqual(listing.temporaryFiles.count, 1, file: file, line: line)
        let temporary = try XCTUnwrap(listing.temporaryFiles.first)
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: temporary.path)[.size] as? Int)
        XCTAssertEqual(size, min(byteCount, CheckpointEncoder.encode(CheckpointSamples.mlp(seed: 2)).count), file: file, line: line)

        let latest = try XCTUnwrap(try directory.latest(), file: file, line: line)
        XCTAssertEqual(latest.step, 100, file: file, line: line)
        XCTAssertEqual(latest.checkpoint, previous, file: file, line: line)
        XCTAssertEqual(
            latest.warnings,
            ["ignoring \(temporary.path), the temporary file of an interrupted checkpoint write (safe to delete)"],
            file: file, line: line)
    }
}
