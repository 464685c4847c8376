import Foundation
import TestSupport
import XCTest

/// README.md cannot drift from the program: every command of its `sh` and `python` blocks runs
/// here, in README's order, in a fresh working directory that looks like a clone (`scripts/`,
/// `hostfiles/`, the binary under test at `.build/release/lockstep`), with `lockstep` installed on
/// the PATH by README's own `scripts/install.sh`. Each must exit 0 (a transcript's command: with
/// the status and the lines it shows). The changes to the commands are `ReadmeRehearsal`'s, each
/// with its reason; the first test checks the parser and the checker on small samples, so a
/// broken checker cannot pass README silently.
final class ReadmeCommandTests: XCTestCase {
    private static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    // MARK: - The parser and the checker

    func testTranscriptsListsAndPythonBlocksAreReadAsCommands() {
        let markdown = """
            text
            ```sh
            scripts/train.sh     # a comment
            # a comment line
            NP=2 scripts/train.sh --epochs 2 \\
              --hidden 32
            ```
            ```
            $ lockstep hidden in a block that is not sh
            ```
              ```sh
              $ lockstep train --lrr 0.1
              error: Unknown option '--lrr'. Did you mean '--lr'?
              $ echo $?
              64
              $ lockstep schedule table --count 1
                    step   epoch  lr
              ```
            ```python
            print(1)
            print(2)
            ```
            ```toml
            # run.toml
            epochs = 2
            ```
            ```toml
            lr = 0.1
            ```
            """
        let commands = ReadmeScript.commands(in: markdown)
        XCTAssertEqual(commands.map(\.text), [
            "scripts/train.sh     # a comment", "NP=2 scripts/train.sh --epochs 2 \\\n  --hidden 32",
            "lockstep train --lrr 0.1", "lockstep schedule table --count 1", "print(1)\nprint(2)",
            "# run.toml\nepochs = 2\n",
        ])
        XCTAssertEqual(commands.map(\.line), [3, 5, 12, 16, 20, 24])
        XCTAssertEqual(commands.map(\.expectedStatus), [0, 0, 64, 0, 0, 0])
        XCTAssertEqual(commands.map(\.file), [nil, nil, nil, nil, nil, "run.toml"])
        XCTAssertEqual(commands[2].expectedOutput, ["error: Unknown option '--lrr'. Did you mean '--lr'?"])
        XCTAssertEqual(commands[3].expectedOutput, ["      step   epoch  lr"])
        XCTAssertEqual(commands.map(\.language), ["sh", "sh", "sh", "sh", "python", "file"])
        XCTAssertEqual(ReadmeScript.strayCommands(in: markdown).map(\.line), [9])
        // An error shown without its status: any status but 0.
        let shown = ReadmeScript.commands(in: "```sh\n$ lockstep trian\nerror: no\n```")
        XCTAssertEqual(shown.first?.expectedStatus, .some(nil))
    }

    func testTheOutputCheckFailsOnAMissingOrReorderedLine() {
        let output = "2026-12-06T10:00:00Z epoch 1/2  lr 0.1  train loss 0.5\r\nepoch 2/2  lr 0.095  train loss 0.4\nlockstep verified: 2 ranks\n"
        XCTAssertNil(ReadmeScript.firstMissingLine(of: ["epoch 1/2  lr 0.1 …", "…", "lockstep verified: 2 ranks"], in: output))
        XCTAssertNil(ReadmeScript.firstMissingLine(of: ["epoch 2/2  lr 0.095  train loss …"], in: output))
        XCTAssertEqual(
            ReadmeScript.firstMissingLine(of: ["epoch 2/2 …", "epoch 1/2 …"], in: output), "epoch 1/2 …",
            "lines must appear in order")
        XCTAssertEqual(ReadmeScript.firstMissingLine(of: ["lockstep verified: 3 ranks"], in: output), "lockstep verified: 3 ranks")
        XCTAssertFalse(ReadmeScript.matches("lr 0.1 … loss 0.4", "lr 0.1  train loss 0.5"))
    }

