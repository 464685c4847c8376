import Datasets
import Foundation
import Reporting
import XCTest

/// Opening files and decompressing them: each failure gives its own `DatasetError`.
final class FileAndGzipErrorTests: XCTestCase {
    // MARK: - Files

    func testMissingFileNamesBothNamesAndHints() throws {
        let directory = try FixtureDirectory()
        XCTAssertThrowsError(try FashionMNIST.load(.train, directory: directory.path)) { error in
            let raw = directory.url.appendingPathComponent("train-images-idx3-ubyte").path
            assertError(
                error as? DatasetError, .missingFile(path: raw + ".gz", alternative: raw),
                mentions: [raw + ".gz", "nor " + raw, "does not exist"])
            let reportable = error as? DatasetError
            XCTAssertEqual(reportable?.exitStatus, .missingInput)
            XCTAssert(reportable?.hint?.contains("dataset-fashion-mnist") == true)
            XCTAssert(reportable?.hint?.contains("--data-dir") == true)
        }
    }

    func testMissingLabelFileOnly() throws {
        let directory = try FixtureDirectory()
        try Fixture.write(Fixture.gzip(Fixture.images()), to: directory.url, "t10k-images-idx3-ubyte.gz")
        XCTAssertThrowsError(try FashionMNIST.load(.test, directory: directory.path)) { error in
            let raw = directory.url.appendingPathComponent("t10k-labels-idx1-ubyte").path
            XCTAssertEqual(error as? DatasetError, .missingFile(path: raw + ".gz", alternative: raw))
        }
    }

    func testUnreadableFileByPermission() throws {
        try XCTSkipIf(getuid() == 0, "root reads files without read permission; RealFaultTests runs this case as an unprivileged user (setpriv)")
        let directory = try FixtureDirectory()
        try directory.writeTrain()
        XCTAssertEqual(chmod(directory.imagesPath, 0o000), 0)
        assertError(
            directory.loadError(), .unreadableFile(path: directory.imagesPath, reason: "permission denied"),
            mentions: [directory.imagesPath, "permission denied"])
        XCTAssertEqual(directory.loadError()?.exitStatus, .missingInput)
    }

