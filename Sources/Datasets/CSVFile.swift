/// A data set in a CSV file: one sample a row, comma-separated numbers, the label in one column
/// (the first unless `--label-column`), an optional header row of names. LF or CRLF line
/// endings, an optional UTF-8 byte-order mark, and a last line with or without its line break.
/// Cells may be surrounded by spaces or double quotes; there is no quoting of commas (the cells
/// are numbers).
public enum CSVFile {
    /// Whether the first row names the columns (`--csv-header`).
    public enum Header: String, Sendable, Codable, CaseIterable {
        /// A header when any cell of the first row is not a number.
        case auto
        case yes
        case no
    }

    /// How the feature cells are read (`--csv-dtype`).
    public enum CellType: String, Sendable, Codable, CaseIterable {
        /// Integers 0…255 (pixels): normalised like `uint8` arrays.
        case uint8
        /// Any finite number, rounded to `Float`.
        case float32
    }

    /// The features `[rows, columns − 1]` and the labels `[rows]` of the file at `path`.
    /// - Parameters:
    ///   - labelColumn: a column number (from 1, as in the error messages) or a header name; nil
    ///     for the first column.
    /// - Throws: `DatasetError` (missing, unreadable, too large), `DataFileError`: `.emptyFile`,
    ///   `.labelColumnNotFound`, `.raggedRow`, `.badCell` (line numbers from 1, columns from 1).
    public static func read(
        path: String, header: Header, cellType: CellType, labelColumn: String?, limit: Int
    ) throws -> (features: NumericArray, labels: NumericArray) {
        let bytes = try FileReading.contents(of: path, limit: limit)
        return try parse(bytes, path: path, header: header, cellType: cellType, labelColumn: labelColumn)
    }

    static func parse(
        _ bytes: [UInt8], path: String, header: Header, cellType: CellType, labelColumn: String?
    ) throws(DataFileError) -> (features: NumericArray, labels: NumericArray) {
        var lines = Lines(bytes)
        guard let first = lines.next() else { throw .emptyFile(path: path) }
        let firstCells = first.cells.map { String(decoding: $0, as: UTF8.self) }
        let hasHeader = switch header {
        case .yes: true
        case .no: false
        case .auto: firstCells.contains { Self.number($0.utf8.map { $0 }[...]) == nil }
        }
        let names = hasHeader ? firstCells.map { $0.trimmingQuotes } : nil
        let columns = firstCells.count
        let labelIndex: Int
        switch labelColumn {
        case nil: labelIndex = 0
        case let text? where Int(text) != nil:
            guard let n = Int(text), (1...columns).contains(n) else {
                throw .labelColumnOutOfRange(path: path, column: Int(text) ?? 0, columns: columns)
            }
            labelIndex = n - 1
        case let name?:
            guard let names, let n = names.firstIndex(of: name) else {
                throw .labelColumnNotFound(path: path, labelColumn: name, header: names)
            }
            labelIndex = n
        }
        var featureBytes: [UInt8] = [], featureFloats: [Float] = [], labels: [Int64] = []
        var row = hasHeader ? lines.next() : first
        while let current = row {
            let lineNumber = current.number
            var column = 0
            var cells = 0
            for cell in current.cells {
                cells += 1
                guard cells <= columns else { break }
                let text = cell
                guard let value = Self.number(text) else {
                    throw .badCell(path: path, line: lineNumber, column: column + 1, text: String(decoding: text, as: UTF8.self),
                                   expected: column == labelIndex ? "an integer class label" : "a number")
                }
                if column == labelIndex {
                    guard value.rounded() == value, value >= 0, value < Double(Int32.max) else {
                        throw .badCell(path: path, line: lineNumber, column: column + 1, text: String(decoding: text, as: UTF8.self),
                                       expected: "a non-negative integer class label")
                    }
                    labels.append(Int64(value))
                } else if cellType == .uint8 {
                    guard value.rounded() == value, (0...255).contains(value) else {
                        throw .badCell(path: path, line: lineNumber, column: column + 1, text: String(decoding: text, as: UTF8.self),
                                       expected: "an integer 0…255 (--csv-dtype uint8)")
                    }
                    featureBytes.append(UInt8(value))
                } else {
                    let single = Float(value)
                    guard single.isFinite else {
                        throw .badCell(path: path, line: lineNumber, column: column + 1, text: String(decoding: text, as: UTF8.self),
                                       expected: "a finite number within float32's range")
                    }
                    featureFloats.append(single)
                }
                column += 1
            }
            guard cells == columns else { throw .raggedRow(path: path, line: lineNumber, expected: columns, found: cells) }
            row = lines.next()
        }
        guard !labels.isEmpty else { throw .emptyFile(path: path) }
        let rows = labels.count
        let features = cellType == .uint8
            ? NumericArray(source: path, elementType: .uint8, shape: [rows, columns - 1], bytes: featureBytes)
            : NumericArray(source: path, elementType: .float32, shape: [rows, columns - 1],
                           bytes: featureFloats.withUnsafeBytes { Array($0) })
        let labelArray = NumericArray(source: path, elementType: .int64, shape: [rows],
                                      bytes: labels.map(\.littleEndian).withUnsafeBytes { Array($0) })
        return (features, labelArray)
    }

    /// A cell's number: digits fast, anything else through `Double`'s parser; nil when it is
    /// not a number (surrounding spaces and double quotes ignored).
    static func number(_ raw: ArraySlice<UInt8>) -> Double? {
        var cell = raw
        while let c = cell.first, c == 0x20 || c == 0x09 || c == 0x22 { cell.removeFirst() }
        while let c = cell.last, c == 0x20 || c == 0x09 || c == 0x22 { cell.removeLast() }
        guard !cell.isEmpty else { return nil }
        if cell.count <= 9, cell.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            return Double(cell.reduce(0) { $0 * 10 + Int($1 - 0x30) })
        }
        let text = String(decoding: cell, as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            // "nan", "inf" and the like are refused as not finite numbers, like text.
            return nil
        }
        return value
    }

    /// The lines of a file, without their line breaks (LF or CRLF), numbered from 1; a UTF-8
    /// byte-order mark is skipped, and empty lines are skipped only at the end of the file.
    struct Lines {
        let bytes: [UInt8]
        /// Just past the last byte that is not a line break or a space.
        let contentEnd: Int
        var position = 0
        var number = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
            contentEnd = (bytes.lastIndex { $0 != 0x0A && $0 != 0x0D && $0 != 0x20 } ?? -1) + 1
        }

        struct Line {
            let number: Int
            let text: ArraySlice<UInt8>
            /// The comma-separated cells.
            var cells: [ArraySlice<UInt8>] { text.split(separator: 0x2C, omittingEmptySubsequences: false) }
        }

        mutating func next() -> Line? {
            if position >= contentEnd { return nil }  // only empty lines are left
            number += 1
            let end = bytes[position...].firstIndex(of: 0x0A) ?? bytes.count
            var text = bytes[position..<end]
            if text.last == 0x0D { text.removeLast() }
            position = min(end + 1, bytes.count)
            return Line(number: number, text: text)
        }
    }
}

private extension String {
    var trimmingQuotes: String {
        var text = Substring(self)
        while let c = text.first, c == " " || c == "\"" { text.removeFirst() }
        while let c = text.last, c == " " || c == "\"" { text.removeLast() }
        return String(text)
    }
}
