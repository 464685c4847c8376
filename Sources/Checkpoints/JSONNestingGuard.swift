/// Keeps deeply nested JSON away from Foundation's parser.
///
/// Foundation's JSON parser (swift-foundation in Swift 6.3.1; `JSONDecoder` and
/// `JSONSerialization` alike) has a nesting limit of 512 levels, but when that limit is reached
/// at the very last byte of the input it traps (an out-of-range index while computing the
/// error's source location) instead of throwing: `{"k":` repeated 512 times followed by `[`
/// crashes the process. Checkpoint headers and metadata values come from files that may be
/// hostile, so everything parsed as JSON here is first checked to nest at most
/// `maximumDepth` levels, far below that limit and far above what a header (3 levels) or a
/// training configuration needs.
enum JSONNestingGuard {
    static let maximumDepth = 64

    /// The offset of the first `{` or `[` (outside strings) nested deeper than `maximumDepth`,
    /// or nil.
    static func offsetExceedingMaximumDepth<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Int? {
        var depth = 0
        var inString = false
        var escaped = false
        for (offset, byte) in bytes.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maximumDepth { return offset }
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth = max(0, depth - 1)
            default: break
            }
        }
        return nil
    }

    /// The problem to report for `bytes`, or nil when they may be parsed.
    static func problem<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String? {
        offsetExceedingMaximumDepth(bytes).map { "objects and arrays nest deeper than \(maximumDepth) levels (at byte \($0))" }
    }
}
