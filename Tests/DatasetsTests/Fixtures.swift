import CZlib
import Datasets
import Foundation
import TestSupport
import XCTest

/// Small IDX files built from bytes, written into a fresh temporary directory per test.
enum Fixture {
    /// Labels of the standard fixture: 5 samples.
    static let labels: [UInt8] = [3, 1, 4, 1, 5]
    static let rows = 2
    static let columns = 3

    /// An IDX file: magic 00 00, element type, dimension count, big-endian UInt32 dimensions, data.
    static func idx(type: UInt8 = 0x08, dimensions: [Int], data: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, type, UInt8(dimensions.count)]
        for dimension in dimensions {
            bytes += withUnsafeBytes(of: UInt32(dimension).bigEndian) { Array($0) }
        }
        return bytes + data
    }

    /// The standard image file: `count` images of 2 × 3 whose pixel `j` of image `i` is `10·i + j`.
    static func images(count: Int = labels.count) -> [UInt8] {
        let pixels = (0..<count).flatMap { image in (0..<(rows * columns)).map { UInt8(10 * image + $0) } }
        return idx(dimensions: [count, rows, columns], data: pixels)
    }

    /// The standard label file.
    static func labelFile(_ values: [UInt8] = labels) -> [UInt8] {
        idx(dimensions: [values.count], data: values)
    }

    /// `bytes` gzip-compressed by zlib (`deflateInit2` with `windowBits = 16 + MAX_WBITS`).
    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        precondition(
            deflateInit2_(
                &stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&stream) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 32)
        let written = input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                stream.next_in = inputBuffer.baseAddress
                stream.avail_in = uInt(inputBuffer.count)
                stream.next_out = outputBuffer.baseAddress
                stream.avail_out = uInt(outputBuffer.count)
                precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
                return outputBuffer.count - Int(stream.avail_out)
            }
        }
        return Array(output[..<written])
    }

    /// Writes `bytes` to `directory/name` and returns the path.
    @discardableResult
    static func write(_ bytes: [UInt8], to directory: URL, _ name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }
}

/// A temporary directory holding a training split in Fashion-MNIST's file names.
final class FixtureDirectory {
    let url: URL
    var path: String { url.path }
    var imagesPath: String { url.appendingPathComponent("train-images-idx3-ubyte.gz").path }
    var labelsPath: String { url.appendingPathComponent("train-labels-idx1-ubyte.gz").path }

    init() throws { url = try ProcessRunner.temporaryDirectory("lockstep-datasets") }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes gzip-compressed image and label files (standard fixtures unless given).
    func writeTrain(images: [UInt8] = Fixture.images(), labels: [UInt8] = Fixture.labelFile()) throws {
        try writeCompressed(images: Fixture.gzip(images), labels: Fixture.gzip(labels))
    }

    /// Writes the `.gz` files with exactly these (possibly damaged) bytes.
    func writeCompressed(images: [UInt8], labels: [UInt8]) throws {
        try Fixture.write(images, to: url, "train-images-idx3-ubyte.gz")
        try Fixture.write(labels, to: url, "train-labels-idx1-ubyte.gz")
    }

    /// Loads the training split, expecting a `DatasetError`; fails the test if none is thrown.
    func loadError(
        limit: Int? = nil, maximumByteCount: Int = LabeledSamples.maximumIDXByteCount,
        file: StaticString = #filePath, line: UInt = #line
    ) -> DatasetError? {
        do {
            let data = try LabeledSamples.load(
                imagesPath: imagesPath, labelsPath: labelsPath, classCount: FashionMNIST.classCount,
                limit: limit, limitFlag: "--limit-train", maximumByteCount: maximumByteCount)
            XCTFail("loaded \(data.count) samples; expected an error", file: file, line: line)
        } catch let error as DatasetError {
            return error
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
        return nil
    }
}

/// Asserts that `error` equals `expected` and that its description contains every fragment.
func assertError(
    _ error: DatasetError?, _ expected: DatasetError, mentions fragments: [String],
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(error, expected, file: file, line: line)
    let text = error?.description ?? ""
    for fragment in fragments {
        XCTAssert(text.contains(fragment), "«\(text)» does not mention «\(fragment)»", file: file, line: line)
    }
}

/// The views of a greyscale byte data set that the IDX tests check.
extension LabeledSamples {
    /// The pixels of byte features (empty for `Float` features).
    var pixels: [UInt8] {
        guard case .bytes(let values) = features else { return [] }
        return values
    }
    var rows: Int { sampleShape[1] }
    var columns: Int { sampleShape[2] }
}
