import CZip
@testable import Datasets
import Foundation
import XCTest

/// `.safetensors` data files and `.npz` archives: arrays read back exactly, every structural
/// refusal with its message, and an archive whose member inflates beyond what it declares.
final class SafetensorsAndNPZTests: XCTestCase {
    // MARK: - safetensors

    private func safetensors(_ bytes: [UInt8]) throws -> SafetensorsDataFile {
        try SafetensorsDataFile(path: "d.safetensors", bytes: bytes, limit: 1 << 20)
    }

    func testSafetensorsReadsEachTensor() throws {
        let file = try safetensors(ArrayFixture.safetensors([
            ("x_train", "U8", [2, 1, 2, 2], Array(0..<8)), ("y_train", "I64", [2], ArrayFixture.bytes([Int64(3), 1])),
            ("x_test", "F32", [1, 4], ArrayFixture.bytes([0.5, 1, 2, 3] as [Float])), ("y_test", "U16", [1], ArrayFixture.bytes([UInt16(2)])),
        ]))
        XCTAssertEqual(file.names, ["x_train", "y_train", "x_test", "y_test"])
        XCTAssertEqual(try file.array("x_train").shape, [2, 1, 2, 2])
        XCTAssertEqual(try file.array("x_train").features(), .bytes(Array(0..<8)))
        XCTAssertEqual(try file.array("y_train").labels(classes: nil), [3, 1])
        XCTAssertEqual(try file.array("x_test").features(), .floats([0.5, 1, 2, 3]))
        XCTAssertEqual(try file.array("y_test").labels(classes: nil), [2])
    }

    func testSafetensorsRefusals() {
        let x = ("x", "U8", [2, 2], [UInt8](repeating: 1, count: 4)), y = ("y", "U8", [2], [UInt8]([0, 1]))
        XCTAssertEqual(ArrayFixture.error { try safetensors(ArrayFixture.safetensors([x, y], offsets: [[0, 4], [2, 4]])) }?.description,
                       "d.safetensors: tensor y has data offsets [2, 4], which overlap those of x")
        XCTAssertEqual(ArrayFixture.error { try safetensors(ArrayFixture.safetensors([x, y], offsets: [[0, 4], [4, 9]])) }?.description,
                       "d.safetensors: tensor y has data offsets [4, 9], beyond the 6 bytes of the data section")
        XCTAssertEqual(ArrayFixture.error { try safetensors(ArrayFixture.safetensors([x, y], offsets: [[0, 4], [4, 5]])) }?.description,
                       "d.safetensors: tensor y has data offsets [4, 5], 1 bytes, but U8 (2) needs 2")
        XCTAssertEqual(ArrayFixture.error { try safetensors(ArrayFixture.safetensors([x, y], offsets: [[4, 0], [4, 6]])) }?.description,
                       "d.safetensors: tensor x has data offsets [4, 0], which end before they begin")
        let valid = ArrayFixture.safetensors([x, y])
        XCTAssertEqual(ArrayFixture.error { try safetensors(Array(valid.prefix(20))) }?.description,
                       "d.safetensors is truncated inside its header: expected at least \(valid.count - 6) bytes, found 20")
        XCTAssertEqual(ArrayFixture.error { try safetensors(Array(valid.dropLast(1))) }?.description,
                       "d.safetensors: tensor y has data offsets [4, 6], beyond the 5 bytes of the data section")
        XCTAssertEqual(ArrayFixture.error { try safetensors(ArrayFixture.bytes([UInt64(1) << 40])) }?.description,
                       "d.safetensors has a malformed header: a header length of 1099511627776 bytes, more than the 100000000 accepted")
        XCTAssertEqual(ArrayFixture.error { try safetensors(ArrayFixture.bytes([UInt64(3)]) + Array("[1]".utf8)) }?.description,
                       "d.safetensors has a malformed header: it is not a JSON object")
        XCTAssertEqual(ArrayFixture.error { try safetensors(ArrayFixture.safetensors([("x", "U8", [-1, 2], [])])) }?.description,
                       "d.safetensors has a malformed header: tensor x has a shape that is not a list of non-negative integers")
        XCTAssertEqual(ArrayFixture.error { try safetensors(ArrayFixture.safetensors([("x", "F32", [1 << 40, 1 << 40], [])], offsets: [[0, 0]])) }?.description,
                       "d.safetensors:x declares shape (1099511627776, 1099511627776), more than the 1048576-byte limit")
        let file = try? safetensors(ArrayFixture.safetensors([("x", "BOOL", [2], [0, 1]), y]))
        XCTAssertEqual(ArrayFixture.error { try file?.array("x") }?.description,
                       "d.safetensors:x holds elements of dtype BOOL; arrays must be one of uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64")
        let missing = ArrayFixture.error { try file?.array("x_train") }
        XCTAssertEqual(missing?.description, "d.safetensors has no array x_train; it holds: x, y")
        XCTAssertEqual(missing?.exitStatus, .missingInput)
    }

