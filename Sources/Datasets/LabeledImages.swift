import CZlib

/// A set of greyscale images with one class label each, pixels kept as bytes in memory
/// (normalised to `Float` in [0, 1] per batch by `fillBatch`).
///
/// Any image size is accepted: `featureCount = rows × columns` sets the model's input width
/// (Fashion-MNIST's is 28 × 28 = 784).
public struct LabeledImages: Sendable {
    /// The largest dataset file accepted, on disk and decompressed, in bytes (1 GiB): a hostile or
    /// damaged file cannot make a rank allocate more.
    public static let maximumFileByteCount = 1 << 30

    /// Number of samples.
    public let count: Int
    /// Image height in pixels.
    public let rows: Int
    /// Image width in pixels.
    public let columns: Int
    /// Number of classes; every label is in `0..<classCount`.
    public let classCount: Int
    /// Pixel intensities 0...255, row-major `[count, featureCount]` (each image row-major `[rows, columns]`).
    public let pixels: [UInt8]
    /// Class labels, `[count]`.
    public let labels: [UInt8]
    /// CRC-32 (zlib `crc32`, the gzip/PNG polynomial) of the `count` label bytes; ranks compare it
    /// at start-up to agree on the dataset.
    public let labelChecksum: UInt32

    /// Pixels per image: `rows × columns`.
    public var featureCount: Int { rows * columns }

    /// Wraps in-memory data (for tests and synthetic datasets). Shapes and label values are the
    /// caller's responsibility: a mismatch is a precondition failure, not a thrown error.
    public init(rows: Int, columns: Int, classCount: Int, pixels: [UInt8], labels: [UInt8]) {
        precondition(rows > 0 && columns > 0, "image size \(rows) × \(columns) must be positive")
        precondition((1...256).contains(classCount), "class count \(classCount) must be in 1...256")
        precondition(
            pixels.count == labels.count * rows * columns,
            "\(pixels.count) pixels for \(labels.count) labels of \(rows) × \(columns)")
        if let bad = labels.firstIndex(where: { Int($0) >= classCount }) {
            preconditionFailure("label \(bad) is \(labels[bad]), not below the class count \(classCount)")
        }
        self.count = labels.count
        self.rows = rows
        self.columns = columns
        self.classCount = classCount
        self.pixels = pixels
        self.labels = labels
        let crc = labels.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        self.labelChecksum = UInt32(truncatingIfNeeded: crc)  // zlib's uLong holds a 32-bit CRC
    }

    /// Loads an IDX image file (3 dimensions: count, rows, columns) and its IDX label file
    /// (1 dimension: count), each gzip-compressed when its name ends in `.gz`, else raw.
    ///
    /// Both files are checked in full (also the labels beyond `limit`); then the first `limit`
    /// samples are kept.
    /// - Parameters:
    ///   - classCount: labels must lie in `0..<classCount`.
    ///   - limit: use only the first `limit` samples; nil for all. A limit larger than the files is
    ///     an error, not silently clamped: the run would otherwise be smaller than asked.
    ///   - limitFlag: the flag `limit` came from, named in errors (`--limit-train`).
    ///   - maximumByteCount: the largest accepted file size, on disk and decompressed, in bytes
    ///     (below 2³¹; tests lower it to show the cap firing).
    /// - Throws: `DatasetError`: `.invalidLimit` (limit ≤ 0), every file case of either file,
    ///   `.countMismatch`, `.labelOutOfRange`, `.limitExceedsSampleCount`.
    public static func load(
        imagesPath: String, labelsPath: String, classCount: Int, limit: Int? = nil,
        limitFlag: String = "--limit", maximumByteCount: Int = maximumFileByteCount
    ) throws -> LabeledImages {
        if let limit, limit <= 0 { throw DatasetError.invalidLimit(flag: limitFlag, value: limit) }
        let images = try IDXFile.read(path: imagesPath, dimensionCount: 3, limit: maximumByteCount)
        let labels = try IDXFile.read(path: labelsPath, dimensionCount: 1, limit: maximumByteCount)
        let fileCount = images.dimensions[0]
        guard labels.dimensions[0] == fileCount else {
            throw DatasetError.countMismatch(
                imagesPath: imagesPath, imageCount: fileCount, labelsPath: labelsPath, labelCount: labels.dimensions[0])
        }
        if let bad = labels.bytes[labels.dataOffset...].firstIndex(where: { Int($0) >= classCount }) {
            throw DatasetError.labelOutOfRange(
                path: labelsPath, index: bad - labels.dataOffset, value: labels.bytes[bad], classCount: classCount)
        }
        let count = limit ?? fileCount
        guard count <= fileCount else {
            throw DatasetError.limitExceedsSampleCount(
                flag: limitFlag, limit: count, sampleCount: fileCount, path: imagesPath)
        }
        let rows = images.dimensions[1], columns = images.dimensions[2]
        let pixelStart = images.dataOffset
        // The file's own buffer becomes the pixels, trimmed in place: no second copy of the
        // images (47 MB for Fashion-MNIST) at the peak of loading.
        var pixels = (consume images).bytes
        pixels.removeSubrange((pixelStart + count * rows * columns)...)
        pixels.removeSubrange(..<pixelStart)
        return LabeledImages(
            rows: rows, columns: columns, classCount: classCount, pixels: pixels,
            labels: Array(labels.bytes[labels.dataOffset..<(labels.dataOffset + count)]))
    }
}
