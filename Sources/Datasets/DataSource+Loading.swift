/// Reading the training and test sets a `DataSource` names.
extension DataSource {
    /// The array names of the Keras convention.
    public static let defaultKeys = ["x_train", "y_train", "x_test", "y_test"]

    /// The training and test sets, checked: each file as its format requires, then features and
    /// labels together (equal sample counts, labels in range, finite features, shapes that agree
    /// with each other and with `inputShape`).
    ///
    /// The class count is `classes`, or the largest label of both sets + 1.
    /// - Parameters:
    ///   - limitTrain, limitTest: keep only the first N samples of each set (`--limit-train`,
    ///     `--limit-test`); more than a set holds is an error.
    ///   - limit: the largest file or array accepted, in bytes.
    /// - Throws: `DatasetError` (missing or unreadable files, IDX errors, limits), `DataFileError`.
    public func load(
        limitTrain: Int? = nil, limitTest: Int? = nil, limit: Int = LabeledSamples.maximumFileByteCount
    ) throws -> (training: LabeledSamples, test: LabeledSamples) {
        if let limitTrain, limitTrain <= 0 { throw DatasetError.invalidLimit(flag: "--limit-train", value: limitTrain) }
        if let limitTest, limitTest <= 0 { throw DatasetError.invalidLimit(flag: "--limit-test", value: limitTest) }
        let format = try Format.of(data)
        try checkFlags(format)
        let training = try arrays(path: data, labelsPath: dataLabels, format: format, test: false, limit: limit)
        let testFormat = try testData.map { try Format.of($0) } ?? format
        if testData != nil { try checkFlags(testFormat, test: true) }
        let test = try arrays(path: testData ?? data, labelsPath: testDataLabels, format: testFormat, test: true, limit: limit)
        let trainingLabels = try training.labels.labels(classes: classes)
        let testLabels = try test.labels.labels(classes: classes)
        let classCount = classes ?? Int(max(trainingLabels.max() ?? 0, testLabels.max() ?? 0)) + 1
        let trainingSet = try samples(training.features, trainingLabels, labelsSource: training.labels.source,
                                      classCount: classCount, limit: limitTrain, limitFlag: "--limit-train")
        let testSet = try samples(test.features, testLabels, labelsSource: test.labels.source,
                                  classCount: classCount, limit: limitTest, limitFlag: "--limit-test")
        guard trainingSet.sampleShape == testSet.sampleShape else {
            throw DataFileError.sampleShapeMismatch(trainingSource: training.features.source, training: trainingSet.sampleShape,
                                                    testSource: test.features.source, test: testSet.sampleShape)
        }
        return (trainingSet, testSet)
    }

    /// Refuses flags the format does not use, and asks for those it needs.
    private func checkFlags(_ format: Format, test: Bool = false) throws {
        let name = format.rawValue
        let labels = test ? testDataLabels : dataLabels
        let labelsFlag = test ? "--test-data-labels" : "--data-labels"
        switch format {
        case .npy, .idx:
            guard labels != nil else {
                throw DataFileError.missingFlag(flag: labelsFlag, format: name, reason: "its features file holds no labels")
            }
        case .idxFolder, .npz, .safetensors, .csv:
            if labels != nil { throw DataFileError.inapplicableFlag(flag: labelsFlag, format: name) }
        }
        if !test {
            if keys != nil && format != .npz && format != .safetensors { throw DataFileError.inapplicableFlag(flag: "--data-keys", format: name) }
            if format != .csv {
                if labelColumn != nil { throw DataFileError.inapplicableFlag(flag: "--label-column", format: name) }
            }
            if testData == nil && (format == .npy || format == .csv || format == .idx) {
                throw DataFileError.missingFlag(flag: "--test-data", format: name, reason: "its file holds one set; name the test set's file")
            }
        }
    }

