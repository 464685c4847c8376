import Datasets

/// The training and test sets of a run.
public struct TrainingData: Sendable {
    public let training: LabeledImages
    public let test: LabeledImages

    public init(training: LabeledImages, test: LabeledImages) {
        self.training = training
        self.test = test
    }

    /// Loads Fashion-MNIST from `configuration.dataDirectory`, honouring `--limit-train`/`--limit-test`.
    /// Throws `DatasetError` naming the file and what is wrong with it.
    public static func load(_ configuration: TrainingConfiguration) throws -> TrainingData {
        TrainingData(
            training: try FashionMNIST.load(.train, directory: configuration.dataDirectory, limit: configuration.limitTrain),
            test: try FashionMNIST.load(.test, directory: configuration.dataDirectory, limit: configuration.limitTest))
    }
}
