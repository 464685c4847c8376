import Foundation

/// A command started in the background, for tests that act on it while it runs (send it a
/// signal once its output or its files show it has reached some point).
///
/// Output goes to temporary files, read as often as a test polls them; `finish` waits for the
/// exit (killing the process group after a timeout) and returns the usual `ProcessResult`.
public final class BackgroundProcess {
    public let process = Process()
    private let outURL: URL
    private let errURL: URL
    private let started = Date()
    private let exited = DispatchSemaphore(value: 0)

    /// Starts `executable ARGUMENTS` with the environment of `ProcessRunner.run`.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        env["LOCKSTEP_RUNS_DIR"] = env["LOCKSTEP_RUNS_DIR"] ?? ProcessRunner.defaultRunsDirectory
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let temporary = FileManager.default.temporaryDirectory
        outURL = temporary.appendingPathComponent("lockstep-test-\(UUID().uuidString).out")
        errURL = temporary.appendingPathComponent("lockstep-test-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let process = process, exited = exited
        DispatchQueue.global().async {
            process.waitUntilExit()
            exited.signal()
        }
    }

    /// `mpirun -np RANKS … lockstep ARGUMENTS` in the background (as `ProcessRunner.mpirun`).
    public static func mpirun(ranks: Int, _ arguments: [String], environment: [String: String] = [:]) throws -> BackgroundProcess {
        try BackgroundProcess(
            ProcessRunner.mpirunPath,
            ProcessRunner.mpirunBaseOptions + ["-np", String(ranks), ProcessRunner.lockstepBinary]
                + ProcessRunner.withoutPlots(arguments),
            environment: ProcessRunner.mpirunEnvironment.merging(environment) { $1 })
    }

    /// `lockstep ARGUMENTS` in the background (world size 1).
    public static func lockstep(_ arguments: [String], environment: [String: String] = [:]) throws -> BackgroundProcess {
        try BackgroundProcess(ProcessRunner.lockstepBinary, ProcessRunner.withoutPlots(arguments), environment: environment)
    }

    public var pid: Int32 { process.processIdentifier }
    public var standardOutput: String { Self.read(outURL) }
    public var standardError: String { Self.read(errURL) }
    public var isRunning: Bool { process.isRunning }

    /// Polls every 10 ms until `condition` holds (true) or the process exits or `timeout` passes (false).
    public func wait(timeout: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            if !process.isRunning { return condition() }
            usleep(10_000)
        }
        return false
    }

    /// Sends `signal` to the process.
    public func send(_ signal: Int32) { kill(pid, signal) }

    /// The ranks an `mpirun` started on this host, by rank (from each child's `OMPI_COMM_WORLD_RANK`).
    public func localRanks() -> [Int: Int32] {
        var ranks: [Int: Int32] = [:]
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ Int32($0) }) {
            guard let environ = FileManager.default.contents(atPath: "/proc/\(child)/environ") else { continue }
            for entry in environ.split(separator: 0) {
                let text = String(decoding: entry, as: UTF8.self)
                if text.hasPrefix("OMPI_COMM_WORLD_RANK="), let rank = Int(text.dropFirst("OMPI_COMM_WORLD_RANK=".count)) {
                    ranks[rank] = child
                }
            }
        }
        return ranks
    }

    /// Waits for the exit (at most `timeout` seconds, then kills the process group) and returns the result.
    public func finish(timeout: Double = 60) -> ProcessResult {
        var timedOut = false
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            exited.wait()
        }
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        return ProcessResult(
            exitCode: process.terminationStatus, standardOutput: standardOutput, standardError: standardError,
            seconds: Date().timeIntervalSince(started), timedOut: timedOut,
            terminatedBySignal: process.terminationReason == .uncaughtSignal)
    }

    private static func read(_ url: URL) -> String {
        String(decoding: (try? Data(contentsOf: url)) ?? Data(), as: UTF8.self)
    }
}
