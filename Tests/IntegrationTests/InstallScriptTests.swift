import Foundation
import TestSupport
import XCTest

/// `scripts/install.sh` puts `lockstep` on a PATH with the plotting scripts beside it, so the
/// installed command trains and draws its plots from any folder.
final class InstallScriptTests: XCTestCase {
    private static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/install.sh").path

    func testTheInstalledCommandRunsFromAnyFolderAndFindsItsScripts() throws {
        let directory = try ProcessRunner.temporaryDirectory("install")
        defer { try? FileManager.default.removeItem(at: directory) }
        let prefix = directory.appendingPathComponent("prefix")
        let install = try ProcessRunner.run(
            Self.script, [], environment: ["PREFIX": prefix.path, "LOCKSTEP_BINARY": ProcessRunner.lockstepBinary], timeout: 60)
        XCTAssertEqual(install.exitCode, 0, install.combinedOutput)
        XCTAssertTrue(install.standardOutput.contains("installed \(prefix.path)/bin/lockstep\n"), install.combinedOutput)
        XCTAssertTrue(install.standardOutput.contains("export PATH=\"\(prefix.path)/bin:$PATH\""), install.combinedOutput)
        let installed = prefix.appendingPathComponent("bin/lockstep").path
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: installed))
        XCTAssertTrue(FileManager.default.fileExists(atPath: prefix.appendingPathComponent("share/lockstep/scripts/plot_metrics.py").path))

        // From an unrelated folder, by name on the PATH: a run, then its plot.
        let elsewhere = directory.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let path = "\(prefix.path)/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let train = try ProcessRunner.run(
            "/bin/sh", ["-c", "lockstep train --no-plots --epochs 1 --limit-train 640 --limit-test 100 --run-dir run --progress none"],
            environment: ["PATH": path], workingDirectory: elsewhere.path, timeout: 60)
        XCTAssertEqual(train.exitCode, 0, train.combinedOutput)
        let plot = try ProcessRunner.run("/bin/sh", ["-c", "lockstep plot run"], environment: ["PATH": path],
                                         workingDirectory: elsewhere.path, timeout: 60)
        guard !plot.standardError.contains("matplotlib is not installed") else {
            throw missingTool("matplotlib, for the installed plot: \(plot.standardError)")
        }
        XCTAssertEqual(plot.exitCode, 0, plot.combinedOutput)
        XCTAssertTrue(FileManager.default.fileExists(atPath: elsewhere.appendingPathComponent("run/metrics.png").path), plot.combinedOutput)
    }
}
