import CZip

/// numpy's `.npz` archives (`np.savez`, `np.savez_compressed`): a zip archive (zip64 included)
/// of `.npy` members, one per array, `name.npy`. Read through libzip, which checks each
/// member's CRC-32 as it is inflated.
///
/// A member is read in two steps, so that a hostile archive cannot make the reader inflate
/// without limit: first its NPY header, which declares the array's shape; then exactly the
/// bytes that shape needs, plus one to prove that nothing follows. A member whose zip entry
/// declares another size than its header, or that inflates beyond it, is refused.
final class NPZFile {
    let path: String
    private let archive: OpaquePointer
    /// The members' array names (`x_train` for `x_train.npy`), in archive order.
    let names: [String]

    /// Opens the archive at `path`.
    /// - Throws: `DatasetError.missingFile` / `.unreadableFile` / `.fileTooLarge`,
    ///   `DataFileError.notTheFormat` (not a zip archive), `.corruptArchive`.
    init(path: String, limit: Int) throws {
        // The same checks as every other data file first: missing, unreadable, not regular, too large.
        try FileReading.checkRegularFile(path, limit: limit)
        var code: Int32 = 0
        guard let archive = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code) else {
            var error = zip_error_t()
            zip_error_init_with_code(&error, code)
            defer { zip_error_fini(&error) }
            let message = String(cString: zip_error_strerror(&error)).lowercased()
            if code == ZIP_ER_NOZIP { throw DataFileError.notTheFormat(path: path, format: ".npz (zip)", found: message) }
            throw DataFileError.corruptArchive(source: path, message: message)
        }
        self.path = path
        self.archive = archive
        let count = max(zip_get_num_entries(archive, 0), 0)
        names = (0..<count).compactMap { index in
            guard let name = zip_get_name(archive, zip_uint64_t(index), 0) else { return nil }
            let text = String(cString: name)
            return text.hasSuffix(".npy") ? String(text.dropLast(4)) : text
        }
    }

    deinit { zip_discard(archive) }

    /// True when the archive holds the array `name`.
    func contains(_ name: String) -> Bool { zip_name_locate(archive, name + ".npy", 0) >= 0 }

    /// The array `name` (member `name.npy`), checked.
    /// - Throws: `DataFileError.missingArray` (listing the arrays it has), `.corruptArchive`,
    ///   `.inflatesBeyondDeclaredSize`, and every `NPYFile.parse` error.
    func array(_ name: String, limit: Int) throws -> NumericArray {
        let source = "\(path):\(name)"
        let index = zip_name_locate(archive, name + ".npy", 0)
        guard index >= 0 else { throw DataFileError.missingArray(path: path, name: name, available: names) }
        var status = zip_stat_t()
        zip_stat_init(&status)
        guard zip_stat_index(archive, zip_uint64_t(index), 0, &status) == 0, status.valid & UInt64(ZIP_STAT_SIZE) != 0 else {
            throw DataFileError.corruptArchive(source: source, message: archiveError())
        }
        let declared = status.size
        guard let file = zip_fopen_index(archive, zip_uint64_t(index), 0) else {
            throw DataFileError.corruptArchive(source: source, message: archiveError())
        }
        defer { zip_fclose(file) }
        /// Appends up to `count` more bytes to `bytes`; fewer only at the member's end.
        func read(_ count: Int, into bytes: inout [UInt8]) throws {
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: count))
            var filled = 0
            while filled < count {
                let got = bytes.withUnsafeMutableBytes { zip_fread(file, $0.baseAddress! + start + filled, zip_uint64_t(count - filled)) }
                if got < 0 {
                    throw DataFileError.corruptArchive(source: source, message: String(cString: zip_error_strerror(zip_file_get_error(file))).lowercased())
                }
                if got == 0 { break }
                filled += Int(got)
            }
            bytes.removeLast(count - filled)
        }
        // The header first: at most its own limit and the fixed prefix.
        var bytes: [UInt8] = []
        try read(Int(min(declared, UInt64(NPYFile.maximumHeaderByteCount + 12))), into: &bytes)
        let header = try NPYFile.parseHeader(bytes, source: source, limit: limit)
        guard declared == UInt64(header.totalByteCount) else {
            if declared < UInt64(header.totalByteCount) {
                throw DataFileError.truncated(source: source, shape: header.shape, expectedBytes: header.totalByteCount,
                                              foundBytes: Int(declared))
            }
            throw DataFileError.trailingBytes(source: source, shape: header.shape, expectedBytes: header.totalByteCount,
                                              foundBytes: declared > UInt64(Int.max) ? Int.max : Int(declared))
        }
        bytes.reserveCapacity(header.totalByteCount + 1)
        try read(header.totalByteCount + 1 - bytes.count, into: &bytes)
        guard bytes.count <= header.totalByteCount else {
            throw DataFileError.inflatesBeyondDeclaredSize(source: source, declaredBytes: header.totalByteCount)
        }
        return try NPYFile.parse(bytes, source: source, limit: limit)
    }

    private func archiveError() -> String { String(cString: zip_error_strerror(zip_get_error(archive))).lowercased() }
}
