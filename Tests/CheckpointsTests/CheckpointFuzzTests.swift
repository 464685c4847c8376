@testable import Checkpoints
import Determinism
import Foundation
import XCTest

/// Random mutations of a real checkpoint: every read either returns exactly the original contents
/// (the mutation was harmless, e.g. a padding space turned into a tab) or throws a
/// `CheckpointError`; never a crash, a hang or another error type.
///
/// `LOCKSTEP_FUZZ_COUNT` (default 20000) and `LOCKSTEP_FUZZ_SEED` (default 2024) change the run;
/// `scripts/fuzz_checkpoint.sh COUNT [SEED]` runs a longer one.
final class CheckpointFuzzTests: XCTestCase {
    /// Small limits so that extensions and claimed sizes hit them cheaply.
    let limits = CheckpointLimits(maximumHeaderByteCount: 1 << 16, maximumFileByteCount: 1 << 20)

    func testRandomMutationsAreRefusedPreciselyOrHarmless() throws {
        let environment = ProcessInfo.processInfo.environment
        let count = environment["LOCKSTEP_FUZZ_COUNT"].flatMap(Int.init) ?? 20_000
        let seed = environment["LOCKSTEP_FUZZ_SEED"].flatMap(UInt64.init) ?? 2024
        let original = CheckpointSamples.mlp()
        let bytes = CheckpointEncoder.encode(original)
        var mutator = Mutator(original: bytes, generator: SeededGenerator(seed: seed))

        var refusals: [String: Int] = [:]
        var harmless = 0
        for iteration in 0..<count {
            let (mutated, description) = mutator.next()
            do {
                let checkpoint = try CheckpointReader.decode(mutated, source: "fuzz", limits: limits).checkpoint
                harmless += 1
                if checkpoint != original {
                    XCTFail("iteration \(iteration) (\(description)) read different contents without an error")
                    return
                }
            } catch let error as CheckpointError {
                refusals[Mirror(reflecting: error).children.first?.label ?? "?", default: 0] += 1  // the case name
            } catch {
                XCTFail("iteration \(iteration) (\(description)) threw \(type(of: error)): \(error)")
                return
            }
        }
        let summary = refusals.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("fuzz: \(count) mutations (seed \(seed)), \(harmless) harmless; refusals: \(summary)")
        // The mutations reach every layer of checks, not only the first ones.
        for kind in [
            "fileTooShort", "headerLengthExceedsFile", "headerTooLarge", "headerNotJSON", "headerNotUTF8", "invalidHeader",
            "invalidShape", "invalidOffsets", "sizeMismatch", "overlappingTensors", "gapBetweenTensors", "truncated",
            "trailingData", "dataChecksumMismatch", "headerChecksumMismatch", "unsupportedDataType", "fileTooLarge",
            "wrongFormat", "unsupportedVersion", "missingMetadata", "invalidMetadata", "offsetsOutsideData",
        ] where count >= 20_000 {
            XCTAssertGreaterThan(refusals[kind, default: 0], 0, "no mutation produced \(kind): \(summary)")
        }
    }
}

/// Produces mutated copies of a checkpoint file.
struct Mutator {
    let original: [UInt8]
    var generator: SeededGenerator
    /// The original header's length and text.
    let headerLength: Int

