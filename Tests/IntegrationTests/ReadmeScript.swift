import Foundation

/// README.md read as a script: its fenced code blocks, and the commands in the ```` ```sh ```` and
/// ```` ```python ```` blocks, which `ReadmeCommandTests` runs.
///
/// A `sh` block is either a list of commands, one a line (a line ending in `\` continues on the
/// next; `#` lines are comments), or a transcript: lines starting with `$ ` are commands and the
/// lines after each, up to the next `$ `, are what it prints. In a transcript, `…` stands for any
/// text (a whole line of `…` for any lines), and `$ echo $?` followed by a number is the exit status
/// of the command before it. A `python` block is one program. A `toml` block whose first line is a
/// comment naming a file (`# run.toml`) is that file, which the commands after it read. Other
/// blocks (output, tables) are not run; a `$ ` line in one of them is reported by `strayCommands`, so a command cannot hide
/// from the test in a block that is not marked `sh`.
enum ReadmeScript {
    /// A fenced code block.
    struct Block: Equatable {
        /// The 1-based line of the opening fence.
        let line: Int
        /// The word after the fence (`sh`, `toml`, …), empty when none.
        let language: String
        /// The lines between the fences, without the fence's indentation.
        let lines: [String]
    }

    /// One command of a `sh` block, a whole `python` block, or a file to write.
    struct Command: Equatable {
        /// The 1-based README line where it starts.
        let line: Int
        /// `sh`, `python`, or `file` (`text` is then written to `file`).
        let language: String
        /// The command's text (continued lines joined with their `\` and newline kept).
        var text: String
        /// For a transcript's command, the lines it prints (`…` matches anything); empty otherwise.
        var expectedOutput: [String] = []
        /// The exit status it must end with: 0, or a transcript's `echo $?`, or nil for "not 0"
        /// (a transcript that shows an `error:` line without its status).
        var expectedStatus: Int32? = 0
        /// For a file: its name (relative to the working directory).
        var file: String?
    }

    /// Every fenced block of `markdown`, in order. A fence may be indented (inside a list item);
    /// the block's lines lose that indentation.
    static func blocks(in markdown: String) -> [Block] {
        var blocks: [Block] = []
        var open: (line: Int, language: String, indent: Int)?
        var lines: [String] = []
        for (index, raw) in markdown.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = String(raw)
            let indent = text.prefix { $0 == " " }.count
            let trimmed = text.dropFirst(indent)
            if trimmed.hasPrefix("```") {
                if let current = open {
                    blocks.append(Block(line: current.line, language: current.language, lines: lines))
                    open = nil
                } else {
                    open = (index + 1, String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces), indent)
                    lines = []
                }
            } else if let current = open {
                lines.append(String(text.dropFirst(min(current.indent, indent))))
            }
        }
        return blocks
    }

    /// The commands of every `sh` and `python` block, in README order.
    static func commands(in markdown: String) -> [Command] {
        blocks(in: markdown).flatMap(commands(in:))
    }

    /// The commands of one block (none for a block that is not `sh` or `python`).
    static func commands(in block: Block) -> [Command] {
        switch block.language {
        case "python":
            return [Command(line: block.line + 1, language: "python", text: block.lines.joined(separator: "\n"))]
        case "toml":
            guard let first = block.lines.first, let name = first.firstMatch(of: #/^# ([\w.-]+\.toml)\s*$/#)?.output.1 else {
                return []
            }
            return [Command(line: block.line + 1, language: "file", text: block.lines.joined(separator: "\n") + "\n", file: String(name))]
        case "sh":
            return block.lines.contains { $0.hasPrefix("$ ") } ? transcript(block) : list(block)
        default:
            return []
        }
    }

    /// Lines that look like commands (`$ …`) in blocks that are not `sh`: (README line, text).
    static func strayCommands(in markdown: String) -> [(line: Int, text: String)] {
        blocks(in: markdown).filter { $0.language != "sh" }.flatMap { block in
            block.lines.enumerated().compactMap { offset, text in
                text.hasPrefix("$ ") ? (block.line + 1 + offset, text) : nil
            }
        }
    }

    /// A block of commands, one a line.
    private static func list(_ block: Block) -> [Command] {
        var commands: [Command] = []
        var pending: Command?
        for (offset, text) in block.lines.enumerated() {
            let line = block.line + 1 + offset
            if var current = pending {
                current.text += "\n" + text
                pending = current
            } else {
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                pending = Command(line: line, language: "sh", text: text)
            }
            if !text.hasSuffix("\\"), let current = pending {
                commands.append(current)
                pending = nil
            }
        }
        if let pending { commands.append(pending) }
        return commands
    }

    /// A transcript: `$ ` commands, each followed by what it prints.
    private static func transcript(_ block: Block) -> [Command] {
        var commands: [Command] = []
        var continuing = false
        var offset = 0
        while offset < block.lines.count {
            let text = block.lines[offset]
            let line = block.line + 1 + offset
            offset += 1
            if continuing, var current = commands.popLast() {
                current.text += "\n" + text
                commands.append(current)
                continuing = text.hasSuffix("\\")
            } else if text.hasPrefix("$ ") {
                let command = String(text.dropFirst(2))
                if command.trimmingCharacters(in: .whitespaces) == "echo $?", var previous = commands.popLast() {
                    // The status of the command before: the next line.
                    let value = offset < block.lines.count ? block.lines[offset] : ""
                    previous.expectedStatus = Int32(value.trimmingCharacters(in: .whitespaces))
                    commands.append(previous)
                    offset += 1
                } else {
                    commands.append(Command(line: line, language: "sh", text: command))
                    continuing = command.hasSuffix("\\")
                }
            } else if var current = commands.popLast() {
                current.expectedOutput.append(text)
                if text.hasPrefix("error:"), current.expectedStatus == 0 { current.expectedStatus = nil }
                commands.append(current)
            }
        }
        return commands
    }

    /// Whether `output` shows every line of `expected`, in order: each expected line is found
    /// within one output line (so timestamps before it do not matter), `…` inside a line matches
    /// any text, and a line that is only `…` any number of lines. Carriage returns are ignored.
    /// Returns nil when it does, else the first expected line that was not found.
    static func firstMissingLine(of expected: [String], in output: String) -> String? {
        let lines = output.replacingOccurrences(of: "\r", with: "").split(separator: "\n").map(String.init)
        var position = 0
        for wanted in expected.map({ $0.replacingOccurrences(of: "\r", with: "") }) {
            let trimmed = wanted.trimmingCharacters(in: .whitespaces)
            if trimmed == "…" || trimmed.isEmpty { continue }
            guard let found = lines[position...].firstIndex(where: { matches(trimmed, $0) }) else { return wanted }
            position = found + 1
        }
        return nil
    }

    /// Whether `line` contains `pattern`'s pieces (split at `…`) in order.
    static func matches(_ pattern: String, _ line: String) -> Bool {
        var rest = Substring(line)
        for piece in pattern.components(separatedBy: "…") where !piece.isEmpty {
            let piece = piece.trimmingCharacters(in: .whitespaces)
            guard !piece.isEmpty else { continue }
            guard let range = rest.range(of: piece) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }
}
