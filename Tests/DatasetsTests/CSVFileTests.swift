@testable import Datasets
import XCTest

/// CSV data: a header detected or set, CRLF, a byte-order mark, the label column by number or
/// name, both cell types, and every refusal with its line and column.
final class CSVFileTests: XCTestCase {
    private func parse(
        _ text: String, header: CSVFile.Header = .auto, cellType: CSVFile.CellType = .float32, labelColumn: String? = nil
    ) throws -> (features: NumericArray, labels: NumericArray) {
        try CSVFile.parse(Array(text.utf8), path: "d.csv", header: header, cellType: cellType, labelColumn: labelColumn)
    }

    func testReadsAHeaderCRLFAndANamedLabelColumn() throws {
        let text = "\u{FEFF}f0,label,\"f1\"\r\n0.5,2,-1e3\r\n 3 ,0,4.25\r\n\r\n"
        let (features, labels) = try parse(text, labelColumn: "label")
        XCTAssertEqual(features.shape, [2, 2])
        XCTAssertEqual(try features.features(), .floats([0.5, -1000, 3, 4.25]))
        XCTAssertEqual(try labels.labels(classes: nil), [2, 0])
        XCTAssertEqual(try parse(text, labelColumn: "2").labels.labels(classes: nil), [2, 0])
    }

    func testWithoutAHeaderTheFirstColumnIsTheLabel() throws {
        let (features, labels) = try parse("1,0,255\n0,7,8", cellType: .uint8)
        XCTAssertEqual(try features.features(), .bytes([0, 255, 7, 8]))
        XCTAssertEqual(try labels.labels(classes: nil), [1, 0])
        // Forced: a header of numbers is skipped with --csv-header yes.
        XCTAssertEqual(try parse("1,0,255\n0,7,8", header: .yes, cellType: .uint8).labels.labels(classes: nil), [0])
    }

    func testRefusals() {
        let cases: [(() throws -> Any, String)] = [
            ({ try self.parse("") }, "d.csv holds no data rows"),
            ({ try self.parse("label,a,b\n") }, "d.csv holds no data rows"),
            ({ try self.parse("1,2,3\n4,5\n") }, "d.csv:2: 2 columns; expected 3, as the first row"),
            ({ try self.parse("1,2,3\n4,5,6,7\n") }, "d.csv:2: 4 columns; expected 3, as the first row"),
            ({ try self.parse("y,a\n1,2\n1,x2\n") }, "d.csv:3: column 2 is \"x2\"; expected a number"),
            ({ try self.parse("y,a\n1,nan\n") }, "d.csv:2: column 2 is \"nan\"; expected a number"),
            ({ try self.parse("y,a\n1.5,2\n") }, "d.csv:2: column 1 is \"1.5\"; expected a non-negative integer class label"),
            ({ try self.parse("y,a\n-1,2\n") }, "d.csv:2: column 1 is \"-1\"; expected a non-negative integer class label"),
            ({ try self.parse("1,256\n", cellType: .uint8) }, "d.csv:1: column 2 is \"256\"; expected an integer 0…255 (--csv-dtype uint8)"),
            ({ try self.parse("1,2.5\n", cellType: .uint8) }, "d.csv:1: column 2 is \"2.5\"; expected an integer 0…255 (--csv-dtype uint8)"),
            ({ try self.parse("1,1e39\n") }, "d.csv:1: column 2 is \"1e39\"; expected a finite number within float32's range"),
            ({ try self.parse("a,b\n1,2\n", labelColumn: "label") }, "--label-column label is not a column of d.csv; its header holds: a, b"),
            ({ try self.parse((0..<20).map { "c\($0)" }.joined(separator: ",") + "\n" + Array(repeating: "1", count: 20).joined(separator: ",") + "\n",
                              labelColumn: "label") },
             "--label-column label is not a column of d.csv; its header holds: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, … (20 columns)"),
            ({ try self.parse("1,2\n", labelColumn: "label") }, "--label-column label: d.csv has no header row to find a column name in"),
            ({ try self.parse("1,2\n", labelColumn: "3") }, "--label-column 3 is not a column of d.csv, which has 2 (counted from 1)"),
            ({ try self.parse("1,2\n", labelColumn: "0") }, "--label-column 0 is not a column of d.csv, which has 2 (counted from 1)"),
        ]
        for (body, message) in cases {
            XCTAssertEqual(ArrayFixture.error(body)?.description, message)
        }
        XCTAssertEqual(ArrayFixture.error { try self.parse("1,2\n", labelColumn: "label") }?.exitStatus, .usage)
    }
}
