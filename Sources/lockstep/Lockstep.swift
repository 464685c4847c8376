import ArgumentParser
import Foundation
import Job
import Reporting

@main
struct Lockstep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lockstep",
        abstract: "Data-parallel neural-network training over MPI, with every rank verified identical.",
        discussion: """
            Start with: lockstep train --epochs 2 (one process), or mpirun -np 2 lockstep train \
            (two ranks). Each run writes config.toml, metrics.jsonl and metrics.png to runs/<time>/. \
            Without mpirun lockstep runs as a world of one rank. README.md has a tutorial, the \
            guarantees and the exit codes.
            """,
        subcommands: [
            TrainCommand.self, EvaluateCommand.self, PlotCommand.self, ScheduleCommand.self, CheckpointCommand.self,
            DiagnoseCommand.self, BenchCommand.self,
        ])

    /// Reads the `--config` file (for commands that take one), parses, runs, and turns every
    /// error into a short message and a documented exit status (README "Exit codes").
    static func main() {
        let processArguments = Array(CommandLine.arguments.dropFirst())
        let configured: ConfiguredArguments
        do { configured = try ConfiguredArguments(processArguments) } catch {
            Job.fail(error, communicator: nil)
        }
        do {
            var command = try parseAsRoot(configured.all)
            try command.run()
        } catch {
            exit(reporting: error, arguments: configured)
        }
    }

    /// Help, version and `ExitCode` go through swift-argument-parser unchanged; parse and
    /// validation errors become `error: …` and `hint: …` and exit 64; any other error is reported
    /// like a failure of the job (a `ReportableError` with its own status, else 70).
    private static func exit(reporting error: Error, arguments: ConfiguredArguments) -> Never {
        let code = exitCode(for: error)
        if code == .success || error is ExitCode { exit(withError: error) }
        if error is ReportableError || code != .validationFailure { Job.fail(error, communicator: nil) }
        Job.leaveUsageErrorToRankZero()
        let commandPath = subcommandPath(of: arguments.all)
        var command: any ParsableCommand.Type = Lockstep.self
        for name in commandPath {
            command = command.configuration.subcommands.first { $0._commandName == name } ?? command
        }
        var text = message(for: error)
        // `lockstep trian --epochs 2`: the misspelt command is the mistake, not the options after it.
        if commandPath.isEmpty, let first = arguments.all.first, !first.hasPrefix("-") {
            text = "Unexpected argument '\(first)'"
        }
        let report = UsageErrorReport(
            message: text, helpCommand: (["lockstep"] + commandPath + ["--help"]).joined(separator: " "),
            configFile: arguments.configFile?.path, keysFromFile: arguments.keysFromFile,
            subcommands: command.configuration.subcommands.map { $0._commandName }, arguments: arguments.all)
        FileHandle.standardError.write(Data(report.text(style: TerminalStyle(descriptor: STDERR_FILENO)).utf8))
        Foundation.exit(ExitStatus.usage.rawValue)
    }

    /// The subcommand names at the start of `arguments` (`["schedule", "table"]`).
    private static func subcommandPath(of arguments: [String]) -> [String] {
        var command: any ParsableCommand.Type = Lockstep.self
        var path: [String] = []
        for token in arguments {
            guard let next = command.configuration.subcommands.first(where: { $0._commandName == token }) else { break }
            path.append(token)
            command = next
        }
        return path
    }
}