    func testDirectoryIsUnreadable() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain()
        try FileManager.default.removeItem(atPath: directory.labelsPath)
        try FileManager.default.createDirectory(atPath: directory.labelsPath, withIntermediateDirectories: false)
        let error = directory.loadError()
        assertError(
            error, .unreadableFile(path: directory.labelsPath, reason: "it is a directory"),
            mentions: [directory.labelsPath, "cannot read"])
        XCTAssertEqual(error?.exitStatus, .missingInput)
    }

    /// A named pipe with no writer would block `open` forever; it is refused at once instead.
    func testNamedPipeIsRefusedWithoutBlocking() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain()
        try FileManager.default.removeItem(atPath: directory.imagesPath)
        XCTAssertEqual(mkfifo(directory.imagesPath, 0o644), 0)
        assertError(
            directory.loadError(), .unreadableFile(path: directory.imagesPath, reason: "it is not a regular file"),
            mentions: [directory.imagesPath])
    }

    func testFileLargerThanTheCapIsRefusedBeforeReading() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain()
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: directory.imagesPath)[.size] as? Int)
        assertError(
            directory.loadError(maximumByteCount: size - 1),
            .fileTooLarge(path: directory.imagesPath, byteCount: size, limit: size - 1),
            mentions: [directory.imagesPath, "\(size) bytes", "\(size - 1)-byte limit"])
    }

    // MARK: - gzip

    func testGzipNameWithoutGzipContent() throws {
        let directory = try FixtureDirectory()
        try directory.writeCompressed(images: Fixture.images(), labels: Fixture.gzip(Fixture.labelFile()))
        let error = directory.loadError()
        assertError(
            error, .notGzip(path: directory.imagesPath, foundBytes: [0x00, 0x00, 0x08, 0x03]),
            mentions: [directory.imagesPath, "expected the bytes 1f 8b, found 00 00 08 03"])
        XCTAssertEqual(error?.exitStatus, .data)
    }

    func testEmptyGzipFile() throws {
        let directory = try FixtureDirectory()
        try directory.writeCompressed(images: [], labels: Fixture.gzip(Fixture.labelFile()))
        assertError(
            directory.loadError(), .notGzip(path: directory.imagesPath, foundBytes: []), mentions: ["empty file"])
    }

    func testCorruptGzipGivesZlibsMessage() throws {
        var compressed = Fixture.gzip(Fixture.images())
        compressed[compressed.count - 8] ^= 0xFF  // the CRC-32 in the gzip trailer (RFC 1952 §2.3.1)
        let directory = try FixtureDirectory()
        try directory.writeCompressed(images: compressed, labels: Fixture.gzip(Fixture.labelFile()))
        assertError(
            directory.loadError(), .corruptGzip(path: directory.imagesPath, message: "incorrect data check"),
            mentions: [directory.imagesPath, "corrupt gzip stream: incorrect data check"])
    }

    func testCorruptGzipHeader() throws {
        var compressed = Fixture.gzip(Fixture.labelFile())
        compressed[2] = 7  // compression method: only 8 (deflate) exists
        let directory = try FixtureDirectory()
        try directory.writeCompressed(images: Fixture.gzip(Fixture.images()), labels: compressed)
        assertError(
            directory.loadError(), .corruptGzip(path: directory.labelsPath, message: "unknown compression method"),
            mentions: [directory.labelsPath])
    }

    func testTruncatedGzip() throws {
        let compressed = Fixture.gzip(Fixture.images())
        let directory = try FixtureDirectory()
        try directory.writeCompressed(
            images: Array(compressed.dropLast(10)), labels: Fixture.gzip(Fixture.labelFile()))
        assertError(
            directory.loadError(),
            .truncatedGzip(path: directory.imagesPath, compressedByteCount: compressed.count - 10),
            mentions: [directory.imagesPath, "truncated", "after \(compressed.count - 10) compressed bytes"])
    }

    func testTrailingGarbageAfterGzipStream() throws {
        let directory = try FixtureDirectory()
        try directory.writeCompressed(
            images: Fixture.gzip(Fixture.images()) + Array("junk".utf8), labels: Fixture.gzip(Fixture.labelFile()))
        assertError(
            directory.loadError(), .trailingGzipData(path: directory.imagesPath, byteCount: 4),
            mentions: [directory.imagesPath, "4 bytes after the end of its gzip stream"])
    }

    func testConcatenatedGzipMembersAreOneFile() throws {
        let images = Fixture.images()
        let directory = try FixtureDirectory()
        try directory.writeCompressed(
            images: Fixture.gzip(Array(images[..<20])) + Fixture.gzip(Array(images[20...])),
            labels: Fixture.gzip(Fixture.labelFile()))
        let data = try LabeledSamples.load(
            imagesPath: directory.imagesPath, labelsPath: directory.labelsPath, classCount: 10)
        XCTAssertEqual(data.pixels, Array(images[16...]))
    }

    func testDecompressionStopsAtTheCap() throws {
        // 5 images of 100 × 100 zero pixels: 50,016 bytes decompressed, a few hundred compressed.
        let images = Fixture.idx(dimensions: [5, 100, 100], data: [UInt8](repeating: 0, count: 50_000))
        let directory = try FixtureDirectory()
        try directory.writeTrain(images: images)
        assertError(
            directory.loadError(maximumByteCount: 10_000),
            .decompressedTooLarge(path: directory.imagesPath, limit: 10_000),
            mentions: [directory.imagesPath, "more than the 10000-byte limit"])
        // The same file loads under a cap it fits in.
        XCTAssertEqual(
            try LabeledSamples.load(
                imagesPath: directory.imagesPath, labelsPath: directory.labelsPath, classCount: 10,
                maximumByteCount: 50_016
            ).featureCount, 10_000)
    }
}
