import Checkpoints
import Foundation
import TestSupport
import XCTest

/// `lockstep train --resume` refuses damaged files and checkpoints of another run with a precise
/// error and exit status, before training anything. (Every check is shown firing in process in
/// TrainingTests/ResumeRefusalTests; these go through the binary.)
final class ResumeRefusalCommandTests: XCTestCase {
    static let arguments = [
        "train", "--limit-train", "960", "--limit-test", "100", "--epochs", "2", "--global-batch", "96",
        "--hidden", "32", "--lr", "0.05",
    ]

    /// A checkpoint after 5 steps (SGD with momentum: data section 2 × 25,450 floats), written
    /// once for the class.
    nonisolated(unsafe) static var written: Result<URL, Error>?
    nonisolated(unsafe) static var classDirectory: URL?

    override class func setUp() {
        written = Result {
            let directory = try ProcessRunner.temporaryDirectory("resume-refusal-source")
            classDirectory = directory
            let result = try ProcessRunner.lockstep(arguments + ["--checkpoint-dir", directory.path, "--stop-after-steps", "5"])
            guard result.exitCode == 0 else { throw SourceRunFailure(output: result.combinedOutput) }
            return CheckpointDirectory(url: directory).url(step: 5)
        }
    }

    override class func tearDown() {
        if let classDirectory { try? FileManager.default.removeItem(at: classDirectory) }
    }

    var directory: URL!
    var source: URL!

