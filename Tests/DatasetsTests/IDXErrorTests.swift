import Datasets
import Foundation
import Reporting
import XCTest

/// The IDX layout and contents: each malformed file gives its own `DatasetError`.
final class IDXErrorTests: XCTestCase {
    // MARK: - Header

    func testWrongMagic() throws {
        var images = Fixture.images()
        images[0] = 0x12
        images[1] = 0x34
        let directory = try FixtureDirectory()
        try directory.writeTrain(images: images)
        let error = directory.loadError()
        assertError(
            error, .wrongMagic(path: directory.imagesPath, foundBytes: [0x12, 0x34]),
            mentions: [directory.imagesPath, "expected the magic bytes 00 00, found 12 34"])
        XCTAssertEqual(error?.exitStatus, .data)
        XCTAssertNil(error?.hint)
    }

    func testGzipContentUnderARawNameIsWrongMagicWithAHint() throws {
        let directory = try FixtureDirectory()
        let images = try Fixture.write(Fixture.gzip(Fixture.images()), to: directory.url, "train-images-idx3-ubyte")
        try Fixture.write(Fixture.labelFile(), to: directory.url, "train-labels-idx1-ubyte")
        XCTAssertThrowsError(try FashionMNIST.load(.train, directory: directory.path)) { error in
            let error = error as? DatasetError
            assertError(error, .wrongMagic(path: images, foundBytes: [0x1F, 0x8B]), mentions: ["found 1f 8b"])
            XCTAssertEqual(error?.hint, "the file looks gzip-compressed: give it a .gz suffix")
        }
    }

    func testUnsupportedElementType() throws {
        let floats = Fixture.idx(type: 0x0D, dimensions: [5, 2, 3], data: [UInt8](repeating: 0, count: 120))
        let directory = try FixtureDirectory()
        try directory.writeTrain(images: floats)
        assertError(
            directory.loadError(), .unsupportedElementType(path: directory.imagesPath, found: 0x0D),
            mentions: [directory.imagesPath, "element type 0d (32-bit float)", "expected 08 (unsigned byte)"])
    }

    func testImagesNeedThreeDimensions() throws {
        let flat = Fixture.idx(dimensions: [5, 6], data: [UInt8](repeating: 0, count: 30))
        let directory = try FixtureDirectory()
        try directory.writeTrain(images: flat)
        assertError(
            directory.loadError(), .wrongDimensionCount(path: directory.imagesPath, expected: 3, found: 2),
            mentions: [directory.imagesPath, "has 2 dimensions; expected 3"])
    }

    func testLabelsNeedOneDimension() throws {
        let labels = Fixture.idx(dimensions: [5, 1, 1], data: Fixture.labels)
        let directory = try FixtureDirectory()
        try directory.writeTrain(labels: labels)
        assertError(
            directory.loadError(), .wrongDimensionCount(path: directory.labelsPath, expected: 1, found: 3),
            mentions: [directory.labelsPath, "has 3 dimensions; expected 1"])
    }