    /// One set's features and labels as arrays.
    private func arrays(
        path: String, labelsPath: String?, format: Format, test: Bool, limit: Int
    ) throws -> (features: NumericArray, labels: NumericArray) {
        switch format {
        case .idxFolder:
            let split: FashionMNIST.Split = test ? .test : .train
            return (try idx(FashionMNIST.resolve(directory: path, fileName: split.imagesFileName), dimensions: 3),
                    try idx(FashionMNIST.resolve(directory: path, fileName: split.labelsFileName), dimensions: 1))
        case .idx:
            return (try idx(path, dimensions: 3), try idx(labelsPath!, dimensions: 1))
        case .npy:
            return (try NPYFile.parse(FileReading.contents(of: path, limit: limit), source: path, limit: limit),
                    try NPYFile.parse(FileReading.contents(of: labelsPath!, limit: limit), source: labelsPath!, limit: limit))
        case .npz:
            let archive = try NPZFile(path: path, limit: limit)
            let (x, y) = names(test: test, separateFile: testData != nil, has: archive.contains)
            return (try archive.array(x, limit: limit), try archive.array(y, limit: limit))
        case .safetensors:
            let file = try SafetensorsDataFile(path: path, limit: limit)
            let (x, y) = names(test: test, separateFile: testData != nil, has: file.contains)
            return (try file.array(x), try file.array(y))
        case .csv:
            return try CSVFile.read(path: path, header: csvHeader, cellType: csvType, labelColumn: labelColumn, limit: limit)
        }
    }

    /// The feature and label names of one set: `--data-keys`' first two for training, its last
    /// two (or `x_test`, `y_test`) for testing; a separate test file without `x_test` in it is
    /// read with the training names.
    private func names(test: Bool, separateFile: Bool, has: (String) -> Bool) -> (String, String) {
        let keys = self.keys.map { $0.count == 2 ? $0 + Self.defaultKeys.suffix(2) : $0 } ?? Self.defaultKeys
        guard test else { return (keys[0], keys[1]) }
        if separateFile && !has(keys[2]) { return (keys[0], keys[1]) }
        return (keys[2], keys[3])
    }

    private func idx(_ path: String, dimensions: Int) throws -> NumericArray {
        let file = try IDXFile.read(path: path, dimensionCount: dimensions, limit: LabeledSamples.maximumIDXByteCount)
        return NumericArray(source: path, elementType: .uint8, shape: file.dimensions, bytes: Array(file.bytes[file.dataOffset...]))
    }

    /// Features and checked labels as one set.
    private func samples(
        _ features: NumericArray, _ labels: [Int32], labelsSource: String, classCount: Int, limit: Int?, limitFlag: String
    ) throws -> LabeledSamples {
        guard (2...4).contains(features.shape.count) else {
            throw DataFileError.featureShape(source: features.source, shape: features.shape)
        }
        let count = features.shape[0]
        guard count > 0 else { throw DataFileError.noSamples(source: features.source) }
        guard labels.count == count else {
            throw DataFileError.countMismatch(featuresSource: features.source, featureCount: count,
                                              labelsSource: labelsSource, labelCount: labels.count)
        }
        let trailing = Array(features.shape.dropFirst())
        let width = trailing.reduce(1, *)
        guard width > 0 else { throw DataFileError.featureShape(source: features.source, shape: features.shape) }
        let shape: [Int]
        if let inputShape {
            guard inputShape.reduce(1, *) == width else {
                throw DataFileError.inputShapeMismatch(source: features.source, inputShape: inputShape, featureCount: width)
            }
            shape = inputShape
        } else {
            shape = trailing.count == 2 ? [1] + trailing : trailing
        }
        let kept = limit ?? count
        guard kept <= count else {
            throw DatasetError.limitExceedsSampleCount(flag: limitFlag, limit: kept, sampleCount: count, path: features.source)
        }
        let values: LabeledSamples.Features = switch try features.features() {
        case .bytes(let all): .bytes(kept == count ? all : Array(all[..<(kept * width)]))
        case .floats(let all): .floats(kept == count ? all : Array(all[..<(kept * width)]))
        case .shared(let shared): .shared(shared)  // (readers return memory of their own)
        }
        return LabeledSamples(sampleShape: shape, classCount: classCount, features: values, labels: Array(labels[..<kept]))
    }
}
