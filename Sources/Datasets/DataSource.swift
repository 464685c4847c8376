/// Which files hold a run's data and how to read them: the `--data…` flags. Without it, a run
/// reads the IDX folder of `--data-dir` (Fashion-MNIST by default).
public struct DataSource: Codable, Equatable, Sendable {
    /// The training data (`--data`): a folder of IDX files, an IDX images file, `.npz`, `.npy`,
    /// `.safetensors` or `.csv`.
    public var data: String
    /// The labels of an IDX images file or an `.npy` features file (`--data-labels`).
    public var dataLabels: String?
    /// The test data (`--test-data`); nil when `data` holds both (a folder, `.npz`, `.safetensors`).
    public var testData: String?
    /// The labels of `testData` (`--test-data-labels`).
    public var testDataLabels: String?
    /// The feature and label array names in `.npz` and `.safetensors` files (`--data-keys x,y`
    /// or `x,y,x_test,y_test`); nil for `x_train,y_train,x_test,y_test`.
    public var keys: [String]?
    /// CSV: the label column, a 0-based number or a header name (`--label-column`); nil for the first.
    public var labelColumn: String?
    /// CSV: whether the first row is a header (`--csv-header`).
    public var csvHeader: CSVFile.Header
    /// CSV: how feature cells are read (`--csv-dtype`).
    public var csvType: CSVFile.CellType
    /// One sample's shape `[C, H, W]` or `[F]` (`--input-shape`); nil to take it from the data.
    public var inputShape: [Int]?
    /// The number of classes (`--classes`); nil for the largest label + 1.
    public var classes: Int?

    public init(
        data: String, dataLabels: String? = nil, testData: String? = nil, testDataLabels: String? = nil,
        keys: [String]? = nil, labelColumn: String? = nil, csvHeader: CSVFile.Header = .auto,
        csvType: CSVFile.CellType = .float32, inputShape: [Int]? = nil, classes: Int? = nil
    ) {
        self.data = data
        self.dataLabels = dataLabels
        self.testData = testData
        self.testDataLabels = testDataLabels
        self.keys = keys
        self.labelColumn = labelColumn
        self.csvHeader = csvHeader
        self.csvType = csvType
        self.inputShape = inputShape
        self.classes = classes
    }

    /// A data file's format, from its name (a folder: IDX files).
    public enum Format: String, Sendable, Equatable {
        case idxFolder = "IDX folder"
        case idx = "IDX"
        case npz = "NPZ"
        case npy = "NPY"
        case safetensors
        case csv = "CSV"

        /// The format of `path`.
        /// - Throws: `DatasetError.missingFile` (nothing at a path without a known extension),
        ///   `DataFileError.unknownFormat`.
        public static func of(_ path: String) throws -> Format {
            if FileReading.isDirectory(path) { return .idxFolder }
            let name = path.lowercased()
            if name.hasSuffix(".npz") { return .npz }
            if name.hasSuffix(".npy") { return .npy }
            if name.hasSuffix(".safetensors") { return .safetensors }
            if name.hasSuffix(".csv") { return .csv }
            if name.hasSuffix("-ubyte") || name.hasSuffix("-ubyte.gz") || name.hasSuffix(".idx") || name.hasSuffix(".idx.gz") { return .idx }
            if !FileReading.exists(path) { throw DatasetError.missingFile(path: path, alternative: nil) }
            throw DataFileError.unknownFormat(path: path)
        }
    }
}