    func testTheRehearsalShortensTrainingAndFollowsTheReadersOwnRun() throws {
        func plan(_ text: String, output: [String] = [], language: String = "sh") -> ReadmeRehearsal.Plan {
            ReadmeRehearsal.plan(
                ReadmeScript.Command(line: 1, language: language, text: text, expectedOutput: output),
                latestRunDirectory: "runs/20261206-101112",
                checkpoint: { $0.hasPrefix("runs/big/") ? "runs/big/checkpoints/ckpt-step-000000000600.safetensors" : $0 })
        }
        XCTAssertEqual(
            plan("NP=2 scripts/train.sh --epochs 10    # params hash 1, test acc 0.88"),
            .run("NP=2 scripts/train.sh --epochs 10 \(ReadmeRehearsal.shortTraining)   # params hash 1, test acc 0.88"))
        XCTAssertEqual(
            plan("lockstep train --model \"conv2d(8,3) # not a comment\""),
            .run("lockstep train --model \"conv2d(8,3) # not a comment\" \(ReadmeRehearsal.shortTraining)"))
        XCTAssertEqual(plan(".build/release/lockstep train --epochs 2 --limit-train 12000"),
                       .run(".build/release/lockstep train --epochs 2 --limit-train 12000"))
        XCTAssertEqual(plan("lockstep train --lrr 0.1", output: ["error: …"]), .run("lockstep train --lrr 0.1"),
                       "a transcript runs as written")
        XCTAssertEqual(
            plan("mpirun -np 2 .build/release/lockstep train --run-dir runs/20261129-141502 --resume auto"),
            .run("mpirun -np 2 .build/release/lockstep train --run-dir runs/20261206-101112 --resume auto \(ReadmeRehearsal.shortTraining)"))
        XCTAssertEqual(
            plan("lockstep checkpoint inspect runs/big/checkpoints/ckpt-step-000000014040.safetensors"),
            .run("lockstep checkpoint inspect runs/big/checkpoints/ckpt-step-000000000600.safetensors"))
        XCTAssertEqual(plan("swift build -c release --product lockstep"), .skip(ReadmeRehearsal.skipped[1].reason))
        XCTAssertEqual(plan("scripts/cluster_sim.sh launch …"), .skip("a sketch: … stands for what the reader fills in"))
        XCTAssertEqual(
            plan("scripts/bench_scaling.sh --hostfile h"), .run("scripts/bench_scaling.sh --hostfile h \(ReadmeRehearsal.shortBench)"))
        XCTAssertEqual(plan("with open(\"runs/20261129-141502/x\")", language: "python"), .run("with open(\"runs/20261206-101112/x\")"))
    }

    // MARK: - README itself

