import Reporting

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything that can go wrong reading, writing or finding a checkpoint. Every case names the
/// file (or directory) and, where it applies, what was expected and what was found.
///
/// Exit statuses: `.missingInput` for a file or directory that is absent or cannot be opened,
/// `.data` for a file that is not a valid checkpoint (or not the one the model needs), `.io` for a
/// failed write.
public enum CheckpointError: ReportableError, Equatable, Sendable {
    /// A tensor whose shape differs from the model's.
    public struct ShapeMismatch: Equatable, Sendable {
        public let name: String
        public let expected: [Int]
        public let found: [Int]
    }

    // MARK: Missing input (.missingInput)
    case fileNotFound(file: String)
    /// `open` failed with `errno` `code`.
    case cannotOpen(file: String, code: Int32)
    case notARegularFile(file: String)
    /// `read` failed with `errno` `code`.
    case readFailed(file: String, code: Int32)
    /// Listing a checkpoint directory failed with `errno` `code`.
    case directoryUnreadable(directory: String, code: Int32)

    // MARK: Malformed file (.data)
    case fileTooShort(file: String, byteCount: Int)
    case fileTooLarge(file: String, byteCount: Int, limit: Int)
    case headerLengthExceedsFile(file: String, headerLength: UInt64, available: Int)
    case headerTooLarge(file: String, headerLength: Int, limit: Int)
    case headerNotUTF8(file: String, byteOffset: Int)
    case headerNotJSON(file: String, reason: String)
    /// Valid JSON that is not a safetensors header (wrong types, missing or unknown fields).
    case invalidHeader(file: String, reason: String)
    /// `format` is missing (`found == nil`) or not `lockstep-checkpoint`.
    case wrongFormat(file: String, found: String?)
    case unsupportedVersion(file: String, found: String)
    case missingMetadata(file: String, key: String)
    case invalidMetadata(file: String, key: String, value: String, expected: String)
    case unsupportedDataType(file: String, tensor: String, dataType: String)
    case invalidShape(file: String, tensor: String, shape: String, reason: String)
    case invalidOffsets(file: String, tensor: String, offsets: String, reason: String)
    /// Offsets beyond the largest data section the reader's limits allow.
    case offsetsOutsideData(file: String, tensor: String, begin: Int, end: Int, limit: Int)
    case sizeMismatch(file: String, tensor: String, shape: [Int], expectedByteCount: Int, foundByteCount: Int)
    case overlappingTensors(file: String, tensor: String, begin: Int, previous: String, previousEnd: Int)
    /// A hole in the data section: `tensor` starts at `begin` instead of `expectedBegin`.
    case gapBetweenTensors(file: String, tensor: String, begin: Int, expectedBegin: Int)
    /// The header describes `expectedByteCount` bytes of file but there are only `byteCount`.
    case truncated(file: String, expectedByteCount: Int, byteCount: Int)
    /// Bytes after the last tensor's data.
    case trailingData(file: String, dataByteCount: Int, coveredByteCount: Int)
    case dataChecksumMismatch(file: String, stored: UInt32, computed: UInt32)
    case headerChecksumMismatch(file: String, stored: UInt32, computed: UInt32)
    case tensorsDoNotMatch(file: String, missing: [String], unexpected: [String], mismatched: [ShapeMismatch])
    /// A checkpoint directory with no checkpoint but temporary files of interrupted writes.
    case onlyTemporaryFiles(directory: String, files: [String])
    /// A checkpoint directory whose checkpoints all fail to read; `failures` describe each.
    case noValidCheckpoint(directory: String, failures: [String])

    // MARK: Write failure (.io)
    /// `operation` ("create", "write", "fsync", "rename to …", …) on `file` failed with `errno` `code`.
    case writeFailed(file: String, operation: String, code: Int32)

    public var exitStatus: ExitStatus {
        switch self {
        case .fileNotFound, .cannotOpen, .notARegularFile, .readFailed, .directoryUnreadable: .missingInput
        case .writeFailed: .io
        default: .data
        }
    }

