import Reporting

/// A `--config` file that cannot be used: one case per cause, each naming the file, and the line
/// where one is known.
enum ConfigFileError: ReportableError, Equatable {
    case missing(path: String)
    case unreadable(path: String, reason: String)
    /// TOML that does not parse (TOMLKit's message and position).
    case syntax(path: String, line: Int, column: Int, message: String)
    /// A key that is no option of the command; `nearest` is the closest valid key.
    case unknownKey(path: String, line: Int?, key: String, nearest: String?)
    /// A key that only makes sense on the command line (`config`, `print-config`).
    case commandLineOnly(path: String, line: Int?, key: String)
    /// A `[section]` or dotted key: the file is flat.
    case section(path: String, line: Int?, key: String)
    /// A value of a type the key cannot take.
    case wrongType(path: String, line: Int?, key: String, expected: String, found: String)

    var exitStatus: ExitStatus {
        switch self {
        case .missing, .unreadable: .missingInput
        case .syntax, .unknownKey, .commandLineOnly, .section, .wrongType: .usage
        }
    }

    var description: String {
        switch self {
        case .missing(let path):
            "config file \(path) does not exist"
        case .unreadable(let path, let reason):
            "cannot read config file \(path): \(reason)"
        case .syntax(let path, let line, let column, let message):
            "\(path):\(line):\(column): not valid TOML: \(message)"
        case .unknownKey(let path, let line, let key, _):
            "\(Self.location(path, line)): unknown key '\(key)'"
        case .commandLineOnly(let path, let line, let key):
            "\(Self.location(path, line)): '\(key)' cannot be set in a config file"
        case .section(let path, let line, let key):
            "\(Self.location(path, line)): '\(key)' is a table, but lockstep config files have no sections"
        case .wrongType(let path, let line, let key, let expected, let found):
            "\(Self.location(path, line)): '\(key)' takes \(expected), found \(found)"
        }
    }

    var hint: String? {
        switch self {
        case .missing: "check the path given to --config (relative paths start from the current directory)"
        case .unreadable: "check the file's permissions"
        case .syntax: "see README \"Config files\" for the format: one `key = value` per line"
        case .unknownKey(_, _, _, let nearest?):
            "did you mean '\(nearest)'? (lockstep train --print-config lists every key)"
        case .unknownKey: "lockstep train --print-config lists every key"
        case .commandLineOnly(_, _, let key): "give --\(key) on the command line instead"
        case .section: "write every key at the top level, before any [section] line (lr = 0.05, not [optimizer] lr = 0.05)"
        case .wrongType(_, _, let key, _, _): "see lockstep train --help for --\(key)"
        }
    }

    private static func location(_ path: String, _ line: Int?) -> String {
        line.map { "\(path):\($0)" } ?? path
    }
}
