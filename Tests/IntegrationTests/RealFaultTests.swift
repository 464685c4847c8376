import Checkpoints
import Foundation
import TestSupport
import XCTest

/// Faults made for real instead of simulated by fault injection: a disk that fills up in the
/// middle of a checkpoint write, and a data file the process may not read. Both need root (to
/// mount a tmpfs, to drop privileges); CI runs as root.
final class RealFaultTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("real-fault")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// A 300 KB tmpfs as the checkpoint directory: the checkpoint of step 13 (about 206 KB) fits,
    /// the one of step 26 runs out of space in the middle of its write. The job ends with exit 74
    /// and one message; step 13's checkpoint is intact and loads; no temporary file is left.
    func testADiskThatFillsUpMidWriteKeepsThePreviousCheckpoint() throws {
        guard getuid() == 0 else { throw missingTool("mounting a tmpfs needs root") }
        let checkpoints = directory.appendingPathComponent("small-disk")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        let mount = try ProcessRunner.run("/bin/mount", ["-t", "tmpfs", "-o", "size=300k", "tmpfs", checkpoints.path])
        guard mount.exitCode == 0 else { throw missingTool("cannot mount a tmpfs here: \(mount.combinedOutput)") }
        defer { _ = try? ProcessRunner.run("/bin/umount", [checkpoints.path]) }

        let result = try ProcessRunner.mpirun(ranks: 2, [
            "train", "--limit-train", "2496", "--limit-test", "500", "--epochs", "2", "--global-batch", "96",
            "--hidden", "32", "--checkpoint-every", "13", "--checkpoint-dir", checkpoints.path,
            "--run-dir", directory.appendingPathComponent("run").path,
        ], timeout: 90)
        XCTAssertEqual(result.exitCode, 74, result.combinedOutput)
        let errors = result.standardError.split(separator: "\n").filter { $0.contains("error:") }
        XCTAssertEqual(errors.count, 1, "reported once: \(result.combinedOutput)")
        XCTAssertTrue(errors.first?.contains("writing checkpoint failed: write \(checkpoints.path)/.ckpt-step-000000000026.safetensors.tmp-") ?? false,
                      result.combinedOutput)
        XCTAssertTrue(errors.first?.hasSuffix("No space left on device (errno 28)") ?? false, "a real failure, not marked injected: \(result.combinedOutput)")
        let listing = try CheckpointDirectory(url: checkpoints).list()
        XCTAssertEqual(listing.checkpoints.map(\.step), [13])
        XCTAssertEqual(listing.temporaryFiles, [], "the failed write's temporary file is removed")
        XCTAssertNoThrow(try CheckpointReader.read(from: listing.checkpoints[0].url), "the previous checkpoint is intact")
    }

    /// A training-images file the user may not read, as that user (not as root, which reads it
    /// anyway): exit 66, naming the file and the reason, and no run directory left behind.
    func testAnUnreadableDataFileIsRefusedForAnUnprivilegedUser() throws {
        guard getuid() == 0 else { throw missingTool("dropping privileges with setpriv needs root (as a user, DatasetsTests covers it)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { throw missingTool("setpriv (util-linux) is missing") }
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.copyItem(
                at: URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist").appendingPathComponent(name),
                to: data.appendingPathComponent(name))
        }
        let images = data.appendingPathComponent("train-images-idx3-ubyte.gz").path
        XCTAssertEqual(chmod(images, 0o000), 0)
        // The folders on the way must be enterable by the unprivileged user; the run directory's
        // parent writable by it.
        for path in [directory.path, data.path] { XCTAssertEqual(chmod(path, 0o777), 0) }
        let runDirectory = directory.appendingPathComponent("run").path
        let result = try ProcessRunner.run("/usr/bin/setpriv", [
            "--reuid=65534", "--regid=65534", "--clear-groups", ProcessRunner.lockstepBinary,
            "train", "--no-plots", "--data-dir", data.path, "--epochs", "1", "--run-dir", runDirectory,
        ], timeout: 60)
        XCTAssertEqual(result.exitCode, 66, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains(images), result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("permission denied"), result.combinedOutput)
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory + "/config.toml"), "nothing written")
    }
}