    public var description: String {
        switch self {
        case let .fileNotFound(file): "checkpoint \(file) does not exist"
        case let .cannotOpen(file, code): "cannot open checkpoint \(file): \(Self.systemMessage(code))"
        case let .notARegularFile(file): "checkpoint \(file) is not a regular file"
        case let .readFailed(file, code): "reading checkpoint \(file) failed: \(Self.systemMessage(code))"
        case let .directoryUnreadable(directory, code):
            "cannot list checkpoint directory \(directory): \(Self.systemMessage(code))"
        case let .fileTooShort(file, byteCount):
            "checkpoint \(file) is \(byteCount) bytes long; expected at least the 8-byte header length"
        case let .fileTooLarge(file, byteCount, limit):
            "checkpoint \(file) is larger than the limit of \(limit) bytes (at least \(byteCount) bytes)"
        case let .headerLengthExceedsFile(file, headerLength, _) where Self.isText(headerLength):
            "\(file) is not a safetensors checkpoint: it starts with text (\"\(Self.text(headerLength))\"), where a "
                + "checkpoint starts with its header's length"
        case let .headerLengthExceedsFile(file, headerLength, available):
            "checkpoint \(file) claims a \(headerLength)-byte header, but only \(available) bytes follow the header length"
        case let .headerTooLarge(file, headerLength, limit):
            "checkpoint \(file) claims a \(headerLength)-byte header, more than the limit of \(limit) bytes"
        case let .headerNotUTF8(file, byteOffset):
            "the header of checkpoint \(file) is not valid UTF-8 (at file byte \(byteOffset))"
        case let .headerNotJSON(file, reason): "the header of checkpoint \(file) is not valid JSON: \(reason)"
        case let .invalidHeader(file, reason): "the header of checkpoint \(file) is not a safetensors header: \(reason)"
        case let .wrongFormat(file, found):
            "\(file) is not a Lockstep checkpoint: metadata \"format\" is "
                + (found.map { "\"\(Self.abbreviated($0))\"" } ?? "missing") + ", expected \"\(CheckpointFormat.formatName)\""
        case let .unsupportedVersion(file, found):
            "checkpoint \(file) has format version \"\(Self.abbreviated(found))\"; this build reads versions "
                + CheckpointFormat.readableVersions.map { "\"\($0)\"" }.joined(separator: " and ")
        case let .missingMetadata(file, key): "checkpoint \(file) has no metadata \"\(key)\""
        case let .invalidMetadata(file, key, value, expected):
            "checkpoint \(file): metadata \"\(key)\" is \"\(Self.abbreviated(value))\", expected \(expected)"
        case let .unsupportedDataType(file, tensor, dataType):
            "checkpoint \(file): tensor \"\(Self.abbreviated(tensor))\" has dtype \"\(Self.abbreviated(dataType))\", expected \"\(CheckpointFormat.float32DataType)\""
        case let .invalidShape(file, tensor, shape, reason):
            "checkpoint \(file): tensor \"\(Self.abbreviated(tensor))\" has shape \(Self.abbreviated(shape)): \(reason)"
        case let .invalidOffsets(file, tensor, offsets, reason):
            "checkpoint \(file): tensor \"\(Self.abbreviated(tensor))\" has data_offsets \(Self.abbreviated(offsets)): \(reason)"
        case let .offsetsOutsideData(file, tensor, begin, end, limit):
            "checkpoint \(file): tensor \"\(Self.abbreviated(tensor))\" has data_offsets [\(begin), \(end)] outside any data section "
                + "this reader accepts (at most \(limit) bytes)"
        case let .sizeMismatch(file, tensor, shape, expectedByteCount, foundByteCount):
            "checkpoint \(file): tensor \"\(Self.abbreviated(tensor))\" of shape \(shape) needs \(expectedByteCount) bytes, "
                + "but its data_offsets span \(foundByteCount)"
        case let .overlappingTensors(file, tensor, begin, previous, previousEnd):
            "checkpoint \(file): tensor \"\(Self.abbreviated(tensor))\" starts at data byte \(begin), inside tensor \"\(Self.abbreviated(previous))\" "
                + "which ends at \(previousEnd)"
        case let .gapBetweenTensors(file, tensor, begin, expectedBegin):
            "checkpoint \(file): tensor \"\(Self.abbreviated(tensor))\" starts at data byte \(begin), expected \(expectedBegin) "
                + "(the data section has a hole)"
        case let .truncated(file, expectedByteCount, byteCount):
            "checkpoint \(file) is truncated: its header describes \(expectedByteCount) bytes, the file has \(byteCount)"
        case let .trailingData(file, dataByteCount, coveredByteCount):
            "checkpoint \(file) has \(dataByteCount - coveredByteCount) bytes after the last tensor "
                + "(data section \(dataByteCount) bytes, tensors cover \(coveredByteCount))"
        case let .dataChecksumMismatch(file, stored, computed):
            "checkpoint \(file) is corrupt: the data section's CRC-32 is \(CheckpointFormat.checksumString(computed)), "
                + "the header says \(CheckpointFormat.checksumString(stored))"
        case let .headerChecksumMismatch(file, stored, computed):
            "checkpoint \(file) is corrupt: the header's CRC-32 is \(CheckpointFormat.checksumString(computed)), "
                + "the header says \(CheckpointFormat.checksumString(stored))"
        case let .tensorsDoNotMatch(file, missing, unexpected, mismatched):
            "checkpoint \(file) does not match the model: "
                + ([
                    missing.isEmpty ? nil : "missing \(Self.list(missing))",
                    unexpected.isEmpty ? nil : "unexpected \(Self.list(unexpected))",
                    mismatched.isEmpty
                        ? nil
                        : "shape mismatch "
                            + mismatched.map { "\($0.name) (model \($0.expected), checkpoint \($0.found))" }
                            .joined(separator: ", "),
                ] as [String?]).compactMap { $0 }.joined(separator: "; ")
        case let .onlyTemporaryFiles(directory, files):
            "checkpoint directory \(directory) holds no checkpoint, only the temporary "
                + (files.count == 1 ? "file " : "files ") + files.joined(separator: ", ")
                + " of an interrupted write"
        case let .noValidCheckpoint(directory, failures):
            "no checkpoint in \(directory) can be read: " + failures.joined(separator: "; ")
        case let .writeFailed(file, operation, code):
            "writing checkpoint failed: \(operation) \(file): \(Self.systemMessage(code))"
        }
    }

