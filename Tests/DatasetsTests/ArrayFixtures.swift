import CZip
import Foundation
@testable import Datasets
import XCTest

/// Array files built byte by byte, as numpy and safetensors write them, for the reader tests.
enum ArrayFixture {
    /// An `.npy` file: the header exactly as `numpy.lib.format` writes it (a dictionary literal
    /// padded with spaces to a multiple of 64 bytes, ending in a newline), then `payload`.
    static func npy(
        descr: String, shape: [Int], fortran: Bool = false, payload: [UInt8], version: UInt8 = 1, header: String? = nil
    ) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var text = header ?? "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
        let prefix = 8 + (version == 1 ? 2 : 4)
        while (prefix + text.utf8.count + 1) % 64 != 0 { text += " " }
        text += "\n"
        let length = text.utf8.count
        let lengthBytes: [UInt8] = version == 1
            ? [UInt8(length & 0xFF), UInt8(length >> 8)]
            : [UInt8(length & 0xFF), UInt8((length >> 8) & 0xFF), UInt8((length >> 16) & 0xFF), UInt8(length >> 24)]
        return NPYFile.magic + [version, 0] + lengthBytes + Array(text.utf8) + payload
    }

    /// Little-endian bytes of `values`.
    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    }

    static func bytes(_ values: [Float], bigEndian: Bool = false) -> [UInt8] {
        values.flatMap { value in
            let bits = bigEndian ? value.bitPattern.bigEndian : value.bitPattern.littleEndian
            return withUnsafeBytes(of: bits) { Array($0) }
        }
    }

    static func bytes(_ values: [Double]) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
    }

    /// A safetensors file of `tensors` laid out one after another (or at `offsets` when given).
    static func safetensors(_ tensors: [(name: String, dtype: String, shape: [Int], data: [UInt8])],
                            offsets: [[Int]]? = nil, metadata: Bool = true) -> [UInt8] {
        var entries: [String] = []
        var data: [UInt8] = []
        for (i, tensor) in tensors.enumerated() {
            let range = offsets?[i] ?? [data.count, data.count + tensor.data.count]
            entries.append("\"\(tensor.name)\":{\"dtype\":\"\(tensor.dtype)\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(range[0]),\(range[1])]}")
            data += tensor.data
        }
        if metadata { entries.append("\"__metadata__\":{\"format\":\"np\"}") }
        let header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        return bytes([UInt64(header.count)]) + header + data
    }

    /// Writes an `.npz` archive with libzip: each member `name.npy` stored or deflated.
    static func writeNPZ(_ members: [(name: String, bytes: [UInt8])], to path: String, deflate: Bool = true) throws {
        var code: Int32 = 0
        guard let archive = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code) else { throw NSError(domain: "zip", code: Int(code)) }
        for member in members {
            let buffer = malloc(max(member.bytes.count, 1))!
            member.bytes.withUnsafeBytes { if $0.count > 0 { buffer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            guard let source = zip_source_buffer(archive, buffer, zip_uint64_t(member.bytes.count), 1) else {
                throw NSError(domain: "zip", code: 1)
            }
            let index = zip_file_add(archive, member.name + ".npy", source, zip_flags_t(ZIP_FL_OVERWRITE))
            guard index >= 0 else { throw NSError(domain: "zip", code: 2) }
            zip_set_file_compression(archive, zip_uint64_t(index), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0)
        }
        guard zip_close(archive) == 0 else { throw NSError(domain: "zip", code: 3) }
    }

    /// The `DataFileError` that `body` throws; fails the test when it throws none or another error.
    static func error<T>(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) -> DataFileError? {
        do {
            _ = try body()
            XCTFail("expected a DataFileError", file: file, line: line)
        } catch let error as DataFileError {
            return error
        } catch {
            XCTFail("expected a DataFileError, got \(error)", file: file, line: line)
        }
        return nil
    }
}
