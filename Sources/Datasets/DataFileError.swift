import Reporting

/// Everything that can be wrong with a data file in an array or table format (NPY, NPZ,
/// safetensors, CSV), or with the flags that describe it; one case per cause.
///
/// `source` names the file, and the array in it when it holds several (`data.npz:x_train`).
/// Malformed contents end the job with `ExitStatus.data` (65), a missing array with
/// `.missingInput` (66), flags that contradict the data with `.usage` (64).
public enum DataFileError: ReportableError, Equatable {
    // MARK: - Choosing the data
    /// The format cannot be told from the path's name.
    case unknownFormat(path: String)
    /// A flag the chosen format needs was not given (`--data-labels` for an `.npy` pair, …).
    case missingFlag(flag: String, format: String, reason: String)
    /// A flag that means nothing for the chosen format.
    case inapplicableFlag(flag: String, format: String)
    /// The file holds no array of that name; `available` lists those it has.
    case missingArray(path: String, name: String, available: [String])

    // MARK: - Array files
    /// The file is not of the format its name says (wrong magic bytes, not a zip archive, …).
    case notTheFormat(path: String, format: String, found: String)
    /// An NPY or safetensors header that is not what the format allows.
    case malformedHeader(source: String, reason: String)
    /// An element type this reader does not use for `role` (features, labels).
    case unsupportedElementType(source: String, found: String, role: String)
    /// A Fortran-order (column-major) NPY array of more than one dimension.
    case fortranOrder(source: String, shape: [Int])
    /// The declared shape's byte size overflows or exceeds the limit; nothing was allocated.
    case declaredSizeTooLarge(source: String, shape: [Int], limit: Int)
    /// The file ends inside its header.
    case truncatedHeader(source: String, expectedBytes: Int, foundBytes: Int)
    /// Fewer bytes than the declared shape needs.
    case truncated(source: String, shape: [Int], expectedBytes: Int, foundBytes: Int)
    /// More bytes than the declared shape needs.
    case trailingBytes(source: String, shape: [Int], expectedBytes: Int, foundBytes: Int)
    /// An NPZ member that inflates beyond its declared size (a zip bomb, or a damaged archive);
    /// refused after `declaredBytes + 1` bytes.
    case inflatesBeyondDeclaredSize(source: String, declaredBytes: Int)
    /// The zip library refused the archive or one of its members.
    case corruptArchive(source: String, message: String)
    /// Two safetensors tensors whose byte ranges overlap, or one that lies outside the data.
    case badTensorRange(path: String, name: String, range: [Int], reason: String)

    // MARK: - Contents
    /// Features need 2 to 4 dimensions: `[N, F]`, `[N, H, W]` or `[N, C, H, W]`.
    case featureShape(source: String, shape: [Int])
    /// Labels need one dimension `[N]`.
    case labelShape(source: String, shape: [Int])
    /// No samples at all.
    case noSamples(source: String)
    /// Features and labels hold different numbers of samples.
    case countMismatch(featuresSource: String, featureCount: Int, labelsSource: String, labelCount: Int)
    /// A label that is negative, or not below the class count (`classes` nil: not below 2³¹), of
    /// sample `index` (counted from 0).
    case labelOutOfRange(source: String, index: Int, value: Int64, classes: Int?)
    /// A NaN or infinity in float features, at the first multi-index where it occurs.
    case nonFiniteFeature(source: String, index: [Int], value: String)
    /// `--input-shape` does not hold the data's features per sample.
    case inputShapeMismatch(source: String, inputShape: [Int], featureCount: Int)
    /// The training and test samples have different shapes.
    case sampleShapeMismatch(trainingSource: String, training: [Int], testSource: String, test: [Int])

    // MARK: - CSV
    /// An empty file, or one without a data row.
    case emptyFile(path: String)
    /// A row with another number of columns than the first.
    case raggedRow(path: String, line: Int, expected: Int, found: Int)
    /// A cell that is not a number, or not an integer 0…255 with `--csv-dtype uint8` (columns from 1).
    case badCell(path: String, line: Int, column: Int, text: String, expected: String)
    /// `--label-column NAME` without a header, or a name the header does not hold.
    case labelColumnNotFound(path: String, labelColumn: String, header: [String]?)
    /// `--label-column N` beyond the columns (counted from 1).
    case labelColumnOutOfRange(path: String, column: Int, columns: Int)

    public var exitStatus: ExitStatus {
        switch self {
        case .unknownFormat, .missingFlag, .inapplicableFlag, .inputShapeMismatch, .labelColumnNotFound, .labelColumnOutOfRange: .usage
        case .missingArray: .missingInput
        default: .data
        }
    }