    init(original: [UInt8], generator: SeededGenerator) {
        self.original = original
        self.generator = generator
        headerLength = Int(original.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
    }

    /// One to three mutations of the original, and what they were.
    mutating func next() -> (bytes: [UInt8], description: String) {
        var bytes = original
        var descriptions: [String] = []
        for _ in 0..<(1 + generator.nextIndex(below: 3)) {
            descriptions.append(mutate(&bytes))
        }
        return (bytes, descriptions.joined(separator: "; "))
    }

    mutating func index(_ bound: Int) -> Int { generator.nextIndex(below: max(bound, 1)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: generator.next()) }

    /// The header span of `bytes` according to its length prefix (clamped to the file).
    func headerRange(_ bytes: [UInt8]) -> Range<Int> {
        guard bytes.count >= 8 else { return 0..<0 }
        let claimed = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        return 8..<(8 + Int(min(claimed, UInt64(bytes.count - 8))))
    }

    /// Replaces the header with `text`, fixing the length prefix (and padding) most of the time.
    mutating func replaceHeader(_ bytes: inout [UInt8], with text: [UInt8]) {
        let range = headerRange(bytes)
        var header = text
        if index(4) != 0 { while header.count % 8 != 0 { header.append(0x20) } }
        bytes.replaceSubrange(range, with: header)
        if index(5) != 0 { setLength(&bytes, UInt64(header.count)) }
    }

    func setLength(_ bytes: inout [UInt8], _ length: UInt64) {
        guard bytes.count >= 8 else { return }
        withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
    }

    static let numbers = [
        "-1", "0", "-0", "1.5", "1e308", "1e400", "99999999999999999999999", "4294967296", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808", "2147483648", "4", "8", "null", "true", "\"4\"", "[]", "{}",
    ]
    static let fragments = [
        "{", "}", "[", "]", "\"", ",", ":", "\\", "\\u0000", "\\ud800", "\u{0}", "\u{7F}", "é", "\"__metadata__\"",
        "\"dtype\":\"F64\"", "\"shape\":[]", "\"data_offsets\":[0,0]", "\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
    ]

    mutating func mutate(_ bytes: inout [UInt8]) -> String {
        switch index(14) {
        case 0:
            let position = index(bytes.count)
            guard position < bytes.count else { return "flip in empty file" }
            let bit = index(8)
            bytes[position] ^= 1 << bit
            return "flip bit \(bit) of byte \(position)"
        case 1:
            let position = index(bytes.count)
            guard position < bytes.count else { return "overwrite in empty file" }
            bytes[position] = byte()
            return "overwrite byte \(position)"
        case 2:
            let length = index(8) == 0 ? index(min(8, bytes.count)) : index(bytes.count)  // sometimes shorter than the prefix
            bytes.removeLast(bytes.count - length)
            return "truncate to \(length)"
        case 3:
            let extra = 1 + index(64)
            bytes += (0..<extra).map { _ in index(2) == 0 ? 0 : byte() }
            return "extend by \(extra)"
        case 4:
            let choices: [UInt64] = [0, 1, 7, UInt64(headerLength - 1), UInt64(headerLength + 8), UInt64(bytes.count), UInt64.max, 1 << 40, generator.next()]
            let length = choices[index(choices.count)]
            setLength(&bytes, length)
            return "header length \(length)"
        case 5:  // a JSON number (or the value after a colon) replaced
            let range = headerRange(bytes)
            let digits = range.filter { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[$0]) }
            guard !digits.isEmpty else { return "no digit" }
            var start = digits[index(digits.count)]
            var end = start
            while start > range.lowerBound, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[start - 1]) { start -= 1 }
            while end < range.upperBound, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end]) { end += 1 }
            let replacement = Self.numbers[index(Self.numbers.count)]
            var header = Array(bytes[range])
            header.replaceSubrange((start - 8)..<(end - 8), with: Array(replacement.utf8))
            replaceHeader(&bytes, with: header)
            return "number at \(start) → \(replacement)"
        case 6:  // a fragment inserted into the header
            let range = headerRange(bytes)
            let fragment = Self.fragments[index(Self.fragments.count)]
            var header = Array(bytes[range])
            header.insert(contentsOf: Array(fragment.utf8), at: index(header.count + 1))
            replaceHeader(&bytes, with: header)
            return "insert \(fragment)"
        case 7:  // a span of the header deleted
            let range = headerRange(bytes)
            var header = Array(bytes[range])
            guard !header.isEmpty else { return "empty header" }
            let start = index(header.count)
            let end = min(header.count, start + 1 + index(40))
            header.removeSubrange(start..<end)
            replaceHeader(&bytes, with: header)
            return "delete header \(start)..<\(end)"
        case 8:  // a member duplicated: `"name":{…}` (or a metadata pair) appended again
            let range = headerRange(bytes)
            var header = Array(bytes[range])
            guard let close = header.lastIndex(of: UInt8(ascii: "}")), let member = randomMember(header) else { return "no member" }
            header.insert(contentsOf: [UInt8(ascii: ",")] + header[member], at: close)
            replaceHeader(&bytes, with: header)
            return "duplicate member"
        case 9:  // two quoted strings of the header swapped (names, dtypes, metadata values)
            let range = headerRange(bytes)
            var header = Array(bytes[range])
            let strings = quotedStrings(header)
            guard strings.count >= 2 else { return "no strings" }
            let a = strings[index(strings.count)]
            let b = strings[index(strings.count)]
            guard a != b else { return "same string" }
            let (first, second) = a.lowerBound < b.lowerBound ? (a, b) : (b, a)
            guard first.upperBound <= second.lowerBound else { return "nested strings" }
            let firstText = Array(header[first])
            let secondText = Array(header[second])
            header.replaceSubrange(second, with: firstText)
            header.replaceSubrange(first, with: secondText)
            replaceHeader(&bytes, with: header)
            return "swap strings"
        case 10:  // deep nesting
            let depth = 1 + index(5000)
            let range = headerRange(bytes)
            var header = Array(bytes[range])
            let position = index(header.count + 1)
            header.insert(contentsOf: Array((String(repeating: "[", count: depth) + String(repeating: "]", count: index(2) * depth)).utf8), at: position)
            replaceHeader(&bytes, with: header)
            return "nest \(depth)"
        case 11:  // a tensor's data_offsets shifted by a multiple of 4 bytes (size kept)
            let range = headerRange(bytes)
            var header = String(decoding: bytes[range], as: UTF8.self)
            let pattern = "\"data_offsets\":["
            var matches: [Range<String.Index>] = []
            var searchStart = header.startIndex
            while let match = header.range(of: pattern, range: searchStart..<header.endIndex) {
                matches.append(match)
                searchStart = match.upperBound
            }
            guard !matches.isEmpty else { return "no data_offsets" }
            let match = matches[index(matches.count)]
            guard let close = header[match.upperBound...].firstIndex(of: "]") else { return "no ]" }
            let numbers = header[match.upperBound..<close].split(separator: ",").compactMap { Int($0) }
            guard numbers.count == 2 else { return "odd offsets" }
            let shift = (index(2) == 0 ? -4 : 4) * (1 + index(8))
            header.replaceSubrange(match.upperBound..<close, with: "\(max(0, numbers[0] &+ shift)),\(max(0, numbers[1] &+ shift))")
            replaceHeader(&bytes, with: Array(header.utf8))
            return "shift offsets by \(shift)"
        case 12 where index(4) == 0:  // (rarely: big arrays slow the other mutations down)
            // A file larger than the header limit, or than the file limit.
            let size = index(8) == 0 ? (1 << 20) + 1 : (1 << 16) + 100
            bytes += [UInt8](repeating: 0, count: max(0, size - bytes.count))
            setLength(&bytes, UInt64((1 << 16) + 1 + index(50)))
            return "large file of \(bytes.count) bytes"
        default:  // a burst of random bytes somewhere
            let start = index(bytes.count)
            let end = min(bytes.count, start + 1 + index(16))
            for position in start..<end { bytes[position] = byte() }
            return "random bytes \(start)..<\(end)"
        }
    }

    /// Byte ranges of `"…"` strings (quotes included) in `header`.
    func quotedStrings(_ header: [UInt8]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start: Int?
        var escaped = false
        for (position, value) in header.enumerated() {
            if let open = start {
                if escaped { escaped = false } else if value == UInt8(ascii: "\\") { escaped = true } else if value == UInt8(ascii: "\"") {
                    result.append(open..<(position + 1))
                    start = nil
                }
            } else if value == UInt8(ascii: "\"") {
                start = position
            }
        }
        return result
    }

    /// A random `"key":{…}` or `"key":"value"` member of `header`.
    mutating func randomMember(_ header: [UInt8]) -> Range<Int>? {
        let strings = quotedStrings(header)
        let keys = strings.filter { $0.upperBound < header.count && header[$0.upperBound] == UInt8(ascii: ":") }
        guard !keys.isEmpty else { return nil }
        let key = keys[index(keys.count)]
        let valueStart = key.upperBound + 1
        guard valueStart < header.count else { return nil }
        if header[valueStart] == UInt8(ascii: "\"") {
            return strings.first { $0.lowerBound == valueStart }.map { key.lowerBound..<$0.upperBound }
        }
        guard header[valueStart] == UInt8(ascii: "{"), let close = header[valueStart...].firstIndex(of: UInt8(ascii: "}")) else { return nil }
        return key.lowerBound..<(close + 1)
    }
}
