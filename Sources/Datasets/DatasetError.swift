import Reporting

/// Everything that can be wrong with a dataset file or a data-size flag, one case per cause.
///
/// Each description names the file (full path), what was expected and what was found; the hint
/// says what to do. Missing or unreadable files end the job with `ExitStatus.missingInput`, bad
/// `--limit-train`/`--limit-test` values with `.usage`, and malformed contents with `.data`.
public enum DatasetError: ReportableError, Equatable {
    // MARK: - Opening and reading files
    /// No file at `path`; `alternative` is the other name that was also tried (raw vs `.gz`).
    case missingFile(path: String, alternative: String?)
    /// The file exists but cannot be read (permission, a directory, an I/O error).
    case unreadableFile(path: String, reason: String)
    /// The file on disk is larger than `limit` bytes.
    case fileTooLarge(path: String, byteCount: Int, limit: Int)

    // MARK: - gzip
    /// A `.gz` file whose first bytes are not the gzip signature `1f 8b`.
    case notGzip(path: String, foundBytes: [UInt8])
    /// zlib rejected the compressed stream; `message` is zlib's own message.
    case corruptGzip(path: String, message: String)
    /// The compressed stream ends before its end marker (the file was cut short).
    case truncatedGzip(path: String, compressedByteCount: Int)
    /// Bytes after the end of the gzip stream that are not another gzip member.
    case trailingGzipData(path: String, byteCount: Int)
    /// The decompressed contents would exceed `limit` bytes.
    case decompressedTooLarge(path: String, limit: Int)

    // MARK: - IDX layout
    /// The first two bytes are not `00 00`.
    case wrongMagic(path: String, foundBytes: [UInt8])
    /// The element type byte is not `0x08` (unsigned byte).
    case unsupportedElementType(path: String, found: UInt8)
    /// Images need 3 dimensions (count, rows, columns), labels 1 (count).
    case wrongDimensionCount(path: String, expected: Int, found: Int)
    /// The file ends inside its header (magic and big-endian `UInt32` dimensions).
    case truncatedHeader(path: String, expectedBytes: Int, foundBytes: Int)
    /// A dimension is zero: no samples, or empty images.
    case emptyDimension(path: String, dimensions: [Int])
    /// The dimensions declare more data than `limit` bytes.
    case declaredSizeTooLarge(path: String, dimensions: [Int], limit: Int)
    /// Fewer bytes than the header's dimensions require (header included).
    case truncatedData(path: String, dimensions: [Int], expectedBytes: Int, foundBytes: Int)
    /// More bytes than the header's dimensions require (header included).
    case trailingBytes(path: String, dimensions: [Int], expectedBytes: Int, foundBytes: Int)

    // MARK: - Contents
    /// The image and label files hold different numbers of samples.
    case countMismatch(imagesPath: String, imageCount: Int, labelsPath: String, labelCount: Int)
    /// Label `index` (0-based) is `value`, not below `classCount`.
    case labelOutOfRange(path: String, index: Int, value: UInt8, classCount: Int)

    // MARK: - Sample limits
    /// `--limit-train`/`--limit-test` is zero or negative.
    case invalidLimit(flag: String, value: Int)
    /// `--limit-train`/`--limit-test` asks for more samples than the file holds.
    case limitExceedsSampleCount(flag: String, limit: Int, sampleCount: Int, path: String)

    public var exitStatus: ExitStatus {
        switch self {
        case .missingFile, .unreadableFile: .missingInput
        case .invalidLimit, .limitExceedsSampleCount: .usage
        default: .data
        }
    }