    public var description: String {
        switch self {
        case .unknownFormat(let path):
            return "cannot tell the data format of \(path) from its name: expected a folder of IDX files, "
                + "an IDX file (…-idx3-ubyte[.gz]), .npz, .npy, .safetensors or .csv"
        case .missingFlag(let flag, let format, let reason):
            return "\(format) data needs \(flag): \(reason)"
        case .inapplicableFlag(let flag, let format):
            return "\(flag) does not apply to \(format) data"
        case .missingArray(let path, let name, let available):
            let list = available.isEmpty ? "none" : available.joined(separator: ", ")
            return "\(path) has no array \(name); it holds: \(list)"
        case .notTheFormat(let path, let format, let found):
            return "\(path) is not a \(format) file: \(found)"
        case .malformedHeader(let source, let reason):
            return "\(source) has a malformed header: \(reason)"
        case .unsupportedElementType(let source, let found, let role):
            let supported = switch role {
            case "features": "uint8, float32 or float64"
            case "labels": "an integer type"
            default: "one of uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64"
            }
            return "\(source) holds elements of \(found); \(role) must be \(supported)"
        case .fortranOrder(let source, let shape):
            return "\(source) is a Fortran-order (column-major) array of shape \(Self.shape(shape)); "
                + "expected C order (row-major)"
        case .declaredSizeTooLarge(let source, let shape, let limit):
            return "\(source) declares shape \(Self.shape(shape)), more than the \(limit)-byte limit"
        case .truncatedHeader(let source, let expectedBytes, let foundBytes):
            return "\(source) is truncated inside its header: expected at least \(expectedBytes) bytes, found \(foundBytes)"
        case .truncated(let source, let shape, let expectedBytes, let foundBytes):
            return "\(source) is truncated: shape \(Self.shape(shape)) needs \(expectedBytes) bytes, "
                + "found \(foundBytes)"
        case .trailingBytes(let source, let shape, let expectedBytes, let foundBytes):
            return "\(source) has \(foundBytes - expectedBytes) trailing bytes: shape \(Self.shape(shape)) "
                + "needs \(expectedBytes) bytes, found \(foundBytes)"
        case .inflatesBeyondDeclaredSize(let source, let declaredBytes):
            return "\(source) inflates beyond its declared \(declaredBytes) bytes (refused before inflating further)"
        case .corruptArchive(let source, let message):
            return "\(source) is a damaged zip archive: \(message)"
        case .badTensorRange(let path, let name, let range, let reason):
            return "\(path): tensor \(name) has data offsets [\(range.map(String.init).joined(separator: ", "))], \(reason)"
        case .featureShape(let source, let shape):
            return "\(source) has shape \(Self.shape(shape)); features must be [N, F], [N, H, W] or [N, C, H, W]"
        case .labelShape(let source, let shape):
            return "\(source) has shape \(Self.shape(shape)); labels must be [N]"
        case .noSamples(let source):
            return "\(source) holds no samples"
        case .countMismatch(let featuresSource, let featureCount, let labelsSource, let labelCount):
            return "\(featuresSource) holds \(featureCount) samples but \(labelsSource) holds \(labelCount) labels; "
                + "expected equal counts"
        case .labelOutOfRange(let source, let index, let value, let classes):
            let range = classes.map { "0..<\($0) (--classes \($0))" } ?? "a non-negative class index below 2³¹"
            return "\(source): sample \(index) (counted from 0) has label \(value); expected \(range)"
        case .nonFiniteFeature(let source, let index, let value):
            return "\(source): feature [\(index.map(String.init).joined(separator: ", "))] is \(value); "
                + "expected finite values"
        case .inputShapeMismatch(let source, let inputShape, let featureCount):
            return "--input-shape \(inputShape.map(String.init).joined(separator: ",")) holds "
                + "\(inputShape.reduce(1, *)) features, but each sample of \(source) has \(featureCount)"
        case .sampleShapeMismatch(let trainingSource, let training, let testSource, let test):
            return "training samples of \(trainingSource) are \(Self.shape(training)) but test samples of "
                + "\(testSource) are \(Self.shape(test)); expected the same shape"
        case .emptyFile(let path):
            return "\(path) holds no data rows"
        case .raggedRow(let path, let line, let expected, let found):
            return "\(path):\(line): \(found) columns; expected \(expected), as the first row"
        case .badCell(let path, let line, let column, let text, let expected):
            return "\(path):\(line): column \(column) is \"\(text)\"; expected \(expected)"
        case .labelColumnNotFound(let path, let labelColumn, let header):
            guard let header else {
                return "--label-column \(labelColumn): \(path) has no header row to find a column name in"
            }
            // A wide file (785 columns for Fashion-MNIST) would make a line of kilobytes: the first 12.
            let shown = header.prefix(12).joined(separator: ", ") + (header.count > 12 ? ", … (\(header.count) columns)" : "")
            return "--label-column \(labelColumn) is not a column of \(path); its header holds: \(shown)"
        case .labelColumnOutOfRange(let path, let column, let columns):
            return "--label-column \(column) is not a column of \(path), which has \(columns) (counted from 1)"
        }
    }

    public var hint: String? {
        switch self {
        case .unknownFormat:
            "rename the file with its format's extension, or see README \"Your data\""
        case .missingArray(_, let name, _) where name == "x_test" || name == "y_test":
            "add x_test and y_test to the file, or pass --test-data FILE for the test set"
        case .missingArray(_, let name, _) where name.hasPrefix("x_") || name.hasPrefix("y_"):
            "name the arrays x_train, y_train (and x_test, y_test), or pass --data-keys FEATURES,LABELS"
        case .missingArray:
            "pass --data-keys FEATURES,LABELS with names the file holds"
        case .fortranOrder:
            "save it in C order: np.save(path, np.ascontiguousarray(x))"
        case .unsupportedElementType(_, _, let role) where role == "features":
            "convert it first, e.g. x.astype(np.float32)"
        case .nonFiniteFeature:
            "remove or impute the non-finite values before training"
        case .labelOutOfRange(_, _, let value, _?):
            "raise --classes to at least \(value + 1), or omit it to use the largest label + 1"
        case .inputShapeMismatch:
            "give --input-shape C,H,W whose product is the number of features per sample, or omit it"
        case .badCell(_, _, _, _, let expected) where expected.contains("0…255"):
            "use --csv-dtype float32 for features that are not bytes"
        case .labelColumnNotFound, .labelColumnOutOfRange:
            "pass --label-column with a column number (1 = the first) or a name of the header row"
        default:
            nil
        }
    }

    /// "60000 × 28 × 28" ("scalar" for no dimensions).
    static func shape(_ dimensions: [Int]) -> String {
        dimensions.isEmpty ? "() (a scalar)" : "(" + dimensions.map(String.init).joined(separator: ", ") + ")"
    }
}
