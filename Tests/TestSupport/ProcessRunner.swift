import Foundation

/// The result of running a command to completion.
public struct ProcessResult: Sendable {
    public let exitCode: Int32
    public let standardOutput: String
    public let standardError: String
    /// Wall-clock seconds from launch to exit.
    public let seconds: Double
    /// True when the command outlived its timeout and was killed.
    public let timedOut: Bool
    /// True when the process ended by a signal (a trap, a crash, a kill); `exitCode` is then the signal.
    public var terminatedBySignal = false

    /// Both streams, for failure messages.
    public var combinedOutput: String { "--- stdout\n\(standardOutput)--- stderr\n\(standardError)" }
}

/// Runs commands for integration tests: the built `lockstep` binary, with or without `mpirun`.
public enum ProcessRunner {
    /// Runs `executable` with `arguments`, killing it (and its process group) after `timeout` seconds.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        workingDirectory: String? = nil, timeout: Double = 120
    ) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        // Default run directories of `lockstep train` go to a scratch folder, not the checkout.
        env["LOCKSTEP_RUNS_DIR"] = env["LOCKSTEP_RUNS_DIR"] ?? defaultRunsDirectory
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-test-\(UUID().uuidString).out")
        let errURL = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-test-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        let start = Date()
        try process.run()
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            process.waitUntilExit()
            finished.signal()
        }
        var timedOut = false
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            kill(-process.processIdentifier, SIGKILL)
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
        }
        try? outHandle.close()
        try? errHandle.close()
        // Decoded leniently (invalid UTF-8 becomes U+FFFD), so output is never lost to a bad byte.
        let out = String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self)
        let err = String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self)
        return ProcessResult(
            exitCode: process.terminationStatus, standardOutput: out, standardError: err,
            seconds: Date().timeIntervalSince(start), timedOut: timedOut,
            terminatedBySignal: process.terminationReason == .uncaughtSignal)
    }

    /// The `lockstep` binary under test: `$LOCKSTEP_BINARY` when set (scripts/test.sh points it at
    /// the release build), else the debug build next to the test bundle.
    public static var lockstepBinary: String {
        if let path = ProcessInfo.processInfo.environment["LOCKSTEP_BINARY"], !path.isEmpty { return path }
        let bundleDirectory = Bundle.main.bundleURL.deletingLastPathComponent()
        for candidate in [Bundle.main.bundleURL, bundleDirectory] {
            let path = candidate.appendingPathComponent("lockstep").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return buildDirectory.appendingPathComponent("lockstep").path
    }

    /// Runs `lockstep ARGUMENTS` directly (world size 1, no mpirun); see `withoutPlots`.
    public static func lockstep(
        _ arguments: [String], environment: [String: String] = [:], timeout: Double = 120
    ) throws -> ProcessResult {
        try run(lockstepBinary, withoutPlots(arguments), environment: environment, timeout: timeout)
    }

    /// Runs `mpirun -np RANKS --oversubscribe lockstep ARGUMENTS`.
    public static func mpirun(
        ranks: Int, _ arguments: [String], mpirunOptions: [String] = [], environment: [String: String] = [:],
        timeout: Double = 180
    ) throws -> ProcessResult {
        try run(
            mpirunPath,
            mpirunBaseOptions + ["-np", String(ranks)] + mpirunOptions + [lockstepBinary] + withoutPlots(arguments),
            environment: mpirunEnvironment.merging(environment) { $1 }, timeout: timeout)
    }

    /// Runs an MPMD launch: `mpirun -np 1 lockstep A… : -np 1 lockstep B…`, one argument list per rank.
    public static func mpirunMPMD(
        _ perRankArguments: [[String]], environment: [String: String] = [:], timeout: Double = 180
    ) throws -> ProcessResult {
        var arguments = mpirunBaseOptions
        for (index, rankArguments) in perRankArguments.enumerated() {
            if index > 0 { arguments.append(":") }
            arguments += ["-np", "1", lockstepBinary] + withoutPlots(rankArguments)
        }
        return try run(
            mpirunPath, arguments, environment: mpirunEnvironment.merging(environment) { $1 }, timeout: timeout)
    }

    /// `lockstep train` draws its plots at the end, which takes python seconds: runs started here
    /// skip them (`--no-plots` right after `train`, so a test's own `--plots` still wins).
    static func withoutPlots(_ arguments: [String]) -> [String] {
        guard arguments.first == "train" else { return arguments }
        return ["train", "--no-plots"] + arguments.dropFirst()
    }

    public static var mpirunPath: String {
        for path in ["/usr/bin/mpirun", "/usr/local/bin/mpirun"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        return "/usr/bin/mpirun"
    }

    /// Options for single-node test launches: more ranks than cores, no binding, shared memory.
    public static let mpirunBaseOptions = ["--oversubscribe", "--bind-to", "none"]

    /// mpirun refuses to run as root unless told twice.
    public static var mpirunEnvironment: [String: String] {
        var env = ["SWIFT_BACKTRACE": "enable=no"]
        if getuid() == 0 {
            env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        }
        return env
    }

    /// Where `lockstep train` runs launched by tests put their default run directories.
    public static let defaultRunsDirectory = FileManager.default.temporaryDirectory
        .appendingPathComponent("lockstep-test-runs").path

    /// A fresh temporary directory, removed by the caller.
    public static func temporaryDirectory(_ prefix: String = "lockstep-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
