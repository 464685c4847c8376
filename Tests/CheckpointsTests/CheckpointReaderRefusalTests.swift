@testable import Checkpoints
import Foundation
import Reporting
import TestSupport
import XCTest

/// Every way a file can be refused, each with the exact error (file, expected, found).
final class CheckpointReaderRefusalTests: XCTestCase {
    let file = "t.safetensors"

    // MARK: - Helpers

    /// A file from header JSON text (padded with spaces to a multiple of 8) and a data section.
    func craft(_ header: String, data: [UInt8] = []) -> [UInt8] {
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        return withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) } + headerBytes + data
    }

    /// The `__metadata__` member with the format's keys (checksums zero unless given).
    func metadata(format: String? = "lockstep-checkpoint", version: String? = "1", dataCRC: String? = "00000000", headerCRC: String? = "00000000") -> String {
        let members = [("format", format), ("format_version", version), ("data_crc32", dataCRC), ("header_crc32", headerCRC)]
            .compactMap { key, value in value.map { "\"\(key)\":\"\($0)\"" } }
        return "\"__metadata__\":{" + members.joined(separator: ",") + "}"
    }

    /// A header with the format metadata and `tensors` (JSON members).
    func header(_ tensors: String...) -> String {
        "{" + ([metadata()] + tensors).joined(separator: ",") + "}"
    }

    func assertRefused(
        _ bytes: [UInt8], limits: CheckpointLimits = .default, _ expected: CheckpointError,
        file testFile: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try CheckpointReader.decode(bytes, source: file, limits: limits), file: testFile, line: line) { error in
            XCTAssertEqual(error as? CheckpointError, expected, file: testFile, line: line)
            if let error = error as? CheckpointError {
                XCTAssertEqual(error.exitStatus, .data, file: testFile, line: line)
                XCTAssertTrue(error.description.contains(file), error.description, file: testFile, line: line)
            }
        }
    }

    func validFile() -> [UInt8] { CheckpointEncoder.encode(CheckpointSamples.mlp()) }

    // MARK: - Length prefix and header

    func testFileShorterThanTheLengthPrefix() {
        assertRefused([], .fileTooShort(file: file, byteCount: 0))
        assertRefused([1, 2, 3, 4, 5], .fileTooShort(file: file, byteCount: 5))
    }

    func testHeaderLengthLargerThanTheFile() {
        var bytes = validFile()
        let available = bytes.count - 8
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64.max.littleEndian) { Array($0) })
        assertRefused(bytes, .headerLengthExceedsFile(file: file, headerLength: UInt64.max, available: available))
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(available + 1).littleEndian) { Array($0) })
        assertRefused(bytes, .headerLengthExceedsFile(file: file, headerLength: UInt64(available + 1), available: available))
    }

    func testHeaderAndFileLargerThanTheLimits() {
        let bytes = validFile()
        let headerLength = Int(bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        assertRefused(
            bytes, limits: CheckpointLimits(maximumHeaderByteCount: 64),
            .headerTooLarge(file: file, headerLength: headerLength, limit: 64))
        assertRefused(
            bytes, limits: CheckpointLimits(maximumFileByteCount: 1000),
            .fileTooLarge(file: file, byteCount: bytes.count, limit: 1000))
    }

    func testHeaderThatIsNotAJSONObject() {
        assertRefused(withUnsafeBytes(of: UInt64(0)) { Array($0) }, .headerNotJSON(file: file, reason: "the header is empty"))
        assertRefused(craft("[1, 2]"), .headerNotJSON(file: file, reason: "the header does not start with \"{\""))
        assertRefused(craft("{\"a\": 1} x"), .headerNotJSON(file: file, reason: "Invalid value around character 9."))
        let deep = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        assertRefused(craft(deep), .headerNotJSON(file: file, reason: "objects and arrays nest deeper than 64 levels (at byte 68)"))
        // Brackets inside strings do not nest.
        let quoted = "{\"a\":\"" + String(repeating: "[", count: 100) + "\\\"\"}"
        assertRefused(craft(quoted), .invalidHeader(file: file, reason: "\"a\": Expected to decode Dictionary<String, Any> but found a string instead."))
    }

    /// The input that made Foundation's parser trap (found by the fuzzer): its nesting limit of
    /// 512 reached at the header's last byte, with no padding after it.
    func testNestingThatCrashedFoundationIsRefused() {
        let header = Array((String(repeating: "{\"k\":", count: 512) + "[").utf8)  // unpadded: "[" is the last byte
        let bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header
        assertRefused(bytes, .headerNotJSON(file: file, reason: "objects and arrays nest deeper than 64 levels (at byte 320)"))
    }

    func testHeaderThatIsNotUTF8() {
        var bytes = craft(header())
        bytes[8 + 3] = 0xFF  // inside "__metadata__"
        assertRefused(bytes, .headerNotUTF8(file: file, byteOffset: 11))
    }

    func testJSONThatIsNotASafetensorsHeader() {
        assertRefused(craft(header("\"w\":5")), .invalidHeader(file: file, reason: "\"w\": Expected to decode Dictionary<String, Any> but found number instead."))
        assertRefused(
            craft(header("\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}")),
            .invalidHeader(file: file, reason: "\"w\".\"extra\": unknown field; a tensor entry has only dtype, shape and data_offsets"))
        assertRefused(
            craft(header("\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}")),
            .invalidHeader(file: file, reason: "\"w\" has no field \"shape\""))
        assertRefused(
            craft("{\"__metadata__\":{\"format\":1}}"),
            .invalidHeader(file: file, reason: "\"__metadata__\".\"format\": Expected to decode String but found number instead."))
    }

    // MARK: - Format metadata

    func testWrongMagicAndVersion() {
        assertRefused(craft("{}"), .wrongFormat(file: file, found: nil))
        assertRefused(craft("{" + metadata(format: "pt") + "}"), .wrongFormat(file: file, found: "pt"))
        assertRefused(craft("{" + metadata(version: nil) + "}"), .missingMetadata(file: file, key: "format_version"))
        assertRefused(craft("{" + metadata(version: "3") + "}"), .unsupportedVersion(file: file, found: "3"))
    }

    func testMissingOrMisspelledChecksums() {
        assertRefused(craft("{" + metadata(dataCRC: nil) + "}"), .missingMetadata(file: file, key: "data_crc32"))
        assertRefused(craft("{" + metadata(headerCRC: nil) + "}"), .missingMetadata(file: file, key: "header_crc32"))
        assertRefused(
            craft("{" + metadata(dataCRC: "3610A686") + "}"),
            .invalidMetadata(file: file, key: "data_crc32", value: "3610A686", expected: "8 lowercase hex digits"))
    }

    // MARK: - Tensor entries

    func testUnknownDataType() {
        assertRefused(
            craft(header("\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}"), data: [0, 0, 0, 0]),
            .unsupportedDataType(file: file, tensor: "w", dataType: "F16"))
    }

    func testInvalidShapes() {
        func entry(_ shape: String) -> [UInt8] { craft(header("\"w\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,4]}")) }
        assertRefused(entry("[2,-1]"), .invalidShape(file: file, tensor: "w", shape: "[2, -1]", reason: "dimension -1 is negative"))
        assertRefused(entry("[1.5]"), .invalidShape(file: file, tensor: "w", shape: "[1.5]", reason: "1.5 is not an integer"))
        assertRefused(entry("[\"4\"]"), .invalidShape(file: file, tensor: "w", shape: "[\"4\"]", reason: "\"4\" is not an integer"))
        assertRefused(entry("[1e30]"), .invalidShape(file: file, tensor: "w", shape: "[1e+30]", reason: "1e+30 is not an integer"))
        assertRefused(
            entry("[4294967296,4294967296]"),
            .invalidShape(
                file: file, tensor: "w", shape: "[4294967296, 4294967296]",
                reason: "the element count overflows and is more than a file within the limit of 4294967296 bytes holds"))
        assertRefused(
            entry("[2147483648]"),
            .invalidShape(
                file: file, tensor: "w", shape: "[2147483648]",
                reason: "2147483648 elements are more than a file within the limit of 4294967296 bytes holds"))
    }

    func testInvalidOffsets() {
        func entry(_ offsets: String) -> [UInt8] {
            craft(header("\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\(offsets)}"), data: [0, 0, 0, 0])
        }
        assertRefused(entry("[0,4,8]"), .invalidOffsets(file: file, tensor: "w", offsets: "[0, 4, 8]", reason: "expected [begin, end], found 3 numbers"))
        assertRefused(entry("[4,0]"), .invalidOffsets(file: file, tensor: "w", offsets: "[4, 0]", reason: "expected 0 ≤ begin ≤ end"))
        assertRefused(entry("[-4,0]"), .invalidOffsets(file: file, tensor: "w", offsets: "[-4, 0]", reason: "expected 0 ≤ begin ≤ end"))
        assertRefused(entry("[0,null]"), .invalidOffsets(file: file, tensor: "w", offsets: "[0, null]", reason: "offsets must be integers"))
        assertRefused(
            entry("[1125899906842624,1125899906842628]"),
            .offsetsOutsideData(file: file, tensor: "w", begin: 1 << 50, end: (1 << 50) + 4, limit: 1 << 32))
        assertRefused(entry("[0,8]"), .sizeMismatch(file: file, tensor: "w", shape: [1], expectedByteCount: 4, foundByteCount: 8))
    }

    func testOverlappingTensorsAndHoles() {
        let a = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"
        assertRefused(
            craft(header(a, "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}"), data: Array(repeating: 0, count: 12)),
            .overlappingTensors(file: file, tensor: "b", begin: 4, previous: "a", previousEnd: 8))
        assertRefused(
            craft(header(a, "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}"), data: Array(repeating: 0, count: 16)),
            .gapBetweenTensors(file: file, tensor: "b", begin: 12, expectedBegin: 8))
        assertRefused(
            craft(header("\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}"), data: Array(repeating: 0, count: 8)),
            .gapBetweenTensors(file: file, tensor: "b", begin: 4, expectedBegin: 0))
        // A duplicated key (the second copy is dropped by the JSON decoder) leaves a hole.
        assertRefused(
            craft(header(a, "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}"), data: Array(repeating: 0, count: 16)),
            .trailingData(file: file, dataByteCount: 16, coveredByteCount: 8))
    }

    // MARK: - Data section

    func testTruncatedFile() {
        let bytes = validFile()
        for cut in [1, 4, 100] {
            assertRefused(Array(bytes.dropLast(cut)), .truncated(file: file, expectedByteCount: bytes.count, byteCount: bytes.count - cut))
        }
    }

    func testTrailingBytes() {
        let bytes = validFile()
        let dataByteCount = CheckpointSamples.mlp().tensors.map(\.elementCount).reduce(0, +) * 4
        assertRefused(bytes + [0], .trailingData(file: file, dataByteCount: dataByteCount + 1, coveredByteCount: dataByteCount))
    }

    func testFlippedDataBitFailsTheDataChecksum() throws {
        let bytes = validFile()
        let layout = try CheckpointReader.decode(bytes, source: file).layout
        var flipped = bytes
        flipped[bytes.count - 1000] ^= 0x10
        let computed = flipped.withUnsafeBytes { CheckpointFormat.crc32(UnsafeRawBufferPointer(rebasing: $0[(8 + layout.headerByteCount)...])) }
        XCTAssertNotEqual(computed, layout.dataCRC32)
        assertRefused(flipped, .dataChecksumMismatch(file: file, stored: layout.dataCRC32, computed: computed))
    }

    /// A changed digit in a metadata value passes every structural check and the data CRC; only
    /// the header checksum catches it.
    func testChangedMetadataValueFailsTheHeaderChecksum() throws {
        let bytes = validFile()
        let stored = try CheckpointReader.decode(bytes, source: file).layout.headerCRC32
        let original = Array("\"global_step\":\"1200\"".utf8)
        let offset = try XCTUnwrap((0..<bytes.count - original.count).first { bytes[$0..<($0 + original.count)].elementsEqual(original) })
        var changed = bytes
        changed[offset + original.count - 4] = UInt8(ascii: "3")  // "1200" → "1300"
        XCTAssertThrowsError(try CheckpointReader.decode(changed, source: file)) { error in
            guard case let .headerChecksumMismatch(errorFile, errorStored, errorComputed) = error as? CheckpointError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(errorFile, file)
            XCTAssertEqual(errorStored, stored)
            XCTAssertNotEqual(errorComputed, stored)
        }
    }

    // MARK: - Files

    func testMissingUnreadableAndNonRegularFiles() throws {
        let directory = try ProcessRunner.temporaryDirectory("checkpoint-read")
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("ckpt.safetensors")
        XCTAssertThrowsError(try CheckpointReader.read(from: missing)) { error in
            XCTAssertEqual(error as? CheckpointError, .fileNotFound(file: missing.path))
            XCTAssertEqual((error as? CheckpointError)?.exitStatus, .missingInput)
        }
        XCTAssertThrowsError(try CheckpointReader.read(from: directory)) { error in
            XCTAssertEqual(error as? CheckpointError, .notARegularFile(file: directory.path))
            XCTAssertEqual((error as? CheckpointError)?.exitStatus, .missingInput)
        }
        let regular = directory.appendingPathComponent("plain")
        try Data("x".utf8).write(to: regular)
        let throughFile = regular.appendingPathComponent("ckpt.safetensors")
        XCTAssertThrowsError(try CheckpointReader.read(from: throughFile)) { error in
            XCTAssertEqual(error as? CheckpointError, .cannotOpen(file: throughFile.path, code: ENOTDIR))
            XCTAssertEqual((error as? CheckpointError)?.exitStatus, .missingInput)
        }
    }
}
