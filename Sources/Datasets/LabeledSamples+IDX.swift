/// Loading IDX files (the MNIST family).
extension LabeledSamples {
    /// The largest IDX file accepted, on disk and decompressed, in bytes (1 GiB; the IDX reader
    /// needs less than 2³¹).
    public static let maximumIDXByteCount = 1 << 30

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
        limitFlag: String = "--limit", maximumByteCount: Int = maximumIDXByteCount
    ) throws -> LabeledSamples {
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
        return LabeledSamples(
            rows: rows, columns: columns, classCount: classCount, pixels: pixels,
            labels: Array(labels.bytes[labels.dataOffset..<(labels.dataOffset + count)]))
    }
}
