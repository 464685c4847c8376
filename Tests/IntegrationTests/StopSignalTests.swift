import Foundation
import TestSupport
import XCTest

/// SIGTERM, SIGINT and SIGUSR1 stop a run cleanly (README "Stopping a run with a signal"): the ranks agree on a
/// step through its reduction, write a checkpoint there, print `stopped by …` and exit 80; the
/// same command with `--resume auto` ends with the uninterrupted run's params hash.
///
/// Under `mpirun`, SIGTERM and SIGINT are not forwarded: `mpirun` sends its ranks SIGCONT, SIGTERM
/// one second later and SIGKILL one second after that, and exits 1 itself (Open MPI 4.1's
/// `odls_base_sigkill_timeout`). SIGUSR1 is forwarded at once, so `mpirun` exits with the ranks' 80.
final class StopSignalTests: XCTestCase {
    /// 200 steps per epoch: long enough (about 0.5-1 s) that a signal lands inside an epoch.
    static let steps = 200
    static let arguments = [
        "train", "--limit-train", "25600", "--limit-test", "1000", "--epochs", "5", "--progress", "none",
    ]

    var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("stop-signal")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The uninterrupted run's params hash at `ranks` ranks.
    func straightHash(ranks: Int) throws -> String {
        let arguments = Self.arguments + ["--run-dir", directory.appendingPathComponent("straight-\(ranks)").path]
        let result = ranks == 1
            ? try ProcessRunner.lockstep(arguments) : try ProcessRunner.mpirun(ranks: ranks, arguments)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        return try XCTUnwrap(verifiedParameterHash(in: result.standardOutput), result.combinedOutput)
    }

    /// Starts the run in `runDirectory`, sends `signal` (to `target`'s pid) once the first epoch's
    /// checkpoint exists, and returns the result with the seconds from the signal to the exit.
    func interrupt(
        ranks: Int, runDirectory: URL, signal: Int32, target: (BackgroundProcess) -> Int32? = { $0.pid }
    ) throws -> (result: ProcessResult, secondsToExit: Double) {
        let arguments = Self.arguments + ["--run-dir", runDirectory.path]
        let run = ranks == 1 ? try BackgroundProcess.lockstep(arguments) : try BackgroundProcess.mpirun(ranks: ranks, arguments)
        let first = runDirectory.appendingPathComponent("checkpoints/ckpt-step-\(String(format: "%012d", Self.steps)).safetensors")
        let reached = run.wait(timeout: 60) { FileManager.default.fileExists(atPath: first.path) }
        XCTAssertTrue(reached, "the run reached the end of epoch 1: \(run.standardOutput)\(run.standardError)")
        let pid = try XCTUnwrap(target(run), "the process to signal")
        let sent = Date()
        kill(pid, signal)
        let result = run.finish(timeout: 60)
        return (result, Date().timeIntervalSince(sent))
    }

    /// The step of the `stopped by NAME at step N (…)` line, checked against the newest checkpoint.
    func assertStopped(
        _ result: ProcessResult, by description: String, runDirectory: URL, file: StaticString = #filePath, line: UInt = #line
    ) throws -> Int {
        let pattern = try NSRegularExpression(pattern: "stopped by \(NSRegularExpression.escapedPattern(for: description)) at step ([0-9]+) \\((epoch [0-9]+, step [0-9]+/\(Self.steps)|end of epoch [0-9]+)\\); continue with the same command and --resume auto\n")
        let output = result.standardOutput
        let match = try XCTUnwrap(
            pattern.firstMatch(in: output, range: NSRange(output.startIndex..., in: output)), result.combinedOutput,
            file: file, line: line)
        let step = try XCTUnwrap(Int(output[Range(match.range(at: 1), in: output)!]))
        XCTAssertLessThan(step, 5 * Self.steps, "stopped before the run's end", file: file, line: line)
        let checkpoints = try ResumeSupport.steps(runDirectory.appendingPathComponent("checkpoints"))
        XCTAssertEqual(checkpoints.last, Int64(step), "the checkpoint of the stop step: \(checkpoints)", file: file, line: line)
        XCTAssertTrue(output.contains("checkpoint \(runDirectory.path)/checkpoints/ckpt-step-\(String(format: "%012d", step)).safetensors at step \(step)"),
                      result.combinedOutput, file: file, line: line)
        XCTAssertFalse(result.terminatedBySignal, result.combinedOutput, file: file, line: line)
        return step
    }

    /// `--resume auto` in `runDirectory` finishes with `hash`.
    func assertResumeFinishes(ranks: Int, runDirectory: URL, from step: Int, hash: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let arguments = Self.arguments + ["--run-dir", runDirectory.path, "--resume", "auto"]
        let resumed = ranks == 1 ? try ProcessRunner.lockstep(arguments) : try ProcessRunner.mpirun(ranks: ranks, arguments)
        XCTAssertEqual(resumed.exitCode, 0, resumed.combinedOutput, file: file, line: line)
        XCTAssertTrue(resumed.standardOutput.contains("at step \(step) ("), "resumed from the stop step, not afresh: \(resumed.combinedOutput)",
                      file: file, line: line)
        XCTAssertEqual(verifiedParameterHash(in: resumed.standardOutput), hash, resumed.combinedOutput, file: file, line: line)
    }

