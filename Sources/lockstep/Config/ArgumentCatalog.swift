import ArgumentParser
import Foundation

/// The options and flags a command accepts, read from swift-argument-parser's own description of
/// the command (the `--experimental-dump-help` JSON, "ToolInfoV0"), so that configuration files
/// know every option, including ones added later, without a second list to keep in step.
struct ArgumentCatalog {
    /// One option or flag of the command.
    struct Entry: Equatable {
        enum Kind: Equatable {
            /// `--name value`.
            case option
            /// `--name`, and `--no-name` when `negation` is set.
            case flag(negation: String?)
        }

        /// The long name without dashes; also the configuration file key.
        let key: String
        let kind: Kind
        /// The default as the help shows it, or nil (an optional option, a flag).
        let defaultValue: String?
        /// True when the option may be given several times (each value is kept).
        let isRepeating: Bool
        /// The help section (`Data`, `Optimizer`, …), or nil.
        let section: String?
        /// Names that select this entry on the command line: `--key`, `--no-key`, short names.
        let spellings: [String]
    }

    /// Entries in help order.
    let entries: [Entry]

    /// Options that only steer the command line itself and have no configuration key.
    static let commandLineOnly: Set<String> = ["help", "version", "config", "print-config"]

    init(_ command: any ParsableArguments.Type) {
        let json = Data(command._dumpHelp().utf8)
        guard let info = try? JSONDecoder().decode(ToolInfo.self, from: json) else {
            preconditionFailure("swift-argument-parser's help JSON did not decode: \(String(decoding: json, as: UTF8.self).prefix(200))")
        }
        entries = Self.foldingNegations((info.command.arguments ?? []).compactMap(Self.entry))
    }

    /// The entry whose configuration key is `key`.
    func entry(forKey key: String) -> Entry? { entries.first { $0.key == key } }

    /// Configuration keys: every long option and flag except the command-line-only ones.
    var configurableEntries: [Entry] { entries.filter { !Self.commandLineOnly.contains($0.key) } }

    private static func entry(_ argument: ToolInfo.Argument) -> Entry? {
        guard argument.kind != "positional", let names = argument.names else { return nil }
        guard let key = names.first(where: { $0.kind == "long" })?.name else { return nil }
        let kind: Entry.Kind = argument.kind == "flag" ? .flag(negation: nil) : .option
        let spellings = names.map { ($0.kind == "short" ? "-" : $0.kind == "long" ? "--" : "-") + $0.name }
        return Entry(
            key: key, kind: kind, defaultValue: argument.defaultValue, isRepeating: argument.isRepeating,
            section: argument.sectionTitle, spellings: spellings)
    }

    /// An invertible flag (`@Flag(inversion: .prefixedNo)`) is described as two flags, `--name`
    /// (whose default is `--name` or `--no-name`) and `--no-name`: one entry here.
    private static func foldingNegations(_ entries: [Entry]) -> [Entry] {
        var folded: [Entry] = []
        for entry in entries {
            let isNegation = entry.key.hasPrefix("no-") && entry.kind == .flag(negation: nil)
                && folded.contains { $0.key == String(entry.key.dropFirst(3)) && $0.kind == .flag(negation: nil) }
            guard isNegation, let index = folded.firstIndex(where: { $0.key == String(entry.key.dropFirst(3)) }) else {
                folded.append(entry)
                continue
            }
            let positive = folded[index]
            folded[index] = Entry(
                key: positive.key, kind: .flag(negation: entry.key), defaultValue: positive.defaultValue,
                isRepeating: false, section: positive.section, spellings: positive.spellings + entry.spellings)
        }
        return folded
    }

    // MARK: - The parts of ToolInfoV0 read here

    private struct ToolInfo: Decodable {
        struct Name: Decodable {
            let kind: String
            let name: String
        }

        struct Argument: Decodable {
            let kind: String
            let names: [Name]?
            let defaultValue: String?
            let isRepeating: Bool
            let sectionTitle: String?
        }

        struct Command: Decodable {
            let arguments: [Argument]?
        }

        let command: Command
    }
}