    func testFileEndingInsideTheMagic() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain(images: [0, 0, 8])
        assertError(
            directory.loadError(), .truncatedHeader(path: directory.imagesPath, expectedBytes: 4, foundBytes: 3),
            mentions: [directory.imagesPath, "expected at least 4 bytes, found 3"])
    }

    func testFileEndingInsideTheDimensions() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain(images: Array(Fixture.images()[..<10]))
        assertError(
            directory.loadError(), .truncatedHeader(path: directory.imagesPath, expectedBytes: 16, foundBytes: 10),
            mentions: [directory.imagesPath, "inside its IDX header: expected at least 16 bytes, found 10"])
    }

    func testEmptyDimension() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain(images: Fixture.idx(dimensions: [5, 0, 3], data: []))
        assertError(
            directory.loadError(), .emptyDimension(path: directory.imagesPath, dimensions: [5, 0, 3]),
            mentions: [directory.imagesPath, "5 × 0 × 3"])
    }

    func testDeclaredSizeBeyondTheCap() throws {
        // 4,000,000,000 × 28 × 28 bytes cannot be in memory; refused from the header alone.
        let directory = try FixtureDirectory()
        try directory.writeTrain(images: Fixture.idx(dimensions: [4_000_000_000, 28, 28], data: [1, 2, 3]))
        assertError(
            directory.loadError(),
            .declaredSizeTooLarge(
                path: directory.imagesPath, dimensions: [4_000_000_000, 28, 28], limit: 1 << 30),
            mentions: [directory.imagesPath, "4000000000 × 28 × 28", "1073741824-byte limit"])
    }

    // MARK: - Data size

    func testTruncatedData() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain(images: Array(Fixture.images().dropLast()))
        // 16-byte header + 5 × 2 × 3 pixels = 46 bytes.
        assertError(
            directory.loadError(),
            .truncatedData(path: directory.imagesPath, dimensions: [5, 2, 3], expectedBytes: 46, foundBytes: 45),
            mentions: [directory.imagesPath, "5 × 2 × 3 need 46 bytes", "found 45"])
    }

    func testTrailingBytes() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain(labels: Fixture.labelFile() + [0, 0])
        // 8-byte header + 5 labels = 13 bytes.
        assertError(
            directory.loadError(),
            .trailingBytes(path: directory.labelsPath, dimensions: [5], expectedBytes: 13, foundBytes: 15),
            mentions: [directory.labelsPath, "2 trailing bytes", "need 13 bytes", "found 15"])
    }

    // MARK: - Contents

    func testImageAndLabelCountsDiffer() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain(labels: Fixture.labelFile([3, 1, 4, 1]))
        assertError(
            directory.loadError(),
            .countMismatch(
                imagesPath: directory.imagesPath, imageCount: 5, labelsPath: directory.labelsPath, labelCount: 4),
            mentions: [directory.imagesPath, "holds 5 images", directory.labelsPath, "holds 4 labels"])
    }

    func testLabelOutOfRange() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain(labels: Fixture.labelFile([3, 1, 4, 10, 5]))
        assertError(
            directory.loadError(),
            .labelOutOfRange(path: directory.labelsPath, index: 3, value: 10, classCount: 10),
            mentions: [directory.labelsPath, "label 3 is 10", "0..<10"])
    }

    func testLabelOutOfRangeBeyondTheLimitIsStillAnError() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain(labels: Fixture.labelFile([3, 1, 4, 1, 255]))
        assertError(
            directory.loadError(limit: 2),
            .labelOutOfRange(path: directory.labelsPath, index: 4, value: 255, classCount: 10),
            mentions: ["label 4 is 255"])
    }

    // MARK: - Limits

    func testZeroAndNegativeLimitsAreRefused() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain()
        for value in [0, -3] {
            let error = directory.loadError(limit: value)
            assertError(
                error, .invalidLimit(flag: "--limit-train", value: value),
                mentions: ["--limit-train \(value)", "expected at least 1"])
            XCTAssertEqual(error?.exitStatus, .usage)
        }
    }

    func testLimitBeyondTheFileIsRefusedNotClamped() throws {
        let directory = try FixtureDirectory()
        try directory.writeTrain()
        let error = directory.loadError(limit: 6)
        assertError(
            error, .limitExceedsSampleCount(flag: "--limit-train", limit: 6, sampleCount: 5, path: directory.imagesPath),
            mentions: ["--limit-train 6 exceeds the 5 samples in \(directory.imagesPath)"])
        XCTAssertEqual(error?.exitStatus, .usage)
        XCTAssertEqual(error?.hint, "use --limit-train 5 or less, or omit it to use every sample")
    }

    func testLimitFlagFollowsTheSplit() throws {
        let directory = try FixtureDirectory()
        XCTAssertThrowsError(try FashionMNIST.load(.test, directory: directory.path, limit: 0)) { error in
            XCTAssertEqual(error as? DatasetError, .invalidLimit(flag: "--limit-test", value: 0))
        }
    }
}
