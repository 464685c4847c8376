import Foundation
import TestSupport
import XCTest
@testable import Checkpoints

/// Naming, `--resume auto` selection with fallback, and `--keep-last` pruning.
final class CheckpointDirectoryTests: XCTestCase {
    var url: URL!
    var directory: CheckpointDirectory { CheckpointDirectory(url: url) }

    override func setUpWithError() throws {
        url = try ProcessRunner.temporaryDirectory("checkpoint-directory")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: url)
    }

    func touch(_ name: String, _ contents: String = "") throws {
        try Data(contents.utf8).write(to: url.appendingPathComponent(name))
    }

    // MARK: - Names

    func testFileNames() {
        XCTAssertEqual(CheckpointDirectory.fileName(step: 0), "ckpt-step-000000000000.safetensors")
        XCTAssertEqual(CheckpointDirectory.fileName(step: 123), "ckpt-step-000000000123.safetensors")
        XCTAssertEqual(CheckpointDirectory.fileName(step: 999_999_999_999), "ckpt-step-999999999999.safetensors")
        XCTAssertEqual(CheckpointDirectory.step(fromFileName: "ckpt-step-000000000123.safetensors"), 123)
        for name in [
            "ckpt-step-00000000123.safetensors", "ckpt-step-0000000001234.safetensors", "ckpt-step-00000000012x.safetensors",
            "ckpt-step-000000000123.safetensors.tmp-5", ".ckpt-step-000000000123.safetensors", "ckpt-step-+00000000123.safetensors",
            "ckpt-step-000000000123.safetensor",
        ] {
            XCTAssertNil(CheckpointDirectory.step(fromFileName: name), name)
        }
        XCTAssertTrue(CheckpointDirectory.isTemporaryFileName(".ckpt-step-000000000123.safetensors.tmp-4242"))
        XCTAssertEqual(
            CheckpointWriter.temporaryFileName(for: "ckpt-step-000000000123.safetensors"),
            ".ckpt-step-000000000123.safetensors.tmp-\(getpid())")
        for name in [
            "ckpt-step-000000000123.safetensors.tmp-4242", ".ckpt-step-000000000123.safetensors.tmp-", ".ckpt-step-000000000123.safetensors.tmp-x1",
            ".other.safetensors.tmp-1",
        ] {
            XCTAssertFalse(CheckpointDirectory.isTemporaryFileName(name), name)
        }
    }

    // MARK: - Latest

    func testMissingOrEmptyDirectoryIsAFreshStart() throws {
        XCTAssertNil(try directory.latest())
        XCTAssertNil(try CheckpointDirectory(url: url.appendingPathComponent("absent")).latest())
        try touch("notes.txt", "unrelated")
        XCTAssertNil(try directory.latest())
    }

    func testDirectoryPathThatIsAFile() throws {
        try touch("plain")
        let plain = url.appendingPathComponent("plain")
        XCTAssertThrowsError(try CheckpointDirectory(url: plain).latest()) { error in
            XCTAssertEqual(error as? CheckpointError, .directoryUnreadable(directory: plain.path, code: ENOTDIR))
            XCTAssertEqual((error as? CheckpointError)?.exitStatus, .missingInput)
        }
    }

    func testPicksTheHighestStepNotTheNewestFile() throws {
        try directory.write(CheckpointSamples.mlp(seed: 9), step: 900)
        try directory.write(CheckpointSamples.mlp(seed: 10), step: 1000)
        try directory.write(CheckpointSamples.mlp(seed: 2), step: 200)  // written last
        let latest = try XCTUnwrap(try directory.latest())
        XCTAssertEqual(latest.step, 1000)
        XCTAssertEqual(latest.url, directory.url(step: 1000))
        XCTAssertEqual(latest.checkpoint, CheckpointSamples.mlp(seed: 10))
        XCTAssertEqual(latest.warnings, [])
    }

    func testCorruptNewestFallsBackWithAWarning() throws {
        try directory.write(CheckpointSamples.mlp(seed: 1), step: 100)
        let newest = try directory.write(CheckpointSamples.mlp(seed: 2), step: 200)
        var bytes = try [UInt8](Data(contentsOf: newest))
        bytes[bytes.count - 1] ^= 1
        try Data(bytes).write(to: newest)
        let stored = try CheckpointReader.decode(CheckpointEncoder.encode(CheckpointSamples.mlp(seed: 2)), source: "").layout.dataCRC32

        let latest = try XCTUnwrap(try directory.latest())
        XCTAssertEqual(latest.step, 100)
        XCTAssertEqual(latest.checkpoint, CheckpointSamples.mlp(seed: 1))
        XCTAssertEqual(latest.warnings.count, 2)
        XCTAssertTrue(latest.warnings[0].hasPrefix("skipping an unusable checkpoint: checkpoint \(newest.path) is corrupt: the data section's CRC-32 is "), latest.warnings[0])
        XCTAssertTrue(latest.warnings[0].hasSuffix("the header says \(CheckpointFormat.checksumString(stored))"), latest.warnings[0])
        XCTAssertEqual(latest.warnings[1], "resuming from the newest valid checkpoint instead, \(directory.url(step: 100).path)")
    }

    func testNoReadableCheckpointIsAnError() throws {
        try touch(CheckpointDirectory.fileName(step: 100), "garbage")
        try touch(CheckpointDirectory.fileName(step: 200))
        let path100 = directory.url(step: 100).path
        let path200 = directory.url(step: 200).path
        XCTAssertThrowsError(try directory.latest()) { error in
            XCTAssertEqual(
                error as? CheckpointError,
                .noValidCheckpoint(
                    directory: url.path,
                    failures: [
                        "checkpoint \(path200) is 0 bytes long; expected at least the 8-byte header length",
                        "checkpoint \(path100) is 7 bytes long; expected at least the 8-byte header length",
                    ]))
            XCTAssertEqual((error as? CheckpointError)?.exitStatus, .data)
        }
    }

    func testOnlyATemporaryFileIsAPreciseError() throws {
        try touch(".ckpt-step-000000000100.safetensors.tmp-31337", "partial")
        XCTAssertThrowsError(try directory.latest()) { error in
            let error = error as? CheckpointError
            XCTAssertEqual(error, .onlyTemporaryFiles(directory: url.path, files: [".ckpt-step-000000000100.safetensors.tmp-31337"]))
            XCTAssertEqual(
                error?.description,
                "checkpoint directory \(url.path) holds no checkpoint, only the temporary file "
                    + ".ckpt-step-000000000100.safetensors.tmp-31337 of an interrupted write")
            XCTAssertEqual(error?.exitStatus, .data)
            XCTAssertNotNil(error?.hint)
        }
    }

    // MARK: - Pruning

    func testPruneKeepsTheLastKAndNothingElseIsTouched() throws {
        for step: Int64 in [5, 10, 15, 20, 25] { try directory.write(CheckpointSamples.mlp(seed: UInt64(step)), step: step) }
        try touch(".ckpt-step-000000000030.safetensors.tmp-999", "partial")
        try touch("notes.txt")

        let deleted = try directory.prune(keepLast: 2)
        XCTAssertEqual(deleted, [5, 10, 15].map { directory.url(step: $0) })
        XCTAssertEqual(try directory.list().checkpoints.map(\.step), [20, 25])
        XCTAssertEqual(try directory.list().temporaryFiles.map(\.lastPathComponent), [".ckpt-step-000000000030.safetensors.tmp-999"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: url.appendingPathComponent("notes.txt").path))
        XCTAssertEqual(try directory.prune(keepLast: 2), [])
        XCTAssertEqual(try directory.prune(keepLast: 1), [directory.url(step: 20)])
        XCTAssertEqual(try directory.latest()?.step, 25)
    }

    func testPruneNeverDeletesTheCheckpointJustWritten() throws {
        // Files of higher steps (another run's) would otherwise make step 5 the oldest.
        for step: Int64 in [20, 25, 5] { try directory.write(CheckpointSamples.mlp(seed: UInt64(step)), step: step) }
        let deleted = try directory.prune(keepLast: 1, keeping: directory.url(step: 5))
        XCTAssertEqual(deleted, [directory.url(step: 20)])
        XCTAssertEqual(try directory.list().checkpoints.map(\.step), [5, 25])
    }

    func testWriteCreatesTheDirectoryAndReportsFailure() throws {
        let nested = CheckpointDirectory(url: url.appendingPathComponent("a/b"))
        let written = try nested.write(CheckpointSamples.mlp(), step: 7)
        XCTAssertEqual(written, nested.url(step: 7))
        XCTAssertEqual(try CheckpointReader.read(from: written), CheckpointSamples.mlp())

        try touch("plain")
        let blocked = CheckpointDirectory(url: url.appendingPathComponent("plain/sub"))
        XCTAssertThrowsError(try blocked.write(CheckpointSamples.mlp(), step: 7)) { error in
            guard case let .writeFailed(file, operation, code) = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(code, ENOTDIR)
            XCTAssertEqual(file, blocked.url.path)
            XCTAssertEqual(operation, "create directory")
        }
    }
}
