@testable import Datasets
import Foundation
import XCTest

/// `DataSource`: the format from the path, the flags each format needs, features and labels
/// checked together, the class count and input shape, limits; the validation split and the
/// `standard` statistics.
final class DataSourceTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-source-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    /// x_train [3, 2, 2] bytes, y_train [3], x_test [2, 2, 2], y_test [2] in an NPZ archive.
    private func npz(trainLabels: [Int64] = [0, 4, 1], testImages: [Int] = [2, 2, 2]) throws -> String {
        let file = path("d.npz")
        try ArrayFixture.writeNPZ([
            ("x_train", ArrayFixture.npy(descr: "|u1", shape: [3, 2, 2], payload: Array(0..<12))),
            ("y_train", ArrayFixture.npy(descr: "<i8", shape: [trainLabels.count], payload: ArrayFixture.bytes(trainLabels))),
            ("x_test", ArrayFixture.npy(descr: "|u1", shape: testImages, payload: [UInt8](repeating: 9, count: testImages.reduce(1, *)))),
            ("y_test", ArrayFixture.npy(descr: "|u1", shape: [2], payload: [2, 2])),
        ], to: file)
        return file
    }

    func testNPZWithTheKerasNames() throws {
        let (training, test) = try DataSource(data: try npz()).load()
        XCTAssertEqual(training.sampleShape, [1, 2, 2])  // [N, H, W] → one channel
        XCTAssertEqual(training.classCount, 5)  // the largest label + 1
        XCTAssertEqual(training.labels, [0, 4, 1])
        XCTAssertEqual(test.count, 2)
        XCTAssertEqual(test.classCount, 5)
        let limited = try DataSource(data: try npz(), inputShape: [4], classes: 7).load(limitTrain: 2, limitTest: 1)
        XCTAssertEqual(limited.training.sampleShape, [4])
        XCTAssertEqual(limited.training.features, .bytes(Array(0..<8)))
        XCTAssertEqual(limited.training.classCount, 7)
        XCTAssertEqual(limited.test.count, 1)
    }

    func testRefusalsThatNameBothSides() throws {
        let mismatch = ArrayFixture.error { try DataSource(data: try self.npz(trainLabels: [0, 1])).load() }
        XCTAssertEqual(mismatch?.description, "\(path("d.npz")):x_train holds 3 samples but \(path("d.npz")):y_train holds 2 labels; expected equal counts")
        let shapes = ArrayFixture.error { try DataSource(data: try self.npz(testImages: [2, 3, 2])).load() }
        XCTAssertEqual(shapes?.description, "training samples of \(path("d.npz")):x_train are (1, 2, 2) but test samples of \(path("d.npz")):x_test are (1, 3, 2); expected the same shape")
        let input = ArrayFixture.error { try DataSource(data: try self.npz(), inputShape: [1, 2, 3]).load() }
        XCTAssertEqual(input?.description, "--input-shape 1,2,3 holds 6 features, but each sample of \(path("d.npz")):x_train has 4")
        XCTAssertEqual(input?.exitStatus, .usage)
        let classes = ArrayFixture.error { try DataSource(data: try self.npz(), classes: 3).load() }
        XCTAssertEqual(classes?.description, "\(path("d.npz")):y_train: sample 1 (counted from 0) has label 4; expected 0..<3 (--classes 3)")
        XCTAssertEqual(classes?.hint, "raise --classes to at least 5, or omit it to use the largest label + 1")
        let keys = ArrayFixture.error { try DataSource(data: try self.npz(), keys: ["images", "labels"]).load() }
        XCTAssertEqual(keys?.description, "\(path("d.npz")) has no array images; it holds: x_train, y_train, x_test, y_test")
        XCTAssertEqual(keys?.hint, "pass --data-keys FEATURES,LABELS with names the file holds")
    }

    func testFlagsEachFormatNeedsOrRefuses() throws {
        let x = try write(ArrayFixture.npy(descr: "|u1", shape: [2, 3], payload: Array(0..<6)), "x.npy")
        let y = try write(ArrayFixture.npy(descr: "|u1", shape: [2], payload: [0, 1]), "y.npy")
        XCTAssertEqual(ArrayFixture.error { try DataSource(data: x).load() }?.description,
                       "NPY data needs --data-labels: its features file holds no labels")
        XCTAssertEqual(ArrayFixture.error { try DataSource(data: x, dataLabels: y).load() }?.description,
                       "NPY data needs --test-data: its file holds one set; name the test set's file")
        let pair = try DataSource(data: x, dataLabels: y, testData: x, testDataLabels: y).load()
        XCTAssertEqual(pair.training.sampleShape, [3])  // [N, F]: a vector
        XCTAssertEqual(ArrayFixture.error { try DataSource(data: try self.npz(), dataLabels: y).load() }?.description,
                       "--data-labels does not apply to NPZ data")
        XCTAssertEqual(ArrayFixture.error { try DataSource(data: try self.npz(), labelColumn: "label").load() }?.description,
                       "--label-column does not apply to NPZ data")
        let other = try write([1, 2, 3], "data.parquet")
        let unknown = ArrayFixture.error { try DataSource(data: other).load() }
        XCTAssertEqual(unknown?.description, "cannot tell the data format of \(other) from its name: expected a folder of IDX files, an IDX file (…-idx3-ubyte[.gz]), .npz, .npy, .safetensors or .csv")
        XCTAssertThrowsError(try DataSource(data: path("absent.npz")).load()) { error in
            XCTAssertEqual(error as? DatasetError, .missingFile(path: self.path("absent.npz"), alternative: nil))
        }
    }

    func testCSVPairWithTheSameValuesAsTheNPZ() throws {
        let train = path("train.csv"), test = path("test.csv")
        try "label,p0,p1,p2,p3\r\n0,0,1,2,3\r\n4,4,5,6,7\r\n1,8,9,10,11\r\n".write(toFile: train, atomically: true, encoding: .utf8)
        try "label,p0,p1,p2,p3\r\n2,9,9,9,9\r\n2,9,9,9,9\r\n".write(toFile: test, atomically: true, encoding: .utf8)
        let csv = try DataSource(data: train, testData: test, labelColumn: "label", csvType: .uint8, inputShape: [1, 2, 2]).load()
        let npz = try DataSource(data: try npz()).load()
        XCTAssertEqual(csv.training.features, npz.training.features)
        XCTAssertEqual(csv.training.labels, npz.training.labels)
        XCTAssertEqual(csv.training.labelChecksum, npz.training.labelChecksum)
        XCTAssertEqual(csv.test.features, npz.test.features)
        XCTAssertEqual(csv.training.sampleShape, npz.training.sampleShape)
    }

    // MARK: - Validation split and normalisation

    func testTheValidationSplitIsASeededPartition() {
        let (training, validation) = ValidationSplit.indices(count: 1000, fraction: 0.1, seed: 7)
        XCTAssertEqual(validation.count, 100)
        XCTAssertEqual(Set(training).union(validation), Set(0..<1000))
        XCTAssertTrue(Set(training).isDisjoint(with: validation))
        XCTAssertEqual(training, training.sorted())
        XCTAssertEqual(ValidationSplit.indices(count: 1000, fraction: 0.1, seed: 7).validation, validation)  // pure
        XCTAssertNotEqual(ValidationSplit.indices(count: 1000, fraction: 0.1, seed: 8).validation, validation)
        XCTAssertEqual(ValidationSplit.indices(count: 2, fraction: 0.01, seed: 0).validation.count, 1)  // at least one
        XCTAssertEqual(ValidationSplit.indices(count: 2, fraction: 0.99, seed: 0).training.count, 1)  // at least one left
    }

    /// Against numpy on the real training images: `x = x_train.astype(np.float32) / 255.0`,
    /// `x.astype(np.float64).mean()` = 0.28604060219395294, `.std()` = 0.3530242495426241; on
    /// the first 1,000: 0.28290318137799314 and 0.35307930783582286.
    func testStandardStatisticsEqualNumpys() throws {
        let all = try FashionMNIST.load(.train)
        let statistics = Normalization.statistics(of: all)
        XCTAssertEqual(Double(statistics.mean[0]), 0.28604060219395294, accuracy: 0.28604060219395294 * 1e-6)
        XCTAssertEqual(Double(statistics.standardDeviation[0]), 0.3530242495426241, accuracy: 0.3530242495426241 * 1e-6)
        let first = Normalization.statistics(of: all.subset(Array(0..<1000)))
        XCTAssertEqual(Double(first.mean[0]), 0.28290318137799314, accuracy: 0.28290318137799314 * 1e-6)
        XCTAssertEqual(Double(first.standardDeviation[0]), 0.35307930783582286, accuracy: 0.35307930783582286 * 1e-6)
    }

    func testStandardNormalisationPerChannelAndPerFeature() {
        // Two samples of 2 channels × 1 × 2: channel 0 holds 0, 2, 4, 6 (mean 3, std √5), channel 1 is constant.
        let images = LabeledSamples(sampleShape: [2, 1, 2], classCount: 2, features: .floats([0, 2, 5, 5, 4, 6, 5, 5]), labels: [0, 1])
        let statistics = Normalization.statistics(of: images)
        XCTAssertEqual(statistics.mean, [3, 5])
        XCTAssertEqual(statistics.standardDeviation, [Float(5.0.squareRoot()), 1])  // a constant channel keeps std 1
        let normalized = images.normalized(statistics)
        var features = [Float](repeating: .nan, count: 8), labels = [Int32](repeating: -1, count: 2)
        let indices: [Int32] = [0, 1]
        indices.withUnsafeBufferPointer { normalized.fillBatch(indices: $0, features: &features, labels: &labels) }
        let s = Float(5.0.squareRoot())
        XCTAssertEqual(features, [-3 / s, -1 / s, 0, 0, 1 / s, 3 / s, 0, 0])
        // A vector's channels are its features.
        let vectors = LabeledSamples(sampleShape: [2], classCount: 2, features: .floats([1, 10, 3, 30]), labels: [0, 1])
        XCTAssertEqual(Normalization.statistics(of: vectors).mean, [2, 20])
    }
}
