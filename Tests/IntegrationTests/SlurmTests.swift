import Foundation
import TestSupport
import XCTest

/// The job script users copy, `scripts/lockstep.sbatch`, under a real Slurm 22.05 on two simulated
/// hosts (`scripts/slurm_sim.sh`: munge, slurmctld on h0, slurmd on h0 and h1, one CPU each):
/// a batch job trains to the hash of a plain `mpirun` on the same hosts; SIGUSR1 to the batch
/// script (a preemption) leads to a checkpoint, a requeue and a resumed run with the uninterrupted
/// hash; other failures are not requeued. Skipped where namespaces cannot be created (not root);
/// they run in CI, which runs as root, where a missing tool is a failure.
final class SlurmTests: XCTestCase {
    /// A small run on 2 ranks: 2,496 samples = 26 global batches of 96, a 784-64-32-10 model.
    private static let smallRun = [
        "--limit-train", "2496", "--limit-test", "1000", "--global-batch", "96", "--hidden", "64,32",
        "--lr", "0.05", "--verify-every", "10", "--no-plots",
    ]
    /// Long enough to be stopped mid-run (about 0.05 s an epoch here), short enough to finish.
    private static let longEpochs = "100"

    private static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    private static let slurmSim = repositoryRoot.appendingPathComponent("scripts/slurm_sim.sh").path
    private static let clusterSim = repositoryRoot.appendingPathComponent("scripts/cluster_sim.sh").path
    private static let jobScript = repositoryRoot.appendingPathComponent("scripts/lockstep.sbatch").path
    private static let packages = ["slurmctld", "slurmd", "slurm-client", "munge"]

    /// The submit directory of this test's jobs: output files and `runs/<job name>`.
    private var submitDirectory: URL!

    override func setUpWithError() throws {
        let check = try ProcessRunner.run(Self.clusterSim, ["check"], timeout: 30)
        if check.exitCode != 0 {
            throw missingTool("no simulated cluster on this machine: \(check.standardOutput)\(check.standardError)")
        }
        let install = try ProcessRunner.run(
            Self.repositoryRoot.appendingPathComponent("scripts/apt_install.sh").path, Self.packages, timeout: 300)
        if install.exitCode != 0 {
            throw missingTool("Slurm's Debian packages (\(Self.packages.joined(separator: " "))): \(install.combinedOutput)")
        }
        let up = try ProcessRunner.run(Self.slurmSim, ["up", "2"], timeout: 90)
        XCTAssertEqual(up.exitCode, 0, "slurm_sim.sh up 2: \(up.combinedOutput)")
        submitDirectory = try ProcessRunner.temporaryDirectory("lockstep-slurm")
    }

    override func tearDownWithError() throws {
        if let submitDirectory { try? FileManager.default.removeItem(at: submitDirectory) }
        let down = try ProcessRunner.run(Self.slurmSim, ["down"], timeout: 90)
        XCTAssertEqual(down.exitCode, 0, down.combinedOutput)
    }

    // MARK: - Tests

    /// `sbatch scripts/lockstep.sbatch OPTIONS` (2 nodes, 1 task each) ends COMPLETED with the
    /// params hash of `mpirun -np 2` on the same two hosts without Slurm.
    func testABatchJobEndsWithTheHashOfMpirunOnTheSameHosts() throws {
        let arguments = Self.smallRun + ["--epochs", "2"]
        let job = try submit("plain", arguments)
        let end = try waitForEnd(of: job)
        let output = try jobOutput("plain", job)
        XCTAssertEqual(end.state, "COMPLETED", output)
        XCTAssertEqual(end.restarts, 0, output)
        XCTAssertTrue(output.contains("lockstep.sbatch: job \(job) start 1 on h[0-1]: 2 ranks, run directory runs/plain"), output)
        XCTAssertTrue(output.contains("lockstep verified: 2 ranks"), output)

        try assertHashOfMpirun(arguments, equalsTheLastIn: output, "sbatch + mpirun in the allocation vs mpirun on the same hosts")
    }

