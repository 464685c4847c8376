@testable import Datasets
import XCTest

/// `.npy` files: every accepted element type read back exactly, both byte orders, and each
/// refusal with its message. Files are built as `numpy.lib.format` writes them
/// (`ArrayFixture.npy`; `np.save(b, np.arange(6, dtype='<i2').reshape(2, 3))` gives the same
/// 128-byte header).
final class NPYFileTests: XCTestCase {
    private func parse(_ bytes: [UInt8], limit: Int = 1 << 20) throws -> NumericArray {
        try NPYFile.parse(bytes, source: "a.npy", limit: limit)
    }

    func testReadsBytesAndKeepsTheShape() throws {
        let array = try parse(ArrayFixture.npy(descr: "|u1", shape: [2, 2, 3], payload: Array(0..<12)))
        XCTAssertEqual(array.elementType, .uint8)
        XCTAssertEqual(array.shape, [2, 2, 3])
        XCTAssertEqual(try array.features(), .bytes(Array(0..<12)))
    }

    func testReadsLittleAndBigEndianFloatsToTheSameValues() throws {
        let values: [Float] = [1.5, -2.25, 0x1.fffffep127, Float(bitPattern: 0x0001_16C2)]  // the last: 1e-40, a subnormal
        let little = try parse(ArrayFixture.npy(descr: "<f4", shape: [2, 2], payload: ArrayFixture.bytes(values)))
        let big = try parse(ArrayFixture.npy(descr: ">f4", shape: [2, 2], payload: ArrayFixture.bytes(values, bigEndian: true)))
        XCTAssertEqual(try little.features(), .floats(values))
        XCTAssertEqual(try big.features(), .floats(values))
    }

    /// `float64` is rounded once to `Float`, to nearest even as numpy's `astype(np.float32)`:
    /// numpy gives 0.1 → 0.10000000149011612 and 1 + 2⁻²⁴ (a tie) → 1.0.
    func testRoundsFloat64OnceToNearest() throws {
        let array = try parse(ArrayFixture.npy(descr: "<f8", shape: [1, 3], payload: ArrayFixture.bytes([0.1, 1 + 0x1p-24, -3])))
        XCTAssertEqual(try array.features(), .floats([0.10000000149011612, 1, -3]))
    }

    func testReadsEveryIntegerTypeAsLabels() throws {
        let cases: [(String, [UInt8])] = [
            ("|u1", [7, 0, 2]), ("|i1", [7, 0, 2]), ("<u2", ArrayFixture.bytes([UInt16(7), 0, 2])),
            ("<i2", ArrayFixture.bytes([Int16(7), 0, 2])), ("<u4", ArrayFixture.bytes([UInt32(7), 0, 2])),
            ("<i4", ArrayFixture.bytes([Int32(7), 0, 2])), ("<u8", ArrayFixture.bytes([UInt64(7), 0, 2])),
            ("<i8", ArrayFixture.bytes([Int64(7), 0, 2])), (">i8", ArrayFixture.bytes([Int64(7).bigEndian, 0, Int64(2).bigEndian])),
        ]
        for (descr, payload) in cases {
            let array = try parse(ArrayFixture.npy(descr: descr, shape: [3], payload: payload))
            XCTAssertEqual(try array.labels(classes: nil), [7, 0, 2], descr)
        }
        XCTAssertEqual(try parse(ArrayFixture.npy(descr: "<i2", shape: [3], payload: ArrayFixture.bytes([Int16(7), 0, 2]), version: 2))
            .labels(classes: 8), [7, 0, 2])
    }

    func testRefusesNegativeAndOutOfRangeLabels() throws {
        let negative = try parse(ArrayFixture.npy(descr: "<i8", shape: [3], payload: ArrayFixture.bytes([Int64(1), -4, 2])))
        XCTAssertEqual(ArrayFixture.error { try negative.labels(classes: nil) }?.description,
                       "a.npy: sample 1 (counted from 0) has label -4; expected a non-negative class index below 2³¹")
        let large = try parse(ArrayFixture.npy(descr: "|u1", shape: [3], payload: [1, 4, 9]))
        let error = ArrayFixture.error { try large.labels(classes: 5) }
        XCTAssertEqual(error?.description, "a.npy: sample 2 (counted from 0) has label 9; expected 0..<5 (--classes 5)")
        XCTAssertEqual(error?.exitStatus, .data)
    }

    func testRefusesNonFiniteFeaturesAtTheirFirstIndex() throws {
        let array = try parse(ArrayFixture.npy(descr: "<f4", shape: [2, 1, 3], payload: ArrayFixture.bytes([0, 1, 2, 3, .nan, .infinity] as [Float])))
        XCTAssertEqual(ArrayFixture.error { try array.features() }?.description,
                       "a.npy: feature [1, 0, 1] is nan; expected finite values")
        // A float64 beyond Float's range becomes infinite when rounded: refused too.
        let wide = try parse(ArrayFixture.npy(descr: "<f8", shape: [1, 2], payload: ArrayFixture.bytes([1, 1e300])))
        XCTAssertEqual(ArrayFixture.error { try wide.features() }?.description,
                       "a.npy: feature [0, 1] is inf; expected finite values")
    }

