import Reporting

/// A model as a list of layers (`conv2d(16,5) relu maxpool2d(2) flatten linear(10)`), read from
/// the text a user gives, with the shape every layer receives and produces checked before
/// anything is allocated.
public struct ModelDescription: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let layers: [LayerSpec]

    public init(layers: [LayerSpec]) { self.layers = layers }

    /// The canonical text: the layers' canonical forms separated by spaces.
    public var description: String { layers.map(\.description).joined(separator: " ") }

    // MARK: - Presets

    /// `cnn`: two 3×3 convolutions (32 and 64 channels, padding 1) each with ReLU and 2×2 max
    /// pooling, then 128 hidden units: 421,642 parameters on 1×28×28 inputs with 10 classes.
    public static func cnn(classes: Int) -> ModelDescription {
        ModelDescription(layers: [
            .conv2d(outputs: 32, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1), .relu,
            .maxPool2d(window: 2, stride: 2),
            .conv2d(outputs: 64, kernelHeight: 3, kernelWidth: 3, stride: 1, padding: 1), .relu,
            .maxPool2d(window: 2, stride: 2), .flatten, .linear(outputs: 128), .relu, .linear(outputs: classes),
        ])
    }

    /// `mlp`: `flatten`, then `linear(w) relu` for each hidden width, then `linear(classes)`.
    public static func mlp(hidden: [Int], classes: Int) -> ModelDescription {
        ModelDescription(layers: [.flatten] + hidden.flatMap { [LayerSpec.linear(outputs: $0), .relu] } + [.linear(outputs: classes)])
    }

    // MARK: - Parsing

    /// Reads a layer list: layers separated by spaces (or commas between layers), each a name
    /// with optional arguments in parentheses, positional first, then `name=value`:
    /// `linear(OUT)`, `conv2d(OUT, K | KHxKW, stride=1, padding=0)`, `maxpool2d(K, stride=K)`,
    /// `avgpool2d(K, stride=K)`, `flatten`, `relu`, `gelu`, `dropout(P)`. Names are not case
    /// sensitive. Throws `ModelDescriptionError` naming the layer by position and text.
    public static func parse(_ text: String) throws(ModelDescriptionError) -> ModelDescription {
        let items = try split(text)
        guard !items.isEmpty else { throw .empty }
        return ModelDescription(layers: try items.enumerated().map { index, item throws(ModelDescriptionError) in
            try parseLayer(item, position: index + 1)
        })
    }

    /// The layer texts of `text`: split at spaces and commas outside parentheses.
    private static func split(_ text: String) throws(ModelDescriptionError) -> [String] {
        var items: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            if character == "(" {
                depth += 1
            } else if character == ")" {
                depth -= 1
                guard depth >= 0 else { throw .malformed(text: text, reason: "a ')' without its '('") }
            } else if depth == 0 && (character.isWhitespace || character == "," || character == ";") {
                if !current.isEmpty { items.append(current) }
                current = ""
                continue
            } else if character.isWhitespace {
                continue  // spaces inside parentheses: `conv2d(32, 3)`
            }
            current.append(character)
        }
        guard depth == 0 else { throw .malformed(text: text, reason: "a '(' without its ')'") }
        if !current.isEmpty { items.append(current) }
        return items
    }

    private static func parseLayer(_ item: String, position: Int) throws(ModelDescriptionError) -> LayerSpec {
        let name: String
        var positional: [String] = []
        var named: [String: String] = [:]
        if let open = item.firstIndex(of: "(") {
            guard item.hasSuffix(")") else {
                throw .badArguments(position: position, text: item, reason: "text after the ')'")
            }
            name = String(item[..<open]).lowercased()
            let inside = item[item.index(after: open)..<item.index(before: item.endIndex)]
            for argument in inside.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 {
                    guard named.updateValue(parts[1], forKey: parts[0].lowercased()) == nil else {
                        throw .badArguments(position: position, text: item, reason: "\(parts[0]) is given twice")
                    }
                } else {
                    guard named.isEmpty else {
                        throw .badArguments(position: position, text: item, reason: "a positional argument after a named one")
                    }
                    positional.append(String(argument))
                }
            }
        } else {
            name = item.lowercased()
        }
        let arguments = Arguments(position: position, text: item, positional: positional, named: named)
        switch name {
        case "linear":
            try arguments.allow(["outputs"], count: 1)
            return .linear(outputs: try arguments.positive("outputs", at: 0))
        case "conv2d":
            try arguments.allow(["outputs", "kernel", "stride", "padding"], count: 2)
            let (kh, kw) = try arguments.kernel("kernel", at: 1)
            return .conv2d(
                outputs: try arguments.positive("outputs", at: 0), kernelHeight: kh, kernelWidth: kw,
                stride: try arguments.positive("stride", at: 2, default: 1),
                padding: try arguments.nonNegative("padding", at: 3, default: 0))
        case "maxpool2d", "avgpool2d":
            try arguments.allow(["kernel", "stride"], count: 1)
            let window = try arguments.positive("kernel", at: 0)
            let stride = try arguments.positive("stride", at: 1, default: window)
            return name == "maxpool2d" ? .maxPool2d(window: window, stride: stride) : .avgPool2d(window: window, stride: stride)
        case "dropout":
            try arguments.allow(["p"], count: 1)
            return .dropout(probability: try arguments.probability("p", at: 0))
        case "flatten", "relu", "gelu":
            try arguments.allow([], count: 0)
            return name == "flatten" ? .flatten : name == "relu" ? .relu : .gelu
        default:
            throw .unknownLayer(position: position, text: item, nearest: EditDistance.nearest(to: name, among: LayerSpec.names))
        }
    }

    /// A layer's arguments, by position or by name.
    private struct Arguments {
        let position: Int
        let text: String
        let positional: [String]
        let named: [String: String]

        /// Refuses unknown names and more positional arguments than `names`; requires the
        /// first `count` of `names`.
        func allow(_ names: [String], count: Int) throws(ModelDescriptionError) {
            if let unknown = named.keys.sorted().first(where: { !names.contains($0) }) {
                throw .badArguments(position: position, text: text, reason: "no argument '\(unknown)'"
                    + (names.isEmpty ? " (it takes none)" : " (it takes \(names.joined(separator: ", ")))"))
            }
            guard positional.count <= names.count else {
                throw .badArguments(position: position, text: text, reason: names.isEmpty
                    ? "it takes no arguments" : "too many arguments (it takes \(names.joined(separator: ", ")))")
            }
            for (index, name) in names.prefix(count).enumerated() where index >= positional.count && named[name] == nil {
                throw .badArguments(position: position, text: text, reason: "missing \(name) (it takes \(names.joined(separator: ", ")))")
            }
        }

        func value(_ name: String, at index: Int) -> String? {
            named[name] ?? (index < positional.count ? positional[index].trimmingCharacters(in: .whitespaces) : nil)
        }

        func integer(_ name: String, at index: Int, default fallback: Int?, minimum: Int) throws(ModelDescriptionError) -> Int {
            guard let text = value(name, at: index) else { return fallback! }
            guard let number = Int(text), number >= minimum else {
                throw .badArguments(position: position, text: self.text, reason: "\(name) must be an integer ≥ \(minimum), got '\(text)'")
            }
            return number
        }

        func positive(_ name: String, at index: Int, default fallback: Int? = nil) throws(ModelDescriptionError) -> Int {
            try integer(name, at: index, default: fallback, minimum: 1)
        }

        func nonNegative(_ name: String, at index: Int, default fallback: Int? = nil) throws(ModelDescriptionError) -> Int {
            try integer(name, at: index, default: fallback, minimum: 0)
        }

        /// `3` (square) or `2x3` (height × width; `×` too).
        func kernel(_ name: String, at index: Int) throws(ModelDescriptionError) -> (Int, Int) {
            let text = value(name, at: index)!
            let parts = text.lowercased().split(omittingEmptySubsequences: false, whereSeparator: { $0 == "x" || $0 == "×" })
                .map { Int($0) }
            guard (1...2).contains(parts.count), parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                throw .badArguments(position: position, text: self.text, reason: "\(name) must be K or KHxKW with positive sizes, got '\(text)'")
            }
            return (parts[0]!, parts.last!!)
        }

        func probability(_ name: String, at index: Int) throws(ModelDescriptionError) -> Double {
            let text = value(name, at: index)!
            guard let p = Double(text), p >= 0, p < 1 else {
                throw .badArguments(position: position, text: self.text, reason: "\(name) must be a probability in [0, 1), got '\(text)'")
            }
            return p
        }
    }
}
