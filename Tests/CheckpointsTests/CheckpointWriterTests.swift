import Foundation
import TestSupport
import XCTest
@testable import Checkpoints

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Atomic writing: the previous checkpoint survives every failure, and failures are precise.
///
/// Tests run as root, which ignores directory permissions, so permission failures are not
/// tested with a read-only directory. Real kernel failures are provoked instead with a parent
/// path that is a regular file (ENOTDIR), a missing directory (ENOENT), a directory in the way of
/// the rename (EISDIR) and the file-size resource limit (EFBIG, a real short write); ENOSPC goes
/// through the same path via the `failAfterBytes` fault.
final class CheckpointWriterTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("checkpoint-write")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    var target: URL { directory.appendingPathComponent("ckpt-step-000000000100.safetensors") }
    var temporary: URL { directory.appendingPathComponent(".ckpt-step-000000000100.safetensors.tmp-\(getpid())") }

    /// The directory's entries other than the checkpoint, which must be none after any write.
    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0 != target.lastPathComponent }.sorted()
    }

    func assertPreviousIntact(_ previous: Checkpoint, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try CheckpointReader.read(from: target), previous, file: file, line: line)
        XCTAssertEqual(try leftovers(), [], file: file, line: line)
    }

    func testWritesReplacesAndLeavesNoTemporaryFile() throws {
        let first = CheckpointSamples.mlp(seed: 1)
        try CheckpointWriter.write(first, to: target)
        var read = try CheckpointReader.read(from: target)
        XCTAssertEqual(read, first)
        XCTAssertEqual(read.source, target.path)
        XCTAssertEqual(try Data(contentsOf: target), Data(CheckpointEncoder.encode(first)))

        let second = CheckpointSamples.mlp(seed: 2)
        try CheckpointWriter.write(second, to: target)
        read = try CheckpointReader.read(from: target)
        XCTAssertEqual(read, second)
        XCTAssertNotEqual(read, first)
        XCTAssertEqual(try leftovers(), [])
    }

    func testParentThatIsARegularFile() throws {
        let plain = directory.appendingPathComponent("plain")
        try Data("x".utf8).write(to: plain)
        let url = plain.appendingPathComponent("ckpt.safetensors")
        XCTAssertThrowsError(try CheckpointWriter.write(CheckpointSamples.mlp(), to: url)) { error in
            XCTAssertEqual(
                error as? CheckpointError,
                .writeFailed(file: plain.appendingPathComponent(".ckpt.safetensors.tmp-\(getpid())").path, operation: "create", code: ENOTDIR))
            XCTAssertEqual((error as? CheckpointError)?.exitStatus, .io)
            XCTAssertTrue("\(error)".contains("Not a directory"), "\(error)")
        }
    }

    func testMissingDirectory() throws {
        let url = directory.appendingPathComponent("absent/ckpt.safetensors")
        XCTAssertThrowsError(try CheckpointWriter.write(CheckpointSamples.mlp(), to: url)) { error in
            guard case let .writeFailed(_, operation, code) = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(operation, "create")
            XCTAssertEqual(code, ENOENT)
        }
    }

    func testInjectedDiskFullFailureKeepsThePreviousCheckpoint() throws {
        let previous = CheckpointSamples.mlp(seed: 1)
        try CheckpointWriter.write(previous, to: target)
        XCTAssertThrowsError(
            try CheckpointWriter.write(CheckpointSamples.mlp(seed: 2), to: target, fault: .failAfterBytes(3000, code: ENOSPC))
        ) { error in
            XCTAssertEqual(error as? CheckpointError, .writeFailed(file: temporary.path, operation: "write", code: ENOSPC))
            XCTAssertEqual(
                (error as? CheckpointError)?.hint,
                "free disk space or choose another --checkpoint-dir; the previous checkpoint is intact")
        }
        try assertPreviousIntact(previous)
    }

    /// A real short write: the kernel refuses bytes past RLIMIT_FSIZE with EFBIG (SIGXFSZ ignored).
    func testRealShortWriteKeepsThePreviousCheckpoint() throws {
        let previous = CheckpointSamples.mlp(seed: 1)
        try CheckpointWriter.write(previous, to: target)
        let fileSize = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: target.path)[.size] as? Int)

        var original = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &original), 0)
        var limited = original
        limited.rlim_cur = rlim_t(fileSize / 2)
        let originalHandler = signal(SIGXFSZ, SIG_IGN)
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limited), 0)
        let result = Result { try CheckpointWriter.write(CheckpointSamples.mlp(seed: 2), to: target) }
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &original), 0)
        signal(SIGXFSZ, originalHandler)

        XCTAssertThrowsError(try result.get()) { error in
            XCTAssertEqual(error as? CheckpointError, .writeFailed(file: temporary.path, operation: "write", code: EFBIG))
        }
        try assertPreviousIntact(previous)
    }

    func testRenameFailureRemovesTheTemporaryFile() throws {
        try FileManager.default.createDirectory(at: target.appendingPathComponent("occupied"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try CheckpointWriter.write(CheckpointSamples.mlp(), to: target)) { error in
            XCTAssertEqual(
                error as? CheckpointError,
                .writeFailed(file: "\(temporary.path) to \(target.path)", operation: "rename", code: EISDIR))
        }
        XCTAssertEqual(try leftovers(), [])
    }

    func testFaultSpecifications() {
        XCTAssertEqual(CheckpointWriteFault(specification: "crash-after-bytes:100"), .crashAfterBytes(100))
        XCTAssertEqual(CheckpointWriteFault(specification: "fail-after-bytes:0"), .failAfterBytes(0, code: ENOSPC))
        for text in ["", "crash-after-bytes", "crash-after-bytes:", "crash-after-bytes:-1", "crash:5", "crash-after-bytes:5:6"] {
            XCTAssertNil(CheckpointWriteFault(specification: text), text)
        }
    }
}