    /// `scancel --signal=USR1 --batch J` once the job trains: the script passes SIGUSR1 on to
    /// mpirun, the ranks stop at a step with a checkpoint (exit 80), the script requeues the job,
    /// and its second start (SLURM_RESTART_COUNT 1) resumes from that checkpoint and ends with the
    /// hash of a run that was never stopped.
    func testUSR1ToTheBatchScriptCheckpointsRequeuesAndResumesToTheUninterruptedHash() throws {
        let arguments = Self.smallRun + ["--epochs", Self.longEpochs]
        let job = try submit("preempted", arguments)
        try waitForOutput("preempted", job, containing: "epoch 2/")
        let signal = try slurm(["scancel", "--signal=USR1", "--batch", job])
        XCTAssertEqual(signal.exitCode, 0, signal.combinedOutput)
        let end = try waitForEnd(of: job, timeout: 150)
        let output = try jobOutput("preempted", job)
        XCTAssertEqual(end.state, "COMPLETED", output)
        XCTAssertEqual(end.restarts, 1, "requeued once: \(output)")

        let lines = output.split(separator: "\n").map(String.init)
        // mpirun forwards the signal to both ranks, and the one that has it first stops them both
        // (then the line says `stopped by SIGUSR1 (on 1 of 2 ranks) at step …`).
        let stopped = try XCTUnwrap(lines.first { $0.contains("stopped by SIGUSR1") }, output)
        let stopStep = try XCTUnwrap(Int(try XCTUnwrap(stopped.firstMatch(of: #/at step (\d+) /#)?.output.1)), stopped)
        XCTAssertTrue(output.contains("lockstep.sbatch: stopped with a checkpoint in runs/preempted (exit 80): requeueing job \(job)"), output)
        XCTAssertTrue(output.contains("lockstep.sbatch: job \(job) start 2 on h[0-1]"), output)
        XCTAssertTrue(
            output.contains(String(format: "resumed from runs/preempted/checkpoints/ckpt-step-%012d.safetensors at step %d ", stopStep, stopStep)),
            "the second start continues from the stop's checkpoint: \(output)")
        XCTAssertLessThan(stopStep, 26 * Int(Self.longEpochs)!, "stopped mid-run")

        try assertHashOfMpirun(arguments, equalsTheLastIn: output, "stopped, requeued and resumed vs never stopped")
    }

    /// `lockstep train ARGUMENTS` under a plain `mpirun -np 2` on the same simulated hosts ends
    /// with the last params hash of a job's `output`.
    private func assertHashOfMpirun(
        _ arguments: [String], equalsTheLastIn output: String, _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let direct = try ProcessRunner.run(
            Self.clusterSim,
            ["launch", "--timeout", "120", "--", "mpirun", "-np", "2", ProcessRunner.lockstepBinary, "train"] + arguments,
            timeout: 150)
        XCTAssertEqual(direct.exitCode, 0, direct.combinedOutput, file: file, line: line)
        XCTAssertEqual(
            try XCTUnwrap(lastParameterHash(in: output), output, file: file, line: line),
            try XCTUnwrap(lastParameterHash(in: direct.standardOutput), direct.combinedOutput, file: file, line: line),
            message, file: file, line: line)
    }

    /// A job that fails for another reason (an unknown option: exit 64) ends FAILED with that
    /// status and is not requeued.
    func testAJobThatFailsOtherwiseIsNotRequeued() throws {
        let job = try submit("broken", Self.smallRun + ["--epochs", "2", "--lrr", "0.1"])
        let end = try waitForEnd(of: job)
        let output = try jobOutput("broken", job)
        XCTAssertEqual(end.state, "FAILED", output)
        XCTAssertEqual(end.exitCode, "64:0", output)
        XCTAssertEqual(end.restarts, 0, output)
        XCTAssertTrue(output.contains("lockstep.sbatch: lockstep train failed with exit 64; not requeued"), output)
        XCTAssertFalse(output.contains("start 2"), output)
    }

    /// A plain `scancel` (SIGTERM to the batch script, as at a time limit without the warning):
    /// the ranks still stop at a step with a checkpoint, but the job stays CANCELLED, not requeued.
    func testAPlainScancelCheckpointsButDoesNotRequeue() throws {
        let job = try submit("cancelled", Self.smallRun + ["--epochs", Self.longEpochs])
        try waitForOutput("cancelled", job, containing: "epoch 2/")
        let cancel = try slurm(["scancel", job])
        XCTAssertEqual(cancel.exitCode, 0, cancel.combinedOutput)
        let end = try waitForEnd(of: job)
        XCTAssertEqual(end.state, "CANCELLED")
        XCTAssertEqual(end.restarts, 0)
        // The script's last words come after Slurm's cancellation notice.
        try waitForOutput("cancelled", job, containing: "not requeued")
        let output = try jobOutput("cancelled", job)
        XCTAssertTrue(output.contains("lockstep.sbatch: SIGTERM (scancel or the time limit)"), output)
        XCTAssertNotNil(output.range(of: #"checkpoint runs/cancelled/checkpoints/ckpt-step-\d+\.safetensors at step \d+ \(epoch \d+, step"#, options: .regularExpression),
                        "a checkpoint at the step where the ranks stopped: \(output)")
    }

    // MARK: - Helpers

    /// `COMMAND…` on h0, where the Slurm commands reach the controller.
    private func slurm(_ command: [String], timeout: Int = 30) throws -> ProcessResult {
        try ProcessRunner.run(
            Self.slurmSim, ["launch", "--timeout", String(timeout), "--"] + command,
            environment: ["LOCKSTEP_BINARY": ProcessRunner.lockstepBinary], workingDirectory: submitDirectory.path,
            timeout: Double(timeout + 30))
    }

    /// `sbatch --job-name NAME scripts/lockstep.sbatch ARGUMENTS…` from the submit directory; the job id.
    private func submit(_ name: String, _ arguments: [String]) throws -> String {
        let result = try slurm(["sbatch", "--parsable", "--job-name", name, Self.jobScript] + arguments)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let id = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw SlurmTestFailure("sbatch printed no job id: \(result.combinedOutput)") }
        return id
    }

    private func jobOutput(_ name: String, _ job: String) throws -> String {
        let path = submitDirectory.appendingPathComponent("lockstep-\(name)-\(job).out").path
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    private func waitForOutput(_ name: String, _ job: String, containing text: String, timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try jobOutput(name, job).contains(text) { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw SlurmTestFailure("job \(job)'s output never showed \"\(text)\" within \(Int(timeout)) s: \(try jobOutput(name, job))")
    }

    /// A job's state in `scontrol show job`.
    private struct JobEnd {
        var state: String
        var restarts: Int
        var exitCode: String
    }

    /// Polls `scontrol show job J` until the job has ended for good (requeued starts go back to
    /// PENDING, so they are not an end).
    private func waitForEnd(of job: String, timeout: Double = 90) throws -> JobEnd {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            let show = try slurm(["scontrol", "show", "job", "-o", job])
            last = show.standardOutput
            func field(_ name: String) -> String? {
                last.split(separator: " ").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
            }
            if let state = field("JobState"), ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"].contains(state) {
                return JobEnd(state: state, restarts: Int(field("Restarts") ?? "") ?? -1, exitCode: field("ExitCode") ?? "")
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        throw SlurmTestFailure("job \(job) did not end within \(Int(timeout)) s: \(last)")
    }

    /// The last `params hash` in an output (a stopped and resumed job prints one per start).
    private func lastParameterHash(in output: String) -> String? {
        output.split(separator: "\n").compactMap { verifiedParameterHash(in: String($0)) }.last
    }
}

/// A step of a Slurm test that cannot go on (no job id, a job that never ends).
private struct SlurmTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