    override func setUpWithError() throws {
        source = try XCTUnwrap(Self.written).get()
        directory = try ProcessRunner.temporaryDirectory("resume-refusal-command")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A copy of `source` with its bytes changed by `change`.
    func damaged(_ name: String, _ change: (inout [UInt8]) -> Void) throws -> URL {
        var bytes = try [UInt8](Data(contentsOf: source))
        change(&bytes)
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// Replaces the first occurrence of `old` in `bytes` by `new` (same length).
    func replace(_ old: String, with new: String, in bytes: inout [UInt8]) {
        let pattern = Array(old.utf8), replacement = Array(new.utf8)
        precondition(pattern.count == replacement.count, "\(old) and \(new) differ in length")
        guard let start = (0...(bytes.count - pattern.count)).first(where: { Array(bytes[$0..<($0 + pattern.count)]) == pattern }) else {
            return XCTFail("no \(old) in the checkpoint")
        }
        bytes.replaceSubrange(start..<(start + pattern.count), with: replacement)
    }

    func resume(_ url: URL, _ extra: [String] = []) throws -> ProcessResult {
        try ProcessRunner.lockstep(Self.arguments + ["--resume", url.path] + extra)
    }

    func testDamagedFilesAreRefusedWithPreciseErrors() throws {
        let size = try [UInt8](Data(contentsOf: source)).count
        let cases: [(name: String, change: (inout [UInt8]) -> Void, message: String)] = [
            ("truncated", { $0.removeLast(100) }, "is truncated: its header describes \(size) bytes, the file has \(size - 100)"),
            ("flipped", { $0[$0.count - 5] ^= 0x01 }, "is corrupt: the data section's CRC-32 is "),
            ("magic", { self.replace("lockstep-checkpoint", with: "lockstep-checkpoinX", in: &$0) },
             "is not a Lockstep checkpoint: metadata \"format\" is \"lockstep-checkpoinX\", expected \"lockstep-checkpoint\""),
            ("version", { self.replace("\"format_version\":\"2\"", with: "\"format_version\":\"9\"", in: &$0) },
             "has format version \"9\"; this build reads versions \"1\" and \"2\""),
            ("header-size", { bytes in withUnsafeBytes(of: (UInt64(1) << 60).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) } },
             "claims a 1152921504606846976-byte header, but only \(size - 8) bytes follow the header length"),
            ("offsets", { self.replace("\"data_offsets\":[203560,203600]", with: "\"data_offsets\":[903560,903600]", in: &$0) },
             "tensor \"optimizer.momentum_buffer.3.bias\" starts at data byte 903560, expected 203560 (the data section has a hole)"),
        ]
        for (name, change, message) in cases {
            let url = try damaged(name, change)
            let result = try resume(url)
            XCTAssertEqual(result.exitCode, 65, "\(name): \(result.combinedOutput)")
            XCTAssertTrue(result.standardError.hasPrefix("error: checkpoint \(url.path)") || result.standardError.hasPrefix("error: \(url.path) "),
                          "\(name): \(result.combinedOutput)")
            XCTAssertTrue(result.standardError.contains(message), "\(name): \(result.combinedOutput)")
            XCTAssertFalse(result.standardOutput.contains("epoch 1/"), "\(name): nothing trained")
        }
    }

    func testTwoRanksReportACorruptCheckpointOnceWithTheDataStatus() throws {
        let url = try damaged("flipped") { $0[$0.count - 5] ^= 0x01 }
        let result = try ProcessRunner.mpirun(ranks: 2, Self.arguments + ["--resume", url.path], timeout: 60)
        XCTAssertEqual(result.exitCode, 65, result.combinedOutput)
        let errors = result.standardError.split(separator: "\n").filter { $0.contains("error:") }
        XCTAssertEqual(errors.count, 1, "every rank decoded the same broadcast bytes; rank 0 alone reports: \(result.combinedOutput)")
        XCTAssertTrue(errors.first?.hasPrefix("error: checkpoint \(url.path) is corrupt: the data section's CRC-32 is ") == true,
                      result.combinedOutput)
    }

    func testADifferentConfigurationIsRefusedNamingTheFieldAndFlag() throws {
        let changed = try resume(source, ["--lr", "0.1"])
        XCTAssertEqual(changed.exitCode, 64, changed.combinedOutput)
        XCTAssertEqual(changed.standardError, """
            error: checkpoint \(source.path) was written with a different configuration (checkpoint → command line): \
            schedule.learningRate (--lr): 0.05 → 0.1
            hint: resume with the options the checkpoint was written with (lockstep checkpoint inspect shows its \
            configuration), or pass --allow-config-change to change them deliberately

            """)
        let fixed = try resume(source, ["--hidden", "16", "--allow-config-change"])
        XCTAssertEqual(fixed.exitCode, 64, fixed.combinedOutput)
        XCTAssertTrue(fixed.standardError.hasPrefix(
            "error: checkpoint \(source.path) cannot be resumed with a different hiddenSizes (--hidden) (checkpoint → command line: [32] → [16])"),
            fixed.combinedOutput)
        let allowed = try resume(source, ["--epochs", "3", "--allow-config-change"])
        XCTAssertEqual(allowed.exitCode, 0, allowed.combinedOutput)
        XCTAssertTrue(allowed.standardError.contains("warning: configuration changed on resume: epochs (--epochs): 2 → 3\n"),
                      allowed.combinedOutput)
        XCTAssertTrue(allowed.standardOutput.contains("epoch 3/3 "), allowed.combinedOutput)
    }

    func testTensorsThatDoNotMatchTheModelAreRefused() throws {
        var checkpoint = try CheckpointReader.read(from: source)
        let index = try XCTUnwrap(checkpoint.tensors.firstIndex { $0.name == "1.bias" })
        checkpoint.tensors[index] = CheckpointTensor(name: "1.bias", shape: [31], values: Array(repeating: 0, count: 31))
        let url = directory.appendingPathComponent("shapes.safetensors")
        try CheckpointWriter.write(checkpoint, to: url)
        let result = try resume(url)
        XCTAssertEqual(result.exitCode, 65, result.combinedOutput)
        XCTAssertTrue(result.standardError.hasPrefix(
            "error: checkpoint \(url.path) does not match the model: shape mismatch 1.bias (model [32], checkpoint [31])\n"),
            result.combinedOutput)
    }

    func testResumeAutoInADirectoryWithOnlyATemporaryFileIsRefused() throws {
        let stray = directory.appendingPathComponent("stray")
        try FileManager.default.createDirectory(at: stray, withIntermediateDirectories: true)
        try Data(repeating: 7, count: 64).write(to: stray.appendingPathComponent(".ckpt-step-000000000010.safetensors.tmp-99"))
        let result = try ProcessRunner.lockstep(Self.arguments + ["--checkpoint-dir", stray.path, "--resume", "auto"])
        XCTAssertEqual(result.exitCode, 65, result.combinedOutput)
        XCTAssertTrue(result.standardError.hasPrefix("""
            error: checkpoint directory \(stray.path) holds no checkpoint, only the temporary file \
            .ckpt-step-000000000010.safetensors.tmp-99 of an interrupted write
            hint: the run was killed while writing its first checkpoint
            """), result.combinedOutput)
    }

    func testResumeAutoNeedsACheckpointDirectory() throws {
        let result = try ProcessRunner.lockstep(Self.arguments + ["--resume", "auto"])
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains(
            "--resume auto needs the run to continue: --run-dir DIR (its checkpoints/ folder) or --checkpoint-dir DIR"),
            result.combinedOutput)
    }
}

private struct SourceRunFailure: Error, CustomStringConvertible {
    let output: String
    var description: String { "the run writing the source checkpoint failed:\n\(output)" }
}
