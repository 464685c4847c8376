import Foundation
import Job
import Reporting

/// A command-line mistake found by swift-argument-parser (unknown option, bad value, failed
/// validation) as two lines: `error: what is wrong` and `hint: what to do`.
///
/// swift-argument-parser's own message adds the usage line, which for `train` is only
/// `lockstep train <options>`, and points to `--help`; the hint here points there too. A value
/// that came from the `--config` file is named as such, since the user did not type it.
struct UsageErrorReport {
    /// swift-argument-parser's message without the usage (`ParsableArguments.message(for:)`).
    let message: String
    /// `lockstep train --help`.
    let helpCommand: String
    let configFile: String?
    /// Keys whose value came from `configFile`.
    let keysFromFile: Set<String>
    /// The subcommands that could stand where an unexpected word stood (for "did you mean").
    var subcommands: [String] = []
    /// The command line as parsed (to tell `--lr -1` from a value left out).
    var arguments: [String] = []

    func text(style: TerminalStyle) -> String {
        var lines = message.split(separator: "\n", omittingEmptySubsequences: true)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var problem = lines.isEmpty ? "invalid arguments" : lines.removeFirst()
        for prefix in ["Error: ", "error: "] where problem.hasPrefix(prefix) { problem.removeFirst(prefix.count) }
        if let configFile, keysFromFile.contains(where: { Self.mentions(problem, option: $0) }) {
            problem += " (from \(configFile))"
        }
        var hints: [String] = []
        for line in lines {
            if let text = Self.dropping(["Hint:", "hint:"], from: line) {
                hints.append(text)
            } else if let text = Self.dropping(["Help:"], from: line) {
                // "--epochs <n>  Passes over the training set." → "--epochs <n>: Passes over …"
                let parts = text.components(separatedBy: "  ").filter { !$0.isEmpty }
                hints.append(parts.count > 1 ? parts[0] + ": " + parts.dropFirst().joined(separator: " ") : text)
            } else {
                problem += " " + line
            }
        }
        if problem.hasPrefix("Missing value for '--"), let option = Self.option(in: problem) {
            // swift-argument-parser reads a negative number after an option as another option.
            let next = arguments.firstIndex(of: option).map { arguments.index(after: $0) }
            if let next, next < arguments.endIndex, arguments[next].hasPrefix("-"), Double(arguments[next]) != nil {
                hints.append("a negative number goes after an equals sign: \(option)=\(arguments[next])")
            } else {
                hints.append("\(option) needs a value")
            }
        }
        if let word = Self.unexpectedWord(in: problem), let nearest = EditDistance.nearest(to: word, among: subcommands),
           EditDistance.distance(word, nearest) <= 2 {
            hints.append("did you mean '\(nearest)'?")
        }
        hints.append("\(helpCommand) lists every option")
        return style.error("error:") + " " + problem + "\n" + style.hint("hint:") + " " + hints.joined(separator: "; ") + "\n"
    }

    /// `--config` of "Missing value for '--config <file.toml>'".
    static func option(in problem: String) -> String? {
        guard let start = problem.range(of: "'--") else { return nil }
        let name = problem[problem.index(after: start.lowerBound)...].prefix { $0 != " " && $0 != "'" }
        return name.isEmpty ? nil : String(name)
    }

    /// True when `text` names `--option` (not merely a longer option that starts with it).
    static func mentions(_ text: String, option: String) -> Bool {
        var searchRange = text.startIndex..<text.endIndex
        while let found = text.range(of: "--\(option)", range: searchRange) {
            let next = found.upperBound < text.endIndex ? text[found.upperBound] : " "
            if !(next.isLetter || next.isNumber || next == "-") { return true }
            searchRange = found.upperBound..<text.endIndex
        }
        return false
    }

    /// The word of "Unexpected argument 'trian'", or nil.
    static func unexpectedWord(in problem: String) -> String? {
        let prefix = "Unexpected argument '"
        guard problem.hasPrefix(prefix) else { return nil }
        let rest = problem.dropFirst(prefix.count)
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }

    private static func dropping(_ prefixes: [String], from line: String) -> String? {
        for prefix in prefixes where line.hasPrefix(prefix) {
            return line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}
