@testable import Datasets
import Determinism
import Foundation
import XCTest

/// Hostile files are data: 10,000 random mutations of a valid small file per reader (bytes
/// flipped, inserted, deleted, the file cut, header bytes replaced), each read to completion.
/// A reader may refuse a case (with a `DataFileError` or `DatasetError`) or accept it, but must
/// never crash or hang; the count of accepted cases shows the mutations reach past the first check.
final class DataFileFuzzTests: XCTestCase {
    static let cases = 10_000

    /// `valid` mutated by one to four random edits.
    private static func mutate(_ valid: [UInt8], _ generator: inout SeededGenerator) -> [UInt8] {
        var bytes = valid
        for _ in 0...generator.nextIndex(below: 4) {
            switch generator.nextIndex(below: 6) {
            case 0 where !bytes.isEmpty: bytes[generator.nextIndex(below: bytes.count)] ^= UInt8(1 << generator.nextIndex(below: 8))
            case 1 where !bytes.isEmpty: bytes[generator.nextIndex(below: bytes.count)] = UInt8(truncatingIfNeeded: generator.next())
            case 2: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: generator.nextIndex(below: bytes.count + 1))
            case 3 where !bytes.isEmpty: bytes.remove(at: generator.nextIndex(below: bytes.count))
            case 4: bytes = Array(bytes.prefix(generator.nextIndex(below: bytes.count + 1)))
            default:  // an interesting byte where the header is
                let interesting: [UInt8] = [0, 0xFF, 0x7F, 0x80, 0x22, 0x27, 0x28, 0x29, 0x2C, 0x3A, 0x5B, 0x7B, 0x7D, 0x2D, 0x39]
                if !bytes.isEmpty { bytes[generator.nextIndex(below: min(bytes.count, 128))] = interesting[generator.nextIndex(below: interesting.count)] }
            }
        }
        return bytes
    }

    /// Runs `read` on every mutation; returns how many were accepted.
    private func fuzz(_ valid: [UInt8], seed: UInt64, _ read: ([UInt8]) throws -> Void) -> Int {
        var generator = SeededGenerator(seed: seed)
        var accepted = 0
        for _ in 0..<Self.cases {
            do {
                try read(Self.mutate(valid, &generator))
                accepted += 1
            } catch is DataFileError {
            } catch is DatasetError {
            } catch {
                XCTFail("an error of another kind: \(error)")
            }
        }
        return accepted
    }

    func testNPY() {
        let valid = ArrayFixture.npy(descr: "<f4", shape: [2, 3], payload: ArrayFixture.bytes([1, 2, 3, 4, 5, 6] as [Float]))
        let accepted = fuzz(valid, seed: 1) { bytes in
            let array = try NPYFile.parse(bytes, source: "f.npy", limit: 1 << 16)
            if array.elementType.isFeatureType { _ = try array.features() } else { _ = try array.labels(classes: nil) }
        }
        XCTAssertGreaterThan(accepted, 100)
        XCTAssertLessThan(accepted, Self.cases)
    }

    func testSafetensors() {
        let valid = ArrayFixture.safetensors([("x", "F32", [2, 2], ArrayFixture.bytes([1, 2, 3, 4] as [Float])), ("y", "I64", [2], ArrayFixture.bytes([Int64(0), 1]))])
        let accepted = fuzz(valid, seed: 2) { bytes in
            let file = try SafetensorsDataFile(path: "f.safetensors", bytes: bytes, limit: 1 << 16)
            for name in file.names { _ = try file.array(name) }
        }
        XCTAssertGreaterThan(accepted, 100)
        XCTAssertLessThan(accepted, Self.cases)
    }

    func testCSV() {
        let valid = Array("label,a,b\r\n1,0.5,2\r\n0,3,4e1\r\n".utf8)
        let accepted = fuzz(valid, seed: 3) { bytes in
            // The other reading is run too (for crashes); its refusals do not count.
            _ = try? CSVFile.parse(bytes, path: "f.csv", header: .yes, cellType: .uint8, labelColumn: "label")
            _ = try CSVFile.parse(bytes, path: "f.csv", header: .auto, cellType: .float32, labelColumn: nil)
        }
        XCTAssertGreaterThan(accepted, 100)
        XCTAssertLessThan(accepted, Self.cases)
    }

    /// NPZ goes through libzip, which reads files: every mutation is written and opened.
    func testNPZ() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-fuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("f.npz").path
        for deflate in [false, true] {
            try ArrayFixture.writeNPZ([("x_train", ArrayFixture.npy(descr: "|u1", shape: [2, 2], payload: [1, 2, 3, 4]))], to: path, deflate: deflate)
            let valid = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let accepted = fuzz(valid, seed: deflate ? 5 : 4) { bytes in
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                _ = try NPZFile(path: path, limit: 1 << 16).array("x_train", limit: 1 << 16).features()
            }
            XCTAssertGreaterThan(accepted, 10, "deflate \(deflate)")
            XCTAssertLessThan(accepted, Self.cases)
        }
    }
}
