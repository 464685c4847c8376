import Datasets
import Foundation
import XCTest

/// Loading well-formed fixture files: gzip or raw, limits, checksums, any image size.
final class LabeledSamplesTests: XCTestCase {
    func testLoadsGzipFixture() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain()
        let data = try FashionMNIST.load(.train, directory: directory.path)
        XCTAssertEqual(data.count, 5)
        XCTAssertEqual(data.sampleShape, [1, 2, 3])
        XCTAssertEqual(data.featureCount, 6)  // non-square images are accepted
        XCTAssertEqual(data.classCount, 10)
        XCTAssertEqual(data.labels, [3, 1, 4, 1, 5])
        guard case .bytes(let pixels) = data.features else { return XCTFail("IDX pixels are bytes") }
        XCTAssertEqual(Array(pixels[6..<12]), [10, 11, 12, 13, 14, 15])  // image 1
        XCTAssertEqual(pixels.count, 30)
        // Python: zlib.crc32(bytes([3, 1, 4, 1, 5])) == 1464240058
        XCTAssertEqual(data.labelChecksum, 1_464_240_058)
    }

    func testLoadsRawFilesAndPrefersGzipWhenBothExist() throws {
        let directory = try FixtureDirectory()
        try Fixture.write(Fixture.images(), to: directory.url, "train-images-idx3-ubyte")
        try Fixture.write(Fixture.labelFile(), to: directory.url, "train-labels-idx1-ubyte")
        XCTAssertEqual(try FashionMNIST.load(.train, directory: directory.path).labels, [3, 1, 4, 1, 5])

        // A .gz label file beside the raw one wins.
        try Fixture.write(Fixture.gzip(Fixture.labelFile([0, 0, 0, 0, 0])), to: directory.url, "train-labels-idx1-ubyte.gz")
        XCTAssertEqual(try FashionMNIST.load(.train, directory: directory.path + "/").labels, [0, 0, 0, 0, 0])
    }

    func testLimitKeepsTheFirstSamples() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain()
        let data = try FashionMNIST.load(.train, directory: directory.path, limit: 2)
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data.labels, [3, 1])
        XCTAssertEqual(data.features, .bytes([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]))
        // Python: zlib.crc32(bytes([3, 1])) == 502493610
        XCTAssertEqual(data.labelChecksum, 502_493_610)
        XCTAssertEqual(try FashionMNIST.load(.train, directory: directory.path, limit: 5).count, 5)
    }

    func testInMemoryInitialiserComputesTheChecksum() {
        let data = LabeledSamples(rows: 1, columns: 2, classCount: 10, pixels: [1, 2, 3, 4], labels: [3, 1])
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data.labelChecksum, 502_493_610)
    }

    /// Labels beyond a byte are summed as 4 little-endian bytes each.
    func testTheChecksumOfWideLabelsCoversEveryByte() {
        let data = LabeledSamples(sampleShape: [1], classCount: 300, features: .floats([0, 0]), labels: [299, 1])
        // Python: zlib.crc32(np.array([299, 1], '<i4').tobytes()) == 3757428152
        XCTAssertEqual(data.labelChecksum, 3_757_428_152)
    }
}
