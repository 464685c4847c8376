import Foundation
import ArgumentParser
import Datasets
import Training

/// `lockstep train` / `evaluate`: where the data is, how to read it and how much of it to use
/// (README "Your data").
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"),
            help: ArgumentHelp("Folder with the Fashion-MNIST IDX files (.gz or raw), when --data is not given.", valueName: "dir"))
    var dataDirectory: String = TrainingConfiguration.defaults.dataDirectory

    @Option(help: ArgumentHelp(
        "Training data: a folder of IDX files, an IDX images file, .npz, .npy, .safetensors or .csv (the format comes from the name).",
        valueName: "path"))
    var data: String?

    @Option(help: ArgumentHelp("Labels of an .npy or IDX --data file.", valueName: "path"))
    var dataLabels: String?

    @Option(help: ArgumentHelp(
        "Test data, in any of --data's formats (default: the test arrays of --data's .npz, .safetensors or folder).",
        valueName: "path"))
    var testData: String?

    @Option(help: ArgumentHelp("Labels of an .npy or IDX --test-data file.", valueName: "path"))
    var testDataLabels: String?

    @Option(help: ArgumentHelp(
        "Array names in .npz/.safetensors: features,labels[,test features,test labels] (default: x_train,y_train,x_test,y_test).",
        valueName: "x,y"))
    var dataKeys: String?

    @Option(help: ArgumentHelp("CSV: the label column, a number (1 = the first, the default) or a header name.",
                               valueName: "n|name"))
    var labelColumn: String?

    @Option(help: ArgumentHelp("CSV: whether the first row names the columns (auto: when a cell is not a number).",
                               valueName: "auto|yes|no"))
    var csvHeader: CSVFile.Header = .auto

    @Option(help: ArgumentHelp("CSV: feature cells as uint8 (integers 0…255, scaled like images) or float32.",
                               valueName: "uint8|float32"))
    var csvDtype: CSVFile.CellType = .float32

    @Option(help: ArgumentHelp(
        "One sample's shape, C,H,W for an image or F for a vector (default: the data's trailing dimensions; CSV: a vector).",
        valueName: "C,H,W"))
    var inputShape: String?

    @Option(help: ArgumentHelp("Number of classes (default: the largest label + 1).", valueName: "n"))
    var classes: Int?

    @Option(help: ArgumentHelp(
        "How features become input: unit (bytes / 255; floats as they are), standard (per-channel mean and deviation of the training split), none.",
        valueName: "kind"))
    var normalize: Normalization.Kind = .unit

    @Option(help: ArgumentHelp(
        "Hold out this fraction of the training data for validation (a seeded choice, the same on every rank).",
        valueName: "fraction"))
    var validationSplit: Double?

    @Option(help: ArgumentHelp(
        "Hold one copy of the data per node (read by one rank, shared in memory by the node's ranks) or per rank.",
        valueName: "node|rank"))
    var dataCopies: DataCopies = .node

    @Option(help: ArgumentHelp("Use only the first N training samples (default: all).", valueName: "samples"))
    var limitTrain: Int?

    @Option(help: ArgumentHelp("Use only the first N test samples (default: all).", valueName: "samples"))
    var limitTest: Int?

    func validate() throws {
        if let limitTrain, limitTrain < 1 { throw ValidationError("--limit-train must be at least 1, got \(limitTrain)") }
        if let limitTest, limitTest < 1 { throw ValidationError("--limit-test must be at least 1, got \(limitTest)") }
        if let classes, classes < 1 || classes > 1 << 24 {
            throw ValidationError("--classes must be in 1…16777216, got \(classes)")
        }
        if let validationSplit, !(validationSplit > 0 && validationSplit < 1) {
            throw ValidationError("--validation-split must be a fraction strictly between 0 and 1, got \(validationSplit)")
        }
        let texts: [(String, String?)] = [
            ("--data-dir", dataDirectory), ("--data", data), ("--data-labels", dataLabels), ("--test-data", testData),
            ("--test-data-labels", testDataLabels), ("--label-column", labelColumn),
        ]
        if let (flag, _) = texts.first(where: { $0.1?.isEmpty == true }) { throw ValidationError("\(flag) must not be empty") }
        _ = try parsedInputShape()
        _ = try parsedKeys()
        if data == nil {
            let needing: [(String, Bool)] = [
                ("--data-labels", dataLabels != nil), ("--test-data", testData != nil), ("--test-data-labels", testDataLabels != nil),
                ("--data-keys", dataKeys != nil), ("--label-column", labelColumn != nil), ("--input-shape", inputShape != nil),
                ("--classes", classes != nil),
            ]
            if let (flag, _) = needing.first(where: \.1) { throw ValidationError("\(flag) needs --data") }
        }
    }

    func parsedInputShape() throws -> [Int]? {
        guard let inputShape else { return nil }
        let parts = inputShape.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 1 || parts.count == 3, parts.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 1 << 24 }) else {
            throw ValidationError("--input-shape \(inputShape) is not C,H,W or F (positive integers, each at most 16777216)")
        }
        return parts.map { $0! }
    }

    func parsedKeys() throws -> [String]? {
        guard let dataKeys else { return nil }
        let names = dataKeys.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
        guard names.count == 2 || names.count == 4, names.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("--data-keys \(dataKeys) is not features,labels or features,labels,test features,test labels")
        }
        return names
    }

    /// The data source of `--data` and its companions; nil without `--data`.
    func dataSource() throws -> DataSource? {
        guard let data else { return nil }
        return DataSource(
            data: data, dataLabels: dataLabels, testData: testData, testDataLabels: testDataLabels, keys: try parsedKeys(),
            labelColumn: labelColumn, csvHeader: csvHeader, csvType: csvDtype, inputShape: try parsedInputShape(),
            classes: classes)
    }
}

extension CSVFile.Header: ExpressibleByArgument {}
extension CSVFile.CellType: ExpressibleByArgument {}
extension Normalization.Kind: ExpressibleByArgument {}
extension DataCopies: ExpressibleByArgument {}
