/// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, https://github.com/zalandoresearch/fashion-mnist):
/// 70,000 greyscale 28 × 28 images of clothing in 10 classes, 60,000 for training and 10,000 for
/// testing, in the IDX format of MNIST.
public enum FashionMNIST {
    /// Where Debian's `dataset-fashion-mnist` package installs the files; `--data-dir` overrides.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"

    /// The number of classes (T-shirt/top, trouser, pullover, dress, coat, sandal, shirt, sneaker,
    /// bag, ankle boot).
    public static let classCount = 10
    /// Rows and columns of every image.
    public static let imageSide = 28
    /// Features per sample: 28 × 28 = 784 pixels.
    public static var featureCount: Int { imageSide * imageSide }

    /// The two halves of the dataset.
    public enum Split: String, Sendable, CaseIterable {
        case train
        case test

        /// The file name stem used by the upstream distribution (`train` or `t10k`).
        var stem: String { self == .train ? "train" : "t10k" }
        /// The raw (uncompressed) image file name.
        public var imagesFileName: String { "\(stem)-images-idx3-ubyte" }
        /// The raw (uncompressed) label file name.
        public var labelsFileName: String { "\(stem)-labels-idx1-ubyte" }
        /// The command-line flag that limits this split's sample count.
        public var limitFlag: String { self == .train ? "--limit-train" : "--limit-test" }
    }

    /// Loads one split from `directory`.
    ///
    /// For each file the gzip name (`train-images-idx3-ubyte.gz`) is used when present, else the
    /// raw name (`train-images-idx3-ubyte`).
    /// - Parameter limit: use only the first `limit` samples (`--limit-train`/`--limit-test`); nil
    ///   for all. Zero, negative, or more than the file holds is an error (never clamped).
    /// - Returns: `count` samples of 28 × 28 for the real files (any size is accepted), 10 classes.
    /// - Throws: `DatasetError`; `.missingFile` names the `.gz` path and the raw one.
    public static func load(
        _ split: Split, directory: String = defaultDirectory, limit: Int? = nil
    ) throws -> LabeledSamples {
        // A bad flag is reported before any file problem.
        if let limit, limit <= 0 { throw DatasetError.invalidLimit(flag: split.limitFlag, value: limit) }
        return try LabeledSamples.load(
            imagesPath: resolve(directory: directory, fileName: split.imagesFileName),
            labelsPath: resolve(directory: directory, fileName: split.labelsFileName),
            classCount: classCount, limit: limit, limitFlag: split.limitFlag)
    }

    /// The path to read for `fileName` in `directory`: `fileName.gz` if anything is there, else
    /// `fileName` if anything is there.
    /// - Throws: `DatasetError.missingFile` naming both when neither exists.
    static func resolve(directory: String, fileName: String) throws -> String {
        let raw = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
        let compressed = raw + ".gz"
        if FileReading.exists(compressed) { return compressed }
        if FileReading.exists(raw) { return raw }
        throw DatasetError.missingFile(path: compressed, alternative: raw)
    }
}
