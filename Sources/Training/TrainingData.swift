import Datasets
import Reporting

/// The training, validation and test sets of a run.
public struct TrainingData: Sendable {
    public let training: LabeledSamples
    public let test: LabeledSamples
    /// The samples held out of the training data (`--validation-split`), or nil.
    public let validation: LabeledSamples?
    /// How the data were read, for the start line: "IDX folder /usr/share/…", "NPZ data.npz".
    public let origin: String
    /// The training data's format ("IDX folder", "NPZ", …), which the ranks compare at start-up.
    public let format: String
    /// How the data are held, for the start line: "one copy per rank", "one copy per node, …".
    public let copies: String

    public init(
        training: LabeledSamples, test: LabeledSamples, validation: LabeledSamples? = nil, format: String = "in memory",
        origin: String = "in memory", copies: String = "one copy per rank"
    ) {
        self.format = format
        self.training = training
        self.test = test
        self.validation = validation
        self.origin = origin
        self.copies = copies
    }

    /// Bytes held in memory: features and labels (`Int32`) of every set.
    public var byteCount: Int {
        [training, test, validation].compactMap { $0 }.reduce(0) { $0 + $1.features.byteCount + 4 * $1.labels.count }
    }

    /// Loads the configuration's data: `dataSource` (`--data`) or the IDX folder `dataDirectory`
    /// (Fashion-MNIST by default), honouring `--limit-train`/`--limit-test`; then holds out
    /// `validationSplit` of the training samples (`ValidationSplit`, seeded by `seed`) and
    /// applies `normalize` (`standard`: the statistics of what remains for training).
    /// - Throws: `DatasetError` or `DataFileError` naming the file and what is wrong with it.
    public static func load(_ configuration: TrainingConfiguration) throws -> TrainingData {
        var training: LabeledSamples, test: LabeledSamples
        let format: String, origin: String
        if let source = configuration.dataSource {
            (training, test) = try source.load(limitTrain: configuration.limitTrain, limitTest: configuration.limitTest)
            format = try DataSource.Format.of(source.data).rawValue
            origin = "\(format) \(source.data)" + (source.testData.map { ", test \($0)" } ?? "")
        } else {
            training = try FashionMNIST.load(.train, directory: configuration.dataDirectory, limit: configuration.limitTrain)
            test = try FashionMNIST.load(.test, directory: configuration.dataDirectory, limit: configuration.limitTest)
            format = DataSource.Format.idxFolder.rawValue
            origin = "\(format) \(configuration.dataDirectory)"
        }
        var validation: LabeledSamples?
        if let fraction = configuration.validationSplit {
            guard training.count >= 2 else {
                throw UsageError("--validation-split needs at least 2 training samples to split; there is \(training.count)")
            }
            let split = ValidationSplit.indices(count: training.count, fraction: fraction, seed: configuration.seed)
            validation = training.subset(split.validation)
            training = training.subset(split.training)
        }
        let normalization: Normalization = switch configuration.normalize ?? .unit {
        case .unit: .unit
        case .none: Normalization(kind: .none)
        case .standard: Normalization.statistics(of: training)
        }
        if normalization != training.normalization {
            training = training.normalized(normalization)
            test = test.normalized(normalization)
            validation = validation?.normalized(normalization)
        }
        return TrainingData(training: training, test: test, validation: validation, format: format, origin: origin)
    }
}