    func testSIGTERMStopsASingleProcessWithACheckpointAndResumeEndsBitwise() throws {
        let hash = try straightHash(ranks: 1)
        for (signal, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            let runDirectory = directory.appendingPathComponent("run-\(name)")
            let (result, seconds) = try interrupt(ranks: 1, runDirectory: runDirectory, signal: signal)
            XCTAssertEqual(result.exitCode, 80, result.combinedOutput)
            XCTAssertLessThan(seconds, 5, "stopped within 5 s")
            let step = try assertStopped(result, by: name, runDirectory: runDirectory)
            if signal == SIGTERM { try assertResumeFinishes(ranks: 1, runDirectory: runDirectory, from: step, hash: hash) }
        }
    }

    func testSIGTERMAndSIGINTToMpirunStopEveryRankWithACheckpointAndResumeEndsBitwise() throws {
        let hash = try straightHash(ranks: 2)
        for (signal, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            let runDirectory = directory.appendingPathComponent("mpirun-\(name)")
            let (result, seconds) = try interrupt(ranks: 2, runDirectory: runDirectory, signal: signal)
            // mpirun turns both into SIGTERM to its ranks, and exits 1 itself whatever they return.
            XCTAssertEqual(result.exitCode, 1, result.combinedOutput)
            XCTAssertLessThan(seconds, 5, "stopped within 5 s")
            let output = result.standardOutput
            let description = output.contains("stopped by SIGTERM (on 1 of 2 ranks)") ? "SIGTERM (on 1 of 2 ranks)" : "SIGTERM"
            let step = try assertStopped(result, by: description, runDirectory: runDirectory)
            XCTAssertTrue(output.contains("lockstep verified: 2 ranks"), result.combinedOutput)
            if signal == SIGTERM { try assertResumeFinishes(ranks: 2, runDirectory: runDirectory, from: step, hash: hash) }
        }
    }

    func testSIGUSR1ToMpirunIsForwardedAndTheJobExits80() throws {
        let hash = try straightHash(ranks: 2)
        let runDirectory = directory.appendingPathComponent("usr1")
        let (result, seconds) = try interrupt(ranks: 2, runDirectory: runDirectory, signal: SIGUSR1)
        XCTAssertEqual(result.exitCode, 80, result.combinedOutput)
        XCTAssertLessThan(seconds, 5)
        // mpirun forwards the signal to both ranks; the step that carries it may see it on one only.
        let description = result.standardOutput.contains("stopped by SIGUSR1 (on 1 of 2 ranks)") ? "SIGUSR1 (on 1 of 2 ranks)" : "SIGUSR1"
        let step = try assertStopped(result, by: description, runDirectory: runDirectory)
        try assertResumeFinishes(ranks: 2, runDirectory: runDirectory, from: step, hash: hash)
    }

    func testASignalToOneRankStopsEveryRankAtTheSameStep() throws {
        let runDirectory = directory.appendingPathComponent("one-rank")
        let (result, _) = try interrupt(ranks: 2, runDirectory: runDirectory, signal: SIGTERM) { $0.localRanks()[1] }
        XCTAssertEqual(result.exitCode, 80, result.combinedOutput)
        _ = try assertStopped(result, by: "SIGTERM (on 1 of 2 ranks)", runDirectory: runDirectory)
        XCTAssertTrue(result.standardOutput.contains("lockstep verified: 2 ranks"), result.combinedOutput)
    }

    /// The handler's rule for a second signal: from the same sender it ends the process at once
    /// (by that signal); relayed by another process it is ignored. The run is held at step 5 by a
    /// stall fault, so the first signal cannot end it before the second arrives.
    func testTheSameSignalAgainFromTheSameSenderEndsTheProcessAtOnce() throws {
        let run = try BackgroundProcess.lockstep(
            Self.arguments + ["--run-dir", directory.appendingPathComponent("twice").path],
            environment: ["LOCKSTEP_FAULT": "stall:rank=0:step=5"])
        XCTAssertTrue(run.wait(timeout: 60) { run.standardError.contains("stalling at step 5") }, run.standardError)
        run.send(SIGTERM)
        usleep(300_000)
        XCTAssertTrue(run.isRunning, "the first signal only asks for a stop")
        let relay = try ProcessRunner.run("/bin/kill", ["-TERM", String(run.pid)])
        XCTAssertEqual(relay.exitCode, 0, relay.combinedOutput)
        usleep(300_000)
        XCTAssertTrue(run.isRunning, "the same signal from another sender is a relay of the same request")
        run.send(SIGTERM)
        let result = run.finish(timeout: 10)
        XCTAssertFalse(result.timedOut)
        XCTAssertTrue(result.terminatedBySignal, result.combinedOutput)
        XCTAssertEqual(result.exitCode, SIGTERM)
    }
}
