import Foundation
import TOMLKit

/// The value of every option of a command, as TOML that `--config` reads back to the same run
/// (`lockstep train --print-config`, and `config.toml` in each run directory).
///
/// Values come from the arguments swift-argument-parser accepted (config file tokens, then the
/// command line): for each option the last value given, else its default as the help shows it.
/// Options without a default that were not given (`--gamma`, `--limit-train`, …) are written
/// as comments, since setting them changes the run.
///
/// The file stays valid TOML whichever lines a user uncomments: explanations are `## ` comments
/// (uncommenting one `# ` leaves a comment), and a commented key line (`# momentum = 0.9`) is a
/// whole TOML line that pins the value it shows. An option with no value at all is only named in
/// a `## ` note, since no line could stand for it.
struct EffectiveConfiguration {
    enum Value: Equatable {
        /// An option's value (several for a repeating option), or a flag's state.
        case set([String])
        case flag(Bool)
        /// Not given and no default.
        case unset
    }

    struct Item: Equatable {
        let entry: ArgumentCatalog.Entry
        let value: Value
    }

    let items: [Item]

    /// - Parameters:
    ///   - arguments: the command's arguments as parsed (see `ConfiguredArguments.arguments`).
    init(arguments: [String], catalog: ArgumentCatalog) {
        let tokens = ArgumentTokens(arguments)
        items = catalog.configurableEntries.map { entry in
            let occurrences = tokens.occurrences(of: entry)
            switch entry.kind {
            case .flag(let negation):
                if let last = occurrences.last {
                    return Item(entry: entry, value: .flag(last.spelling != "--\(negation ?? "")"))
                }
                // An invertible flag's help default is its spelling ("--plots"); a plain flag is off.
                let isOn = entry.defaultValue == "--\(entry.key)"
                return Item(entry: entry, value: .flag(isOn))
            case .option:
                let values = occurrences.compactMap(\.value)
                if !values.isEmpty {
                    return Item(entry: entry, value: .set(entry.isRepeating ? values : [values.last!]))
                }
                return Item(entry: entry, value: entry.defaultValue.map { .set([$0]) } ?? .unset)
            }
        }
    }

    /// The configuration as TOML: a header, then one section comment per help group.
    /// - Parameters:
    ///   - notes: a note to write above a key's line, by key.
    ///   - omitted: keys written only as their note, never as a line (where a run wrote its
    ///     files, and how it was started: a rerun from the file must neither overwrite them nor
    ///     resume).
    ///   - unsetValues: for options left unset, the value the run uses instead (a default that
    ///     depends on other options, such as SGD's momentum), as a commented line that pins it.
    func toml(
        header: [String], notes: [String: String] = [:], omitted: Set<String> = [],
        unsetValues: [String: String] = [:]
    ) -> String {
        var lines = header.map { "## \($0)" }
        var section: String?? = .none
        for item in items {
            if section != .some(item.entry.section) {
                section = .some(item.entry.section)
                lines.append("")
                if let title = item.entry.section { lines.append("## \(title)") }
            }
            if let note = notes[item.entry.key] { lines.append("## \(note)") }
            if omitted.contains(item.entry.key) { continue }
            if item.value == .unset {
                if let value = unsetValues[item.entry.key] {
                    lines.append("## \(item.entry.key): not set, the default in effect (uncomment to pin it):")
                    lines.append("# \(item.entry.key) = \(Self.tomlValue(value))")
                } else if notes[item.entry.key] == nil {
                    lines.append("## \(item.entry.key): not set")
                }
                continue
            }
            lines.append(Self.line(key: item.entry.key, value: item.value))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - TOML lines

    private static func line(key: String, value: Value) -> String {
        switch value {
        case .unset: preconditionFailure("\(key) has no value to write")
        case .flag(let isOn): "\(key) = \(isOn)"
        case .set(let values) where values.count == 1: "\(key) = \(tomlValue(values[0]))"
        case .set(let values): "\(key) = [\(values.map(tomlValue).joined(separator: ", "))]"
        }
    }

    /// The TOML value that reads back to the same option value: an integer; a float when the
    /// text is a decimal number, written as Swift's shortest text for the same `Double` (which is
    /// how swift-argument-parser parses it, and valid TOML); else a string, quoted by TOMLKit.
    static func tomlValue(_ text: String) -> String {
        if let integer = Int(text), String(integer) == text { return text }
        if text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }),
           text.allSatisfy({ "0123456789+-.eE".contains($0) }), let number = Double(text), number.isFinite {
            let shortest = "\(number)"
            return shortest.contains(where: { $0 == "." || $0 == "e" }) ? shortest : shortest + ".0"
        }
        let table = TOMLTable()
        table["value"] = text
        let line = table.convert(to: .toml, options: [.allowUnicodeStrings]).trimmingCharacters(in: .newlines)
        return String(line.drop { $0 != "=" }.dropFirst()).trimmingCharacters(in: .whitespaces)
    }
}