    public var hint: String? {
        switch self {
        case .fileNotFound, .cannotOpen, .notARegularFile, .readFailed:
            "check the checkpoint's path"
        case .directoryUnreadable: "check --checkpoint-dir"
        case .unsupportedVersion:
            "read it with the Lockstep version that wrote it, or start afresh"
        case .wrongFormat:
            "give the path of a file written by lockstep (ckpt-step-…safetensors)"
        case let .headerLengthExceedsFile(_, headerLength, _) where Self.isText(headerLength):
            "give the path of a checkpoint written by lockstep (ckpt-step-…safetensors in a run's checkpoints/ folder)"
        case .tensorsDoNotMatch:
            "resume with the model configuration the checkpoint was written with"
        case .onlyTemporaryFiles:
            "the run was killed while writing its first checkpoint, so there is nothing to resume: "
                + "delete the temporary file and start afresh"
        case .noValidCheckpoint:
            "move the damaged files away to start afresh, or resume from a copy (--resume PATH)"
        case let .writeFailed(_, _, code):
            switch code {
            case ENOSPC, EDQUOT, EFBIG: "free disk space or choose another --checkpoint-dir; the previous checkpoint is intact"
            case EACCES, EPERM, EROFS: "make --checkpoint-dir writable; the previous checkpoint is intact"
            default: "the previous checkpoint is intact"
            }
        default:
            "the file is damaged or was not written by lockstep: resume from an earlier checkpoint "
                + "(--resume PATH) or start afresh"
        }
    }

    /// True when the 8 bytes read as the header length (little-endian) are printable text: the
    /// file is a text file (metrics, JSON, CSV), not a damaged checkpoint.
    static func isText(_ headerLength: UInt64) -> Bool {
        withUnsafeBytes(of: headerLength.littleEndian) { bytes in bytes.allSatisfy { (0x20...0x7E).contains($0) || [9, 10, 13].contains($0) } }
    }

    /// Those 8 bytes as text, control characters escaped.
    static func text(_ headerLength: UInt64) -> String {
        withUnsafeBytes(of: headerLength.littleEndian) { bytes in
            bytes.map { $0 == 10 ? "\\n" : $0 == 9 ? "\\t" : $0 == 13 ? "\\r" : String(UnicodeScalar($0)) }.joined()
        }
    }

    // MARK: - Formatting

    static func systemMessage(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }

    /// Values from a hostile file can be huge: show at most 80 characters.
    static func abbreviated(_ text: String) -> String {
        text.count <= 80 ? text : text.prefix(77) + "…"
    }

    static func list(_ names: [String]) -> String {
        let shown = names.prefix(10).map { "\"\($0)\"" }.joined(separator: ", ")
        return names.count <= 10 ? shown : shown + " and \(names.count - 10) more"
    }
}
