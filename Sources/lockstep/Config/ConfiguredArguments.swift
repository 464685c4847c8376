import ArgumentParser

/// A command's arguments once its `--config` file is read: the file's settings, less those the
/// command line sets itself, go before the command line's arguments, and swift-argument-parser
/// parses the whole as if it had all been typed. So every option has a config key, options added
/// later get one automatically, and a value from the file is checked exactly like a typed one.
struct ConfiguredArguments {
    /// The commands that read `--config`, by subcommand name.
    static let commands: [String: any ParsableArguments.Type] = ["train": TrainCommand.self]

    /// The subcommand path, e.g. `["train"]`; empty when the command reads no config file.
    let commandPath: [String]
    /// The command's own arguments: the config file's tokens, then the command line's.
    let arguments: [String]
    /// The file given with `--config`, if any.
    let configFile: ConfigFile?
    /// Keys whose value comes from the file (not overridden on the command line).
    let keysFromFile: Set<String>

    /// Everything after the program name, for `parseAsRoot`.
    var all: [String] { commandPath + arguments }

    /// Reads the `--config` file named in `processArguments` (the arguments after the program
    /// name) when the command takes one.
    /// - Throws: `ConfigFileError`.
    init(_ processArguments: [String]) throws(ConfigFileError) {
        guard let name = processArguments.first, let command = Self.commands[name] else {
            self.init(commandPath: [], arguments: processArguments, configFile: nil, keysFromFile: [])
            return
        }
        let commandLine = Array(processArguments.dropFirst())
        guard let path = Self.configPath(in: commandLine) else {
            self.init(commandPath: [name], arguments: commandLine, configFile: nil, keysFromFile: [])
            return
        }
        let catalog = ArgumentCatalog(command)
        let file = try ConfigFile(path: path, catalog: catalog)
        let setOnCommandLine = Set(catalog.entries.filter { !ArgumentTokens(commandLine).occurrences(of: $0).isEmpty }.map(\.key))
        let kept = file.settings.filter { !setOnCommandLine.contains($0.key) }
        self.init(
            commandPath: [name], arguments: kept.flatMap(\.arguments) + commandLine, configFile: file,
            keysFromFile: Set(kept.map(\.key)))
    }

    private init(commandPath: [String], arguments: [String], configFile: ConfigFile?, keysFromFile: Set<String>) {
        self.commandPath = commandPath
        self.arguments = arguments
        self.configFile = configFile
        self.keysFromFile = keysFromFile
    }

    /// The value of the last `--config PATH` or `--config=PATH` before any `--`.
    private static func configPath(in arguments: [String]) -> String? {
        var path: String?
        var index = 0
        while index < arguments.count, arguments[index] != "--" {
            let token = arguments[index]
            if token == "--config", index + 1 < arguments.count {
                path = arguments[index + 1]
                index += 1
            } else if token.hasPrefix("--config=") {
                path = String(token.dropFirst("--config=".count))
            }
            index += 1
        }
        return path
    }
}
