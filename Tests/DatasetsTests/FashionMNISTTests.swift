import Datasets
import XCTest

/// The real files of Debian's `dataset-fashion-mnist` in `FashionMNIST.defaultDirectory`.
///
/// Reference values from Python 3 reading the same files independently:
/// `gzip.open(path).read()`, `struct.unpack(">IIII", data[:16])`, `sum(data[16:])`,
/// `zlib.crc32(labels)`, `[labels.count(i) for i in range(10)]`.
final class FashionMNISTTests: XCTestCase {
    func testTrainingSplit() throws {
        let data = try FashionMNIST.load(.train)
        XCTAssertEqual(data.count, 60_000)
        XCTAssertEqual(data.rows, 28)
        XCTAssertEqual(data.columns, 28)
        XCTAssertEqual(data.featureCount, 784)
        XCTAssertEqual(data.classCount, 10)
        XCTAssertEqual(data.pixels.count, 60_000 * 784)
        XCTAssertEqual(Array(data.labels.prefix(5)), [9, 0, 0, 3, 0])
        XCTAssertEqual(Array(data.pixels[300..<305]), [210, 211, 213, 223, 220])
        XCTAssertEqual(data.pixels[..<784].reduce(0) { $0 + Int($1) }, 76_247)
        XCTAssertEqual(data.pixels.reduce(0) { $0 + Int($1) }, 3_431_114_169)
        XCTAssertEqual(data.labelChecksum, 785_835_114)
        XCTAssertEqual(histogram(data.labels), [Int](repeating: 6_000, count: 10))
    }

    func testTestSplit() throws {
        let data = try FashionMNIST.load(.test)
        XCTAssertEqual(data.count, 10_000)
        XCTAssertEqual(data.rows, 28)
        XCTAssertEqual(data.columns, 28)
        XCTAssertEqual(Array(data.labels.prefix(5)), [9, 2, 1, 1, 6])
        XCTAssertEqual(Array(data.pixels[300..<305]), [157, 166, 135, 154, 168])
        XCTAssertEqual(data.pixels.reduce(0) { $0 + Int($1) }, 573_469_082)
        XCTAssertEqual(data.labelChecksum, 606_848_831)
        XCTAssertEqual(histogram(data.labels), [Int](repeating: 1_000, count: 10))
    }

    func testLimitedTrainingSplit() throws {
        let data = try FashionMNIST.load(.train, limit: 100)
        XCTAssertEqual(data.count, 100)
        XCTAssertEqual(data.pixels.count, 100 * 784)
        XCTAssertEqual(Array(data.labels.prefix(5)), [9, 0, 0, 3, 0])
        // Python: zlib.crc32(train_labels[:100]) == 3631215203
        XCTAssertEqual(data.labelChecksum, 3_631_215_203)
        XCTAssertThrowsError(try FashionMNIST.load(.train, limit: 60_001)) { error in
            XCTAssertEqual(
                error as? DatasetError,
                .limitExceedsSampleCount(
                    flag: "--limit-train", limit: 60_001, sampleCount: 60_000,
                    path: FashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz"))
        }
    }

    private func histogram(_ labels: [Int32]) -> [Int] {
        var counts = [Int](repeating: 0, count: 10)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }
}
