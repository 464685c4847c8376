/// numpy's `.npy` format (version 1.0, 2.0 and 3.0, https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
/// the magic `\x93NUMPY`, a major and minor version byte, the header length (`UInt16` little-endian
/// in version 1, `UInt32` in 2 and 3), a header that is a Python dictionary literal with exactly
/// the keys `descr`, `fortran_order` and `shape`, then the elements.
///
/// The header is parsed, never evaluated: only string, boolean, integer and tuple literals are
/// accepted. Little- and big-endian arrays are read (big-endian ones are byte-swapped);
/// Fortran-order arrays of more than one dimension are refused with a hint to save them in C order.
enum NPYFile {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
    /// The longest header accepted, in bytes (numpy writes a few hundred).
    static let maximumHeaderByteCount = 1 << 20

    /// What the header declares.
    struct Header: Equatable {
        let elementType: ElementType
        let bigEndian: Bool
        let shape: [Int]
        /// Where the elements start.
        let dataOffset: Int
        /// `dataOffset` + the elements' bytes.
        let totalByteCount: Int
    }

    /// The array in `bytes` (a whole `.npy` file or NPZ member), checked.
    /// - Throws: `DataFileError`: `.notTheFormat`, `.malformedHeader`, `.unsupportedElementType`,
    ///   `.fortranOrder`, `.declaredSizeTooLarge`, `.truncated`, `.trailingBytes`.
    static func parse(_ bytes: [UInt8], source: String, limit: Int) throws(DataFileError) -> NumericArray {
        let header = try parseHeader(bytes, source: source, limit: limit)
        guard bytes.count >= header.totalByteCount else {
            throw .truncated(source: source, shape: header.shape, expectedBytes: header.totalByteCount, foundBytes: bytes.count)
        }
        guard bytes.count == header.totalByteCount else {
            throw .trailingBytes(source: source, shape: header.shape, expectedBytes: header.totalByteCount, foundBytes: bytes.count)
        }
        var data = Array(bytes[header.dataOffset...])
        let size = header.elementType.byteCount
        if header.bigEndian && size > 1 {
            for start in stride(from: 0, to: data.count, by: size) { data[start..<(start + size)].reverse() }
        }
        return NumericArray(source: source, elementType: header.elementType, shape: header.shape, bytes: data)
    }

    /// The header at the start of `bytes` (which may hold only a prefix of the file).
    static func parseHeader(_ bytes: [UInt8], source: String, limit: Int) throws(DataFileError) -> Header {
        guard bytes.starts(with: magic) else {
            let found = bytes.isEmpty ? "the file is empty" : "its first bytes are \(DatasetError.hex(Array(bytes.prefix(6))))"
            throw .notTheFormat(path: source, format: ".npy", found: found + ", not \\x93NUMPY")
        }
        guard bytes.count >= 10 else { throw .truncatedHeader(source: source, expectedBytes: 10, foundBytes: bytes.count) }
        let major = bytes[6]
        guard (1...3).contains(major) else { throw .malformedHeader(source: source, reason: "format version \(major).\(bytes[7]) is not 1, 2 or 3") }
        let lengthBytes = major == 1 ? 2 : 4
        guard bytes.count >= 8 + lengthBytes else {
            throw .truncatedHeader(source: source, expectedBytes: 8 + lengthBytes, foundBytes: bytes.count)
        }
        let headerLength = bytes[8..<(8 + lengthBytes)].reversed().reduce(0) { $0 << 8 | Int($1) }
        guard headerLength <= maximumHeaderByteCount else {
            throw .malformedHeader(source: source, reason: "a header of \(headerLength) bytes, more than the \(maximumHeaderByteCount) accepted")
        }
        let dataOffset = 8 + lengthBytes + headerLength
        guard bytes.count >= dataOffset else {
            throw .truncatedHeader(source: source, expectedBytes: dataOffset, foundBytes: bytes.count)
        }
        guard let text = String(validating: bytes[(8 + lengthBytes)..<dataOffset], as: UTF8.self) else {
            throw .malformedHeader(source: source, reason: "it is not UTF-8 text")
        }
        var parser = LiteralParser(text: text)
        let dictionary: [String: LiteralParser.Value]
        do { dictionary = try parser.dictionary() } catch { throw .malformedHeader(source: source, reason: error.reason) }
        guard Set(dictionary.keys) == ["descr", "fortran_order", "shape"] else {
            throw .malformedHeader(source: source, reason: "keys \(dictionary.keys.sorted()); expected exactly descr, fortran_order, shape")
        }
        guard case .string(let descr)? = dictionary["descr"] else {
            throw .unsupportedElementType(source: source, found: "a structured dtype", role: "arrays")
        }
        guard case .bool(let fortran)? = dictionary["fortran_order"] else {
            throw .malformedHeader(source: source, reason: "fortran_order is not True or False")
        }
        guard case .tuple(let shape)? = dictionary["shape"] else {
            throw .malformedHeader(source: source, reason: "shape is not a tuple of integers")
        }
        let order = descr.first ?? " "
        let typeCode = "<>|=".contains(order) ? descr.dropFirst() : Substring(descr)
        guard let kind = typeCode.first, let size = Int(typeCode.dropFirst()),
              let type = ElementType.numpy(kind: kind, size: size) else {
            throw .unsupportedElementType(source: source, found: "dtype '\(descr)' (\(Self.typeName(descr)))", role: "arrays")
        }
        if fortran && shape.count > 1 { throw .fortranOrder(source: source, shape: shape) }
        guard let byteCount = NumericArray.byteCount(shape: shape, type: type, limit: limit - dataOffset) else {
            throw .declaredSizeTooLarge(source: source, shape: shape, limit: limit)
        }
        return Header(elementType: type, bigEndian: order == ">" && size > 1, shape: shape, dataOffset: dataOffset,
                      totalByteCount: dataOffset + byteCount)
    }