    func testRefusesUnsupportedTypesByName() {
        let cases: [(String, String)] = [
            ("|b1", "a.npy holds elements of dtype '|b1' (boolean); arrays must be one of uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64"),
            ("<c8", "a.npy holds elements of dtype '<c8' (complex); arrays must be one of uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64"),
            ("|O", "a.npy holds elements of dtype '|O' (Python objects); arrays must be one of uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64"),
            ("<U5", "a.npy holds elements of dtype '<U5' (strings); arrays must be one of uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64"),
            ("<f2", "a.npy holds elements of dtype '<f2' (a float of 2 bytes); arrays must be one of uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64"),
        ]
        for (descr, message) in cases {
            XCTAssertEqual(ArrayFixture.error { try parse(ArrayFixture.npy(descr: descr, shape: [1], payload: [0, 0, 0, 0, 0, 0, 0, 0])) }?.description,
                           message, descr)
        }
        let structured = "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }"
        XCTAssertEqual(ArrayFixture.error { try parse(ArrayFixture.npy(descr: "", shape: [], payload: [], header: structured)) }?.description,
                       "a.npy holds elements of a structured dtype; arrays must be one of uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32, float64")
        // int16 features: an integer type this reader keeps for labels only.
        let shorts = try? parse(ArrayFixture.npy(descr: "<i2", shape: [1, 2], payload: [1, 0, 2, 0]))
        XCTAssertEqual(ArrayFixture.error { try shorts?.features() }?.description,
                       "a.npy holds elements of int16; features must be uint8, float32 or float64")
        let floats = try? parse(ArrayFixture.npy(descr: "<f4", shape: [1], payload: [0, 0, 0, 0]))
        XCTAssertEqual(ArrayFixture.error { try floats?.labels(classes: nil) }?.description,
                       "a.npy holds elements of float32; labels must be an integer type")
    }

    func testRefusesFortranOrderWithAHint() {
        let error = ArrayFixture.error { try parse(ArrayFixture.npy(descr: "|u1", shape: [2, 3], fortran: true, payload: Array(0..<6))) }
        XCTAssertEqual(error?.description, "a.npy is a Fortran-order (column-major) array of shape (2, 3); expected C order (row-major)")
        XCTAssertEqual(error?.hint, "save it in C order: np.save(path, np.ascontiguousarray(x))")
        // One dimension is the same in either order.
        XCTAssertNoThrow(try parse(ArrayFixture.npy(descr: "|u1", shape: [3], fortran: true, payload: [1, 2, 3])))
    }

    /// The header is parsed as literals, never evaluated: anything else is refused.
    func testRefusesHeadersThatAreNotPlainLiterals() {
        let headers: [(String, String)] = [
            ("{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (1,), }",
             "a.npy has a malformed header: an unexpected '_' at character 11; expected a literal"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), 'extra': 1, }",
             "a.npy has a malformed header: an unexpected '1' at character 66; expected a literal"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), 'x': 'y', }",
             "a.npy has a malformed header: keys [\"descr\", \"fortran_order\", \"shape\", \"x\"]; expected exactly descr, fortran_order, shape"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (-1,), }",
             "a.npy has a malformed header: an unexpected '-' in the shape at character 52; expected a non-negative integer"),
            ("{'descr': '|u1', 'fortran_order': 0, 'shape': (1,), }",
             "a.npy has a malformed header: an unexpected '0' at character 35; expected a literal"),
            ("{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (1,), }",
             "a.npy has a malformed header: the key 'descr' appears twice"),
            ("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }; import os",
             "a.npy has a malformed header: text after the dictionary at character 58"),
        ]
        for (header, message) in headers {
            XCTAssertEqual(ArrayFixture.error { try parse(ArrayFixture.npy(descr: "", shape: [], payload: [0], header: header)) }?.description,
                           message)
        }
    }

    func testRefusesTruncatedTrailingAndOversizedFiles() {
        let file = ArrayFixture.npy(descr: "<f4", shape: [2, 3], payload: ArrayFixture.bytes([Float](repeating: 1, count: 6)))
        XCTAssertEqual(ArrayFixture.error { try parse(Array(file.dropLast(5))) }?.description,
                       "a.npy is truncated: shape (2, 3) needs 152 bytes, found 147")
        XCTAssertEqual(ArrayFixture.error { try parse(file + [0, 0]) }?.description,
                       "a.npy has 2 trailing bytes: shape (2, 3) needs 152 bytes, found 154")
        XCTAssertEqual(ArrayFixture.error { try parse(Array(file.prefix(30))) }?.description,
                       "a.npy is truncated inside its header: expected at least 128 bytes, found 30")
        // A shape whose byte size overflows Int64 is refused before anything is allocated.
        XCTAssertEqual(ArrayFixture.error { try parse(ArrayFixture.npy(descr: "<f8", shape: [1 << 40, 1 << 40], payload: [])) }?.description,
                       "a.npy declares shape (1099511627776, 1099511627776), more than the 1048576-byte limit")
        XCTAssertEqual(ArrayFixture.error { try parse([]) }?.description,
                       "a.npy is not a .npy file: the file is empty, not \\x93NUMPY")
        XCTAssertEqual(ArrayFixture.error { try parse(Array("PK\u{3}\u{4}xxxxxxxxxx".utf8)) }?.description,
                       "a.npy is not a .npy file: its first bytes are 50 4b 03 04 78 78, not \\x93NUMPY")
    }
}