    public var description: String {
        switch self {
        case .missingFile(let path, let alternative):
            let also = alternative.map { " (nor \($0))" } ?? ""
            return "dataset file \(path) does not exist\(also)"
        case .unreadableFile(let path, let reason):
            return "cannot read dataset file \(path): \(reason)"
        case .fileTooLarge(let path, let byteCount, let limit):
            return "dataset file \(path) is \(byteCount) bytes, more than the \(limit)-byte limit"
        case .notGzip(let path, let foundBytes):
            return "\(path) is not gzip-compressed: expected the bytes 1f 8b, found \(Self.hex(foundBytes))"
        case .corruptGzip(let path, let message):
            return "\(path) has a corrupt gzip stream: \(message)"
        case .truncatedGzip(let path, let compressedByteCount):
            return "\(path) is truncated: its gzip stream ends without an end marker after "
                + "\(compressedByteCount) compressed bytes"
        case .trailingGzipData(let path, let byteCount):
            return "\(path) has \(byteCount) bytes after the end of its gzip stream that are not gzip data"
        case .decompressedTooLarge(let path, let limit):
            return "\(path) decompresses to more than the \(limit)-byte limit"
        case .wrongMagic(let path, let foundBytes):
            return "\(path) is not an IDX file: expected the magic bytes 00 00, found \(Self.hex(foundBytes))"
        case .unsupportedElementType(let path, let found):
            return "\(path) has IDX element type \(Self.hex([found])) (\(Self.elementTypeName(found))); "
                + "expected 08 (unsigned byte)"
        case .wrongDimensionCount(let path, let expected, let found):
            return "\(path) has \(found) dimension\(found == 1 ? "" : "s"); expected \(expected)"
        case .truncatedHeader(let path, let expectedBytes, let foundBytes):
            return "\(path) is truncated inside its IDX header: expected at least \(expectedBytes) bytes, "
                + "found \(foundBytes)"
        case .emptyDimension(let path, let dimensions):
            return "\(path) has an empty dimension: \(Self.shape(dimensions)); expected every dimension ≥ 1"
        case .declaredSizeTooLarge(let path, let dimensions, let limit):
            return "\(path) declares dimensions \(Self.shape(dimensions)), more than the \(limit)-byte limit"
        case .truncatedData(let path, let dimensions, let expectedBytes, let foundBytes):
            return "\(path) is truncated: dimensions \(Self.shape(dimensions)) need \(expectedBytes) bytes "
                + "(header included), found \(foundBytes)"
        case .trailingBytes(let path, let dimensions, let expectedBytes, let foundBytes):
            return "\(path) has \(foundBytes - expectedBytes) trailing bytes: dimensions "
                + "\(Self.shape(dimensions)) need \(expectedBytes) bytes (header included), found \(foundBytes)"
        case .countMismatch(let imagesPath, let imageCount, let labelsPath, let labelCount):
            return "\(imagesPath) holds \(imageCount) images but \(labelsPath) holds \(labelCount) labels; "
                + "expected equal counts"
        case .labelOutOfRange(let path, let index, let value, let classCount):
            return "\(path): label \(index) is \(value); expected a class index in 0..<\(classCount)"
        case .invalidLimit(let flag, let value):
            return "\(flag) \(value) is not a sample count; expected at least 1"
        case .limitExceedsSampleCount(let flag, let limit, let sampleCount, let path):
            return "\(flag) \(limit) exceeds the \(sampleCount) samples in \(path)"
        }
    }

    public var hint: String? {
        switch self {
        case .missingFile(_, .some):
            "install the Debian package dataset-fashion-mnist (scripts/setup.sh does), "
                + "or pass --data-dir DIR with the four Fashion-MNIST IDX files"
        case .missingFile(_, nil):
            "check the path (a relative path is taken from the directory lockstep runs in)"
        case .unreadableFile:
            "check the file's permissions, or pass --data-dir DIR with readable copies"
        case .notGzip:
            "if it is a raw IDX file, remove the .gz suffix from its name"
        case .corruptGzip, .truncatedGzip, .trailingGzipData, .truncatedHeader, .truncatedData, .trailingBytes:
            "the file is damaged: reinstall dataset-fashion-mnist or download the file again"
        case .wrongMagic(_, let foundBytes) where foundBytes.starts(with: [0x1F, 0x8B]):
            "the file looks gzip-compressed: give it a .gz suffix"
        case .invalidLimit(let flag, _):
            "omit \(flag) to use every sample"
        case .limitExceedsSampleCount(let flag, _, let sampleCount, _):
            "use \(flag) \(sampleCount) or less, or omit it to use every sample"
        default:
            nil
        }
    }

    // MARK: - Formatting

    /// Bytes as lowercase two-digit hexadecimal separated by spaces ("1f 8b"); "no bytes" when empty.
    static func hex(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "no bytes (empty file)" }
        return bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
    }

    /// "60000 × 28 × 28".
    static func shape(_ dimensions: [Int]) -> String {
        dimensions.map(String.init).joined(separator: " × ")
    }

    /// The element types of the IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/).
    static func elementTypeName(_ code: UInt8) -> String {
        switch code {
        case 0x08: "unsigned byte"
        case 0x09: "signed byte"
        case 0x0B: "16-bit integer"
        case 0x0C: "32-bit integer"
        case 0x0D: "32-bit float"
        case 0x0E: "64-bit float"
        default: "not an IDX type"
        }
    }
}
