/// Finds where an option or flag occurs in a list of command-line tokens that swift-argument-parser
/// accepted (so each option that takes a value is followed by it).
struct ArgumentTokens {
    /// One occurrence: the spelling used and the value (for options).
    struct Occurrence: Equatable {
        let spelling: String
        let value: String?
    }

    let tokens: [String]

    init(_ tokens: [String]) { self.tokens = tokens }

    /// Every occurrence of `entry`, in order, up to a `--` terminator.
    func occurrences(of entry: ArgumentCatalog.Entry) -> [Occurrence] {
        var found: [Occurrence] = []
        var index = 0
        while index < tokens.count, tokens[index] != "--" {
            let token = tokens[index]
            for spelling in entry.spellings {
                if token == spelling {
                    if case .option = entry.kind {
                        found.append(Occurrence(spelling: spelling, value: index + 1 < tokens.count ? tokens[index + 1] : nil))
                        index += 1
                    } else {
                        found.append(Occurrence(spelling: spelling, value: nil))
                    }
                    break
                }
                if case .option = entry.kind, token.hasPrefix(spelling + "=") {
                    found.append(Occurrence(spelling: spelling, value: String(token.dropFirst(spelling.count + 1))))
                    break
                }
            }
            index += 1
        }
        return found
    }
}
