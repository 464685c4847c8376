import Foundation
import Job
import TestSupport
import XCTest
@testable import lockstep

/// The run directory: where it is, what goes in it, the same on every rank.
final class RunDirectoryTests: XCTestCase {
    /// The default name is the time, made unique. Two runs asking in the same second: the name
    /// is claimed by creating the folder, so the second gets `-2` even though the first has not
    /// written anything yet (choosing by looking gave both the same name: the overwrite of issue 15).
    func testTheDefaultNameIsTheTimeClaimedAtomically() throws {
        let parent = try temporaryDirectory(for: self).appendingPathComponent("runs").path
        let date = DateComponents(
            calendar: Calendar.current, year: 2026, month: 11, day: 29, hour: 14, minute: 15, second: 2).date!
        let first = try RunDirectory.claimUniqueDefault(parent: parent, now: date)
        let second = try RunDirectory.claimUniqueDefault(parent: parent, now: date)
        XCTAssertEqual(first, parent + "/20261129-141502")
        XCTAssertEqual(second, parent + "/20261129-141502-2")
        // A claimed folder that stays empty is released; one holding files is kept.
        RunDirectory(path: first, claimed: true).releaseIfEmpty()
        XCTAssertFalse(FileManager.default.fileExists(atPath: first))
        try "x".write(toFile: second + "/config.toml", atomically: true, encoding: .utf8)
        RunDirectory(path: second, claimed: true).releaseIfEmpty()
        XCTAssertEqual(RunDirectory(path: second).existingRun(), ["config.toml"])
    }

    /// A run refused at start-up leaves no `runs/` folder behind when it created one, and leaves
    /// an empty one that was already there.
    func testARunThatDoesNotStartRemovesTheRunsFolderItCreated() throws {
        let scratch = try temporaryDirectory(for: self)
        let created = scratch.appendingPathComponent("new-runs").path
        let refused = try lockstep(
            ["train", "--world-size-invariant", "--micro-batch", "24"] + tinyRun, environment: ["LOCKSTEP_RUNS_DIR": created])
        XCTAssertEqual(refused.exitCode, 64, refused.combinedOutput)
        XCTAssertFalse(FileManager.default.fileExists(atPath: created), "the runs folder it created is gone")
        let existing = scratch.appendingPathComponent("old-runs").path
        try FileManager.default.createDirectory(atPath: existing, withIntermediateDirectories: false)
        let again = try lockstep(
            ["train", "--world-size-invariant", "--micro-batch", "24"] + tinyRun, environment: ["LOCKSTEP_RUNS_DIR": existing])
        XCTAssertEqual(again.exitCode, 64, again.combinedOutput)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: existing), [], "kept, empty")
    }

    /// A 2-rank run without --run-dir: one new folder, named by the time, holding the files; rank
    /// 0 names it at the start and at the end.
    func testTwoRanksShareOneDefaultRunDirectory() throws {
        let runs = try temporaryDirectory(for: self)
        let result = try ProcessRunner.mpirun(
            ranks: 2, ["train", "--no-plots"] + tinyRun, environment: ["LOCKSTEP_RUNS_DIR": runs.path])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let folders = try FileManager.default.contentsOfDirectory(atPath: runs.path)
        XCTAssertEqual(folders.count, 1, "\(folders)")
        let name = try XCTUnwrap(folders.first)
        XCTAssertNotNil(name.range(of: #"^\d{8}-\d{6}$"#, options: .regularExpression), name)
        let path = runs.appendingPathComponent(name).path
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path).sorted(), ["checkpoints", "config.toml", "metrics.jsonl"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path + "/checkpoints").count, 1, "one checkpoint per epoch")
        XCTAssertEqual(try readJSONLines(path + "/metrics.jsonl").count, 1)
        let lines = logLines(result.standardOutput)
        XCTAssertEqual(lines.first, "run directory \(path)")
        XCTAssertEqual(lines.last, "run directory \(path): config.toml, metrics.jsonl, checkpoints/")
    }

    func testMetricsOptionMovesTheMetricsFile() throws {
        let directory = try temporaryDirectory(for: self)
        let metrics = directory.appendingPathComponent("elsewhere.jsonl").path
        let run = directory.appendingPathComponent("run").path
        let result = try lockstep(["train", "--run-dir", run, "--metrics", metrics, "--no-plots", "--no-checkpoints"] + tinyRun)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertEqual(try readJSONLines(metrics).count, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: run), ["config.toml"])
        let config = try String(contentsOfFile: run + "/config.toml", encoding: .utf8)
        XCTAssertTrue(config.contains("\n## metrics: this run wrote to \(metrics)\n"), "where the run wrote is a note: \(config)")
        XCTAssertFalse(config.contains("\nmetrics = "), "and not a line: a rerun would overwrite it")
    }
}