    // MARK: - NPZ

    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-npz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testNPZReadsStoredAndDeflatedMembers() throws {
        let x = ArrayFixture.npy(descr: "|u1", shape: [2, 2, 2], payload: Array(0..<8))
        let y = ArrayFixture.npy(descr: "<i8", shape: [2], payload: ArrayFixture.bytes([Int64(1), 0]))
        for deflate in [false, true] {
            let path = directory.appendingPathComponent("d\(deflate).npz").path
            try ArrayFixture.writeNPZ([("x_train", x), ("y_train", y)], to: path, deflate: deflate)
            let archive = try NPZFile(path: path, limit: 1 << 20)
            XCTAssertEqual(archive.names, ["x_train", "y_train"])
            XCTAssertEqual(try archive.array("x_train", limit: 1 << 20).features(), .bytes(Array(0..<8)))
            XCTAssertEqual(try archive.array("y_train", limit: 1 << 20).labels(classes: nil), [1, 0])
            XCTAssertThrowsError(try archive.array("x_test", limit: 1 << 20)) { error in
                XCTAssertEqual((error as? DataFileError)?.description, "\(path) has no array x_test; it holds: x_train, y_train")
            }
        }
    }

    /// A zip bomb: a member whose NPY header declares 8 bytes of data but which inflates to a
    /// megabyte, with a zip entry that tells the truth about its size. Refused from the header and
    /// the entry's size, before reading the data; and with the entry patched to declare the
    /// header's size, refused after inflating one byte more than that.
    func testNPZRefusesMembersLargerThanTheirHeaderDeclares() throws {
        let bomb = ArrayFixture.npy(descr: "|u1", shape: [2, 4], payload: [UInt8](repeating: 0, count: 1 << 20))
        let path = directory.appendingPathComponent("bomb.npz").path
        try ArrayFixture.writeNPZ([("x_train", bomb)], to: path)
        let error = ArrayFixture.error { try NPZFile(path: path, limit: 1 << 30).array("x_train", limit: 1 << 30) }
        XCTAssertEqual(error?.description, "\(path):x_train has 1048568 trailing bytes: shape (2, 4) needs 136 bytes, found 1048704")

        // The same archive with the entry's declared size patched to the header's 136 bytes (in
        // the local header at offset 22 and the central directory entry at offset 24).
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let real = bomb.count
        func patch(at offset: Int) {
            XCTAssertEqual(bytes[offset..<(offset + 4)].reversed().reduce(0) { $0 << 8 | Int($1) }, real, "size field at \(offset)")
            bytes.replaceSubrange(offset..<(offset + 4), with: ArrayFixture.bytes([UInt32(136)]))
        }
        patch(at: 22)
        let central = try XCTUnwrap((0..<(bytes.count - 4)).last { bytes[$0..<($0 + 4)] == [0x50, 0x4B, 0x01, 0x02] })
        patch(at: central + 24)
        let lying = directory.appendingPathComponent("lying.npz").path
        try Data(bytes).write(to: URL(fileURLWithPath: lying))
        let refused = ArrayFixture.error { try NPZFile(path: lying, limit: 1 << 30).array("x_train", limit: 1 << 30) }
        XCTAssertEqual(refused?.description, "\(lying):x_train inflates beyond its declared 136 bytes (refused before inflating further)")
        XCTAssertEqual(refused?.exitStatus, .data)
    }

    func testNPZRefusesFilesThatAreNotArchives() throws {
        let path = directory.appendingPathComponent("plain.npz").path
        try Data("not a zip archive at all".utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(ArrayFixture.error { try NPZFile(path: path, limit: 1 << 20) }?.description,
                       "\(path) is not a .npz (zip) file: not a zip archive")
        let valid = directory.appendingPathComponent("v.npz").path
        try ArrayFixture.writeNPZ([("x_train", ArrayFixture.npy(descr: "|u1", shape: [4], payload: [1, 2, 3, 4]))], to: valid)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: valid))
        let cut = directory.appendingPathComponent("cut.npz").path
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: cut))
        XCTAssertNotNil(ArrayFixture.error { try NPZFile(path: cut, limit: 1 << 20).array("x_train", limit: 1 << 20) })
    }
}