    /// A name for numpy type codes this reader refuses.
    static func typeName(_ descr: String) -> String {
        let code = descr.drop { "<>|=".contains($0) }
        switch code.first {
        case "b": return "boolean"
        case "c": return "complex"
        case "O": return "Python objects"
        case "U", "S", "a": return "strings"
        case "V": return "raw bytes or a structure"
        case "M", "m": return "dates or times"
        case "f": return "a float of \(code.dropFirst()) bytes"
        default: return "not a numeric type this reader uses"
        }
    }
}

/// A strict parser of the Python literals an NPY header may hold: `{'key': value, …}` where a
/// value is a quoted string, `True`/`False`, or a tuple of non-negative integers (`(3,)`, `()`).
/// Anything else is an error; nothing is evaluated.
struct LiteralParser {
    enum Value: Equatable {
        case string(String)
        case bool(Bool)
        case tuple([Int])
        /// A list (numpy's structured dtypes), kept only to be refused by name.
        case list
    }

    struct Failure: Error { let reason: String }

    private let characters: [Character]
    private var position = 0

    init(text: String) { characters = Array(text) }

    mutating func dictionary() throws(Failure) -> [String: Value] {
        try expect("{")
        var result: [String: Value] = [:]
        while true {
            skipSpace()
            if peek() == "}" { position += 1; break }
            let key = try string()
            try expect(":")
            guard result[key] == nil else { throw Failure(reason: "the key '\(key)' appears twice") }
            result[key] = try value()
            skipSpace()
            if peek() == "," { position += 1; continue }
            try expect("}")
            break
        }
        skipSpace()
        guard position == characters.count else {
            throw Failure(reason: "text after the dictionary at character \(position + 1)")
        }
        return result
    }

    private mutating func value() throws(Failure) -> Value {
        skipSpace()
        switch peek() {
        case "'", "\"": return .string(try string())
        case "(": return .tuple(try tuple())
        case "[": return try list()
        case "T": try word("True"); return .bool(true)
        case "F": try word("False"); return .bool(false)
        default: throw Failure(reason: "an unexpected \(describe(peek())) at character \(position + 1); expected a literal")
        }
    }

    private mutating func tuple() throws(Failure) -> [Int] {
        try expect("(")
        var values: [Int] = []
        while true {
            skipSpace()
            if peek() == ")" { position += 1; return values }
            values.append(try integer())
            skipSpace()
            if peek() == "," { position += 1; continue }
            try expect(")")
            return values
        }
    }

    /// A list such as a structured dtype's `[('a', '<f4'), …]`: skipped with its nesting (strings
    /// included), so that the caller can refuse it by name.
    private mutating func list() throws(Failure) -> Value {
        var depth = 0
        while let c = peek() {
            position += 1
            if c == "[" || c == "(" { depth += 1 }
            if c == "]" || c == ")" { depth -= 1; if depth == 0 { return .list } }
            if c == "'" || c == "\"" {
                while let d = peek(), d != c { position += 1 }
                position += 1
            }
        }
        throw Failure(reason: "an unterminated list")
    }

    private mutating func integer() throws(Failure) -> Int {
        var digits = ""
        while let c = peek(), c.isASCII, c.isNumber { digits.append(c); position += 1 }
        if peek() == "L" { position += 1 }  // Python 2's long suffix, written by old numpy
        guard !digits.isEmpty else { throw Failure(reason: "an unexpected \(describe(peek())) in the shape at character \(position + 1); expected a non-negative integer") }
        guard let value = Int(digits) else { throw Failure(reason: "the dimension \(digits) does not fit a 64-bit integer") }
        return value
    }

    private mutating func string() throws(Failure) -> String {
        skipSpace()
        guard let quote = peek(), quote == "'" || quote == "\"" else {
            throw Failure(reason: "an unexpected \(describe(peek())) at character \(position + 1); expected a quoted string")
        }
        position += 1
        var text = ""
        while let c = peek(), c != quote {
            guard c != "\\" && c != "\n" else { throw Failure(reason: "an escape or line break inside a string at character \(position + 1)") }
            text.append(c)
            position += 1
        }
        guard peek() == quote else { throw Failure(reason: "an unterminated string") }
        position += 1
        return text
    }

    private mutating func word(_ expected: String) throws(Failure) {
        for c in expected {
            guard peek() == c else { throw Failure(reason: "an unexpected \(describe(peek())) at character \(position + 1); expected \(expected)") }
            position += 1
        }
    }

    private mutating func expect(_ c: Character) throws(Failure) {
        skipSpace()
        guard peek() == c else { throw Failure(reason: "an unexpected \(describe(peek())) at character \(position + 1); expected '\(c)'") }
        position += 1
    }

    private mutating func skipSpace() {
        while let c = peek(), c == " " || c == "\n" || c == "\t" || c == "\r" { position += 1 }
    }

    private func peek() -> Character? { position < characters.count ? characters[position] : nil }

    private func describe(_ c: Character?) -> String { c.map { "'\($0)'" } ?? "end of the header" }
}