    func testNoCommandHidesInABlockThatIsNotSh() throws {
        let readme = try String(contentsOf: Self.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        for stray in ReadmeScript.strayCommands(in: readme) {
            XCTFail("README.md:\(stray.line): a command in a block not marked ```sh, which the README test would not run: \(stray.text)")
        }
    }

    func testEveryReadmeCommandRunsAsWritten() throws {
        let readme = try String(contentsOf: Self.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let commands = ReadmeScript.commands(in: readme)
        XCTAssertGreaterThan(commands.count, 30, "README's commands were not found")
        let work = try cloneLikeDirectory()
        let prefix = work.appendingPathComponent(".prefix")
        let environment = Self.environment(prefix: prefix)
        let clusterAvailable = (try? ProcessRunner.run(
            Self.repositoryRoot.appendingPathComponent("scripts/cluster_sim.sh").path, ["check"], timeout: 30).exitCode) == 0
        let pythonHasTorch = (try? ProcessRunner.run(
            "/usr/bin/env", ["python3", "-c", "import torch, safetensors"], timeout: 120).exitCode) == 0

        var latestRunDirectory: String?
        // Between `slurm_sim.sh up` and `down`, every command works with the simulated Slurm's jobs.
        var onSimulatedSlurm = false
        if clusterAvailable {
            addTeardownBlock {
                _ = try? ProcessRunner.run(Self.repositoryRoot.appendingPathComponent("scripts/slurm_sim.sh").path, ["down"], timeout: 90)
            }
        }
        var missing: [String] = []
        var unusedSkips = Set(ReadmeRehearsal.skipped.map(\.match))
        var log: [String] = []
        for command in commands {
            let plan = ReadmeRehearsal.plan(command, latestRunDirectory: latestRunDirectory) { path in
                Self.checkpoint(path, in: work)
            }
            if let skip = ReadmeRehearsal.skipped.first(where: { command.text.contains($0.match) }) {
                unusedSkips.remove(skip.match)
            }
            guard case .run(let text) = plan else {
                if case .skip(let reason) = plan { log.append("README.md:\(command.line) skipped (\(reason)): \(command.text)") }
                continue
            }
            if command.language == "file", let name = command.file {
                try text.write(to: work.appendingPathComponent(name), atomically: true, encoding: .utf8)
                log.append("README.md:\(command.line) wrote \(name)")
                continue
            }
            if text.contains("slurm_sim.sh up") { onSimulatedSlurm = true }
            defer { if text.contains("slurm_sim.sh down") { onSimulatedSlurm = false } }
            if text.contains("cluster_sim.sh") || text.contains("slurm_sim.sh") || onSimulatedSlurm, !clusterAvailable {
                missing.append("README.md:\(command.line) needs the simulated cluster (scripts/cluster_sim.sh check)")
                continue
            }
            if command.language == "python", !pythonHasTorch {
                missing.append("README.md:\(command.line) needs python3 with torch and safetensors")
                continue
            }
            let result = try run(text, language: command.language, in: work, environment: environment)
            log.append(String(format: "README.md:%d exit %d in %.1f s: %@", command.line, result.exitCode, result.seconds, text))
            let output = result.standardOutput
            if let directory = output.matches(of: #/run directory (runs/[^\s:]+)/#).last?.output.1 {
                latestRunDirectory = String(directory)
            }
            let statusIsRight = command.expectedStatus.map { result.exitCode == $0 } ?? (result.exitCode != 0)
            if result.timedOut || result.terminatedBySignal || !statusIsRight {
                XCTFail(
                    "README.md:\(command.line): `\(text)` exited \(result.exitCode)"
                        + " (expected \(command.expectedStatus.map(String.init) ?? "not 0"))\(result.timedOut ? ", timed out" : "")"
                        + "; its output ends:\n\(output.suffix(3000))")
            } else if let line = ReadmeScript.firstMissingLine(of: command.expectedOutput, in: output) {
                XCTFail("README.md:\(command.line): `\(text)` did not print, in README's order:\n\(line)\nIt printed:\n\(output.suffix(3000))")
            }
        }
        for match in unusedSkips {
            XCTFail("ReadmeRehearsal.skipped names `\(match)`, which no README command contains any more: remove it")
        }
        print(log.joined(separator: "\n"))
        if !missing.isEmpty { throw missingTool(missing.joined(separator: "; ")) }
    }

    // MARK: - Helpers

    /// A temporary directory laid out as a clone: copies of `scripts/` and `hostfiles/` (so that
    /// what they write stays there), `.build/release/lockstep` linked to the binary under test.
    private func cloneLikeDirectory() throws -> URL {
        let work = try ProcessRunner.temporaryDirectory("lockstep-readme")
        addTeardownBlock { try? FileManager.default.removeItem(at: work) }
        for folder in ["scripts", "hostfiles"] {
            try FileManager.default.copyItem(
                at: Self.repositoryRoot.appendingPathComponent(folder), to: work.appendingPathComponent(folder))
        }
        let release = work.appendingPathComponent(".build/release")
        try FileManager.default.createDirectory(at: release, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: release.appendingPathComponent("lockstep").path, withDestinationPath: ProcessRunner.lockstepBinary)
        return work
    }

    /// What every command sees: README's `scripts/install.sh` installs into `prefix` (on the PATH);
    /// the scripts use the binary under test instead of building; mpirun may run as root and start
    /// more ranks than cores (README's "Troubleshooting"); `runs/` is the working directory's;
    /// `scripts/bench_scaling.sh` sweeps once.
    private static func environment(prefix: URL) -> [String: String] {
        var environment = ProcessRunner.mpirunEnvironment
        environment["PATH"] = prefix.appendingPathComponent("bin").path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        environment["PREFIX"] = prefix.path
        environment["LOCKSTEP_BINARY"] = ProcessRunner.lockstepBinary
        environment["LOCKSTEP_RUNS_DIR"] = "runs"
        environment["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        environment["REPEATS"] = "1"
        return environment
    }

    /// Runs one command with stderr joined to stdout, in order.
    private func run(_ text: String, language: String, in work: URL, environment: [String: String]) throws -> ProcessResult {
        let timeout: Double = text.contains("bench_scaling") ? 900 : 300
        if language == "python" {
            let script = work.appendingPathComponent("readme-snippet.py")
            try text.write(to: script, atomically: true, encoding: .utf8)
            return try ProcessRunner.run(
                "/bin/bash", ["-c", "exec 2>&1; python3 readme-snippet.py"], environment: environment,
                workingDirectory: work.path, timeout: timeout)
        }
        return try ProcessRunner.run(
            "/bin/bash", ["-c", "exec 2>&1\n" + text], environment: environment, workingDirectory: work.path, timeout: timeout)
    }

    /// README's checkpoint `path` (relative to `work`) when it exists, else the newest
    /// `ckpt-step-*.safetensors` in its folder (README's step is that of an unshortened run).
    private static func checkpoint(_ path: String, in work: URL) -> String {
        if FileManager.default.fileExists(atPath: work.appendingPathComponent(path).path) { return path }
        let folder = (path as NSString).deletingLastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: work.appendingPathComponent(folder).path)) ?? []
        guard let newest = names.filter({ $0.hasPrefix("ckpt-step-") && $0.hasSuffix(".safetensors") }).max() else { return path }
        return folder.isEmpty ? newest : folder + "/" + newest
    }
}
