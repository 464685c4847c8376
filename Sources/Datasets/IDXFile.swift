/// One IDX file of unsigned bytes, checked and held in memory.
///
/// The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/, used unchanged by
/// Fashion-MNIST): two zero bytes, an element type byte (`0x08` = unsigned byte), a dimension
/// count byte, that many big-endian `UInt32` dimensions, then the elements in row-major order.
/// A file whose name ends in `.gz` is gzip-decompressed first.
struct IDXFile {
    /// The element type this reader accepts: unsigned byte.
    static let unsignedByteType: UInt8 = 0x08

    let path: String
    /// The dimensions, outermost first (e.g. `[60000, 28, 28]`).
    let dimensions: [Int]
    /// The whole decompressed file; the elements start at `dataOffset`.
    let bytes: [UInt8]
    let dataOffset: Int

    /// Reads and checks the IDX file at `path`.
    ///
    /// - Parameters:
    ///   - dimensionCount: the number of dimensions the caller needs (3 for images, 1 for labels).
    ///   - limit: the largest accepted size in bytes, on disk and decompressed.
    /// - Throws: `DatasetError`: the file-reading and gzip cases, then `.truncatedHeader`,
    ///   `.wrongMagic`, `.unsupportedElementType`, `.wrongDimensionCount`, `.emptyDimension`,
    ///   `.declaredSizeTooLarge`, `.truncatedData`, `.trailingBytes`, in that order of checking.
    static func read(path: String, dimensionCount: Int, limit: Int) throws -> IDXFile {
        var bytes = try FileReading.contents(of: path, limit: limit)
        if path.hasSuffix(".gz") {
            bytes = try Gzip.decompress(bytes, path: path, limit: limit)
        }
        return try IDXFile(path: path, bytes: bytes, dimensionCount: dimensionCount, limit: limit)
    }

    /// Parses and checks already decompressed bytes (see `read`).
    init(path: String, bytes: [UInt8], dimensionCount: Int, limit: Int) throws {
        guard bytes.count >= 4 else {
            if bytes.count >= 2, bytes[0] != 0 || bytes[1] != 0 {
                throw DatasetError.wrongMagic(path: path, foundBytes: Array(bytes.prefix(2)))
            }
            throw DatasetError.truncatedHeader(path: path, expectedBytes: 4, foundBytes: bytes.count)
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DatasetError.wrongMagic(path: path, foundBytes: Array(bytes.prefix(2)))
        }
        guard bytes[2] == Self.unsignedByteType else {
            throw DatasetError.unsupportedElementType(path: path, found: bytes[2])
        }
        guard Int(bytes[3]) == dimensionCount else {
            throw DatasetError.wrongDimensionCount(path: path, expected: dimensionCount, found: Int(bytes[3]))
        }
        let headerSize = 4 + 4 * dimensionCount
        guard bytes.count >= headerSize else {
            throw DatasetError.truncatedHeader(path: path, expectedBytes: headerSize, foundBytes: bytes.count)
        }
        let dimensions = (0..<dimensionCount).map { index in
            bytes[(4 + 4 * index)..<(8 + 4 * index)].reduce(0) { $0 << 8 | Int($1) }  // big-endian UInt32
        }
        guard !dimensions.contains(0) else {
            throw DatasetError.emptyDimension(path: path, dimensions: dimensions)
        }
        // The running product is at most `limit` (< 2³¹) before each multiplication by a dimension
        // (< 2³²), so it cannot overflow before the check stops it.
        precondition(limit < 1 << 31, "IDX size limit \(limit) must stay below 2³¹")
        var elementCount = 1
        for dimension in dimensions {
            elementCount *= dimension
            guard elementCount <= limit - headerSize else {
                throw DatasetError.declaredSizeTooLarge(path: path, dimensions: dimensions, limit: limit)
            }
        }
        let expected = headerSize + elementCount
        guard bytes.count >= expected else {
            throw DatasetError.truncatedData(
                path: path, dimensions: dimensions, expectedBytes: expected, foundBytes: bytes.count)
        }
        guard bytes.count == expected else {
            throw DatasetError.trailingBytes(
                path: path, dimensions: dimensions, expectedBytes: expected, foundBytes: bytes.count)
        }
        self.path = path
        self.dimensions = dimensions
        self.bytes = bytes
        self.dataOffset = headerSize
    }
}
