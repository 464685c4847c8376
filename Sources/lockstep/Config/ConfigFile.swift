import Foundation
import Reporting
import TOMLKit

/// A TOML configuration file for a command, turned into the command-line tokens it stands for.
///
/// Every top-level key is an option's long name without the dashes and takes what the option
/// takes on the command line: `lr = 0.05` is `--lr=0.05`, `hidden = "512,256"` (or `[512, 256]`,
/// whose elements are joined with commas) is `--hidden=512,256`. A flag takes a boolean:
/// `nesterov = true` is `--nesterov`, `plots = false` is `--no-plots`. The values are then checked
/// by swift-argument-parser exactly like typed ones. One table is read: `[model]` with
/// `layers = ["conv2d(16,5)", "relu", …]` is `--model` with that layer list.
struct ConfigFile {
    /// One key of the file and the tokens it became.
    struct Setting: Equatable {
        let key: String
        let arguments: [String]
    }

    let path: String
    /// Sorted by key (TOMLKit does not keep the order of the file).
    let settings: [Setting]

    /// All tokens, as they go before the command-line arguments.
    var arguments: [String] { settings.flatMap(\.arguments) }

    /// Reads and converts `path`.
    /// - Throws: `ConfigFileError`.
    init(path: String, catalog: ArgumentCatalog) throws(ConfigFileError) {
        guard FileManager.default.fileExists(atPath: path) else { throw .missing(path: path) }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        try self.init(text: text, path: path, catalog: catalog)
    }

    /// Converts TOML `text`; `path` names it in errors.
    init(text: String, path: String, catalog: ArgumentCatalog) throws(ConfigFileError) {
        self.path = path
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let error as TOMLParseError {
            throw .syntax(path: path, line: error.source.begin.line, column: error.source.begin.column, message: error.description)
        } catch {
            throw .syntax(path: path, line: 1, column: 1, message: "\(error)")
        }
        var settings: [Setting] = []
        for key in table.keys.sorted() {
            let line = Self.line(of: key, in: text)
            var value = table[key]!.tomlValue
            // `[model]` with `layers = [...]`: the layer list as a table (the same as `model = [...]`).
            if key == "model", value.type == .table, let section = value.table {
                guard section.keys.sorted() == ["layers"], let layers = section["layers"] else {
                    throw .section(path: path, line: line, key: key)
                }
                value = layers.tomlValue
            }
            if value.type == .table { throw .section(path: path, line: line, key: key) }
            guard let entry = catalog.entry(forKey: key) else {
                let nearest = EditDistance.nearest(to: key, among: catalog.configurableEntries.map(\.key))
                throw .unknownKey(path: path, line: line, key: key, nearest: nearest)
            }
            guard !ArgumentCatalog.commandLineOnly.contains(key) else {
                throw .commandLineOnly(path: path, line: line, key: key)
            }
            let arguments = try Self.arguments(for: entry, value: value, path: path, line: line)
            settings.append(Setting(key: key, arguments: arguments))
        }
        self.settings = settings
    }

    // MARK: - Values to tokens

    private static func arguments(
        for entry: ArgumentCatalog.Entry, value: TOMLValue, path: String, line: Int?
    ) throws(ConfigFileError) -> [String] {
        func wrongType(_ expected: String) -> ConfigFileError {
            .wrongType(path: path, line: line, key: entry.key, expected: expected, found: describe(value))
        }
        switch entry.kind {
        case .flag(let negation):
            guard let on = value.bool else { throw wrongType("true or false (it is a flag)") }
            if on { return ["--\(entry.key)"] }
            return negation.map { ["--\($0)"] } ?? []
        case .option:
            if let array = value.array {
                var elements: [String] = []
                for element in array {
                    guard let text = scalarText(element.tomlValue) else {
                        throw wrongType("a value or an array of values")
                    }
                    elements.append(text)
                }
                return entry.isRepeating
                    ? elements.map { "--\(entry.key)=\($0)" }
                    : ["--\(entry.key)=\(elements.joined(separator: ","))"]
            }
            guard let text = scalarText(value) else { throw wrongType("a string, number or boolean") }
            return ["--\(entry.key)=\(text)"]
        }
    }

    /// A scalar as the command line would spell it; nil for tables, arrays, dates and times.
    private static func scalarText(_ value: TOMLValue) -> String? {
        switch value.type {
        case .string: value.string
        case .int: value.int.map { String($0) }
        // The shortest text that reads back to the same Double, as swift-argument-parser parses it.
        case .double: value.double.map { "\($0)" }
        case .bool: value.bool.map { $0 ? "true" : "false" }
        default: nil
        }
    }

    private static func describe(_ value: TOMLValue) -> String {
        switch value.type {
        case .table: "a table"
        case .array: "an array"
        case .string: "the string \(value.debugDescription)"
        case .int, .double, .bool: "\(value.debugDescription)"
        case .date, .time, .dateTime: "a date or time"
        }
    }

    /// The 1-based line where `key` is set (`key = …`, `[key]` or `key.sub = …`), if found.
    static func line(of key: String, in text: String) -> Int? {
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine.trimmingCharacters(in: .whitespaces))
            if line.hasPrefix("[") { line = line.drop { $0 == "[" } }
            for spelling in [key, "\"\(key)\"", "'\(key)'"] where line.hasPrefix(spelling) {
                let rest = line.dropFirst(spelling.count).drop { $0 == " " || $0 == "\t" }
                if let next = rest.first, "=.]".contains(next) { return index + 1 }
            }
        }
        return nil
    }
}
