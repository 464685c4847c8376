import Foundation

/// Bounds on what the reader accepts, so that a hostile file cannot make it allocate without limit.
public struct CheckpointLimits: Sendable, Equatable {
    /// The largest header, in bytes (the safetensors reference implementation refuses more than
    /// 100 MB too).
    public var maximumHeaderByteCount: Int
    /// The largest file, in bytes; the reader holds at most this much in memory, plus the decoded
    /// tensors (no more than the data section again).
    public var maximumFileByteCount: Int

    public init(maximumHeaderByteCount: Int = 100_000_000, maximumFileByteCount: Int = 1 << 32) {
        precondition(maximumHeaderByteCount > 0 && maximumFileByteCount > 8, "limits \(maximumHeaderByteCount), \(maximumFileByteCount)")
        self.maximumHeaderByteCount = maximumHeaderByteCount
        self.maximumFileByteCount = maximumFileByteCount
    }

    /// 100 MB of header, 4 GiB of file.
    public static let `default` = CheckpointLimits()
}

/// How a checkpoint file is laid out, for `lockstep checkpoint inspect`.
public struct CheckpointLayout: Sendable, Equatable {
    /// The file's size in bytes.
    public let fileByteCount: Int
    /// The header length N (bytes 8..<8+N), padding included.
    public let headerByteCount: Int
    /// The metadata `format_version`.
    public let formatVersion: String
    /// The metadata `data_crc32` (verified).
    public let dataCRC32: UInt32
    /// The metadata `header_crc32` (verified).
    public let headerCRC32: UInt32
    /// Each tensor's byte range within the data section, in `Checkpoint.tensors` order.
    public let dataOffsets: [Range<Int>]
}

/// Reads and fully validates checkpoint files (format: `CheckpointFormat`).
///
/// Either returns a complete `Checkpoint` or throws a `CheckpointError`; it never crashes on a
/// hostile file and allocates at most `limits.maximumFileByteCount` for the file plus the decoded
/// values. Checks, in order: length prefix, header size against the file and the limit, UTF-8,
/// JSON, structure, `format`, `format_version`, checksum spellings, each tensor's dtype, shape
/// (non-negative, no overflow) and offsets (ordered, within limits, matching the shape), the
/// tensors tiling the data section exactly (no overlap, no hole, no truncation, no trailing
/// bytes), the data CRC and the header CRC.
///
/// JSON objects with a duplicated key keep the first value (Foundation's decoder; Python's keeps
/// the last): a duplicated tensor entry then leaves a hole or trailing bytes and is refused, and
/// the header CRC covers the metadata values that were kept.
public enum CheckpointReader {
    /// Reads the checkpoint at `url`. `Checkpoint.source` is set to its path.
    /// - Throws: `CheckpointError` (`.missingInput` status when the file cannot be opened,
    ///   `.data` when it is malformed).
    public static func read(from url: URL, limits: CheckpointLimits = .default) throws -> Checkpoint {
        try readWithLayout(from: url, limits: limits).checkpoint
    }

    /// Reads the checkpoint at `url` and describes its layout.
    public static func readWithLayout(
        from url: URL, limits: CheckpointLimits = .default
    ) throws -> (checkpoint: Checkpoint, layout: CheckpointLayout) {
        let bytes = try POSIXFile.readAll(path: url.path, limit: limits.maximumFileByteCount)
        return try decode(bytes, source: url.path, limits: limits)
    }

    /// The raw bytes of the file at `url`, for `decode` on every rank: rank 0 reads them and
    /// broadcasts them, so a resume works without a shared file system.
    /// - Throws: `CheckpointError` with the `.missingInput` status (absent, unreadable, not a
    ///   regular file), or `.fileTooLarge`.
    public static func readBytes(from url: URL, limits: CheckpointLimits = .default) throws -> [UInt8] {
        try POSIXFile.readAll(path: url.path, limit: limits.maximumFileByteCount)
    }

    /// Decodes a checkpoint held in memory (for example file bytes that rank 0 read and broadcast,
    /// so that every rank decodes the very same bytes). `source` names it in errors.
    public static func decode(
        _ bytes: [UInt8], source: String, limits: CheckpointLimits = .default
    ) throws -> (checkpoint: Checkpoint, layout: CheckpointLayout) {
        try bytes.withUnsafeBytes { try decode(buffer: $0, source: source, limits: limits) }
    }

    // MARK: - Decoding

    static func decode(
        buffer bytes: UnsafeRawBufferPointer, source file: String, limits: CheckpointLimits
    ) throws -> (checkpoint: Checkpoint, layout: CheckpointLayout) {
        guard bytes.count <= limits.maximumFileByteCount else {
            throw CheckpointError.fileTooLarge(file: file, byteCount: bytes.count, limit: limits.maximumFileByteCount)
        }
        guard bytes.count >= 8 else { throw CheckpointError.fileTooShort(file: file, byteCount: bytes.count) }
        let claimedLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard claimedLength <= UInt64(bytes.count - 8) else {
            throw CheckpointError.headerLengthExceedsFile(file: file, headerLength: claimedLength, available: bytes.count - 8)
        }
        let headerLength = Int(claimedLength)
        guard headerLength <= limits.maximumHeaderByteCount else {
            throw CheckpointError.headerTooLarge(file: file, headerLength: headerLength, limit: limits.maximumHeaderByteCount)
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
        let header = try parseHeader(headerBytes, file: file)
        let data = UnsafeRawBufferPointer(rebasing: bytes[(8 + headerLength)...])

        // The format's own metadata.
        var metadata = header.metadata ?? [:]
        let format = metadata.removeValue(forKey: CheckpointFormat.ReservedKey.format)
        guard format == CheckpointFormat.formatName else { throw CheckpointError.wrongFormat(file: file, found: format) }
        guard let version = metadata.removeValue(forKey: CheckpointFormat.ReservedKey.formatVersion) else {
            throw CheckpointError.missingMetadata(file: file, key: CheckpointFormat.ReservedKey.formatVersion)
        }
        guard CheckpointFormat.readableVersions.contains(version) else {
            throw CheckpointError.unsupportedVersion(file: file, found: version)
        }
        let storedHeaderCRC = try checksum(CheckpointFormat.ReservedKey.headerCRC32, in: &metadata, file: file)
        let storedDataCRC = try checksum(CheckpointFormat.ReservedKey.dataCRC32, in: &metadata, file: file)

        // The tensor table: each entry alone, then all of them tiling the data section.
        let entries = try header.entries.map { try validate($0, file: file, limits: limits) }
            .sorted(by: CheckpointFormat.inDataOrder)
        var covered = 0
        var previousName = ""
        for entry in entries {
            if entry.dataOffsets.lowerBound < covered {
                throw CheckpointError.overlappingTensors(
                    file: file, tensor: entry.name, begin: entry.dataOffsets.lowerBound, previous: previousName, previousEnd: covered)
            }
            if entry.dataOffsets.lowerBound > covered {
                throw CheckpointError.gapBetweenTensors(
                    file: file, tensor: entry.name, begin: entry.dataOffsets.lowerBound, expectedBegin: covered)
            }
            covered = entry.dataOffsets.upperBound
            previousName = entry.name
        }
        if covered > data.count {
            throw CheckpointError.truncated(file: file, expectedByteCount: 8 + headerLength + covered, byteCount: bytes.count)
        }
        if covered < data.count {
            throw CheckpointError.trailingData(file: file, dataByteCount: data.count, coveredByteCount: covered)
        }

        // Checksums: the data, then the header's parsed contents.
        let dataCRC = CheckpointFormat.crc32(data)
        guard dataCRC == storedDataCRC else {
            throw CheckpointError.dataChecksumMismatch(file: file, stored: storedDataCRC, computed: dataCRC)
        }
        var digestMetadata = header.metadata ?? [:]
        digestMetadata.removeValue(forKey: CheckpointFormat.ReservedKey.headerCRC32)
        let headerCRC = CheckpointFormat.headerChecksum(entries: entries, metadata: digestMetadata)
        guard headerCRC == storedHeaderCRC else {
            throw CheckpointError.headerChecksumMismatch(file: file, stored: storedHeaderCRC, computed: headerCRC)
        }

        let tensors = entries.map { entry in
            CheckpointTensor(
                name: entry.name, shape: entry.shape,
                values: floats(UnsafeRawBufferPointer(rebasing: data[entry.dataOffsets])))
        }
        let layout = CheckpointLayout(
            fileByteCount: bytes.count, headerByteCount: headerLength, formatVersion: version,
            dataCRC32: dataCRC, headerCRC32: headerCRC, dataOffsets: entries.map(\.dataOffsets))
        return (Checkpoint(tensors: tensors, metadata: metadata, source: file), layout)
    }

    /// Checks that the header is a UTF-8 JSON object and parses it.
    static func parseHeader(_ bytes: UnsafeRawBufferPointer, file: String) throws -> RawHeader {
        guard bytes.first == UInt8(ascii: "{") else {
            throw CheckpointError.headerNotJSON(
                file: file, reason: bytes.isEmpty ? "the header is empty" : "the header does not start with \"{\"")
        }
        if let offset = firstInvalidUTF8Offset(bytes) {
            throw CheckpointError.headerNotUTF8(file: file, byteOffset: 8 + offset)
        }
        do {
            return try JSONHeaderDecoding.decode(Data(bytes))
        } catch {
            switch error {
            case let .notJSON(reason): throw CheckpointError.headerNotJSON(file: file, reason: reason)
            case let .wrongStructure(reason): throw CheckpointError.invalidHeader(file: file, reason: reason)
            }
        }
    }

    /// The byte offset of the first invalid UTF-8 sequence, or nil.
    static func firstInvalidUTF8Offset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case let .scalarValue(scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// Removes `key` from `metadata` and parses it as a checksum.
    static func checksum(_ key: String, in metadata: inout [String: String], file: String) throws -> UInt32 {
        guard let text = metadata.removeValue(forKey: key) else {
            throw CheckpointError.missingMetadata(file: file, key: key)
        }
        guard let value = CheckpointFormat.parseChecksum(text) else {
            throw CheckpointError.invalidMetadata(file: file, key: key, value: text, expected: "8 lowercase hex digits")
        }
        return value
    }

    /// Checks one tensor entry on its own: dtype, shape, offsets.
    static func validate(
        _ entry: RawTensorEntry, file: String, limits: CheckpointLimits
    ) throws -> CheckpointFormat.DigestEntry {
        let name = entry.name
        guard entry.dataType == CheckpointFormat.float32DataType else {
            throw CheckpointError.unsupportedDataType(file: file, tensor: name, dataType: entry.dataType)
        }
        let shapeText = "[" + entry.shape.map(\.description).joined(separator: ", ") + "]"
        var shape: [Int] = []
        for dimension in entry.shape {
            guard case let .integer(value) = dimension else {
                throw CheckpointError.invalidShape(file: file, tensor: name, shape: shapeText, reason: "\(dimension) is not an integer")
            }
            guard value >= 0 else {
                throw CheckpointError.invalidShape(file: file, tensor: name, shape: shapeText, reason: "dimension \(value) is negative")
            }
            shape.append(value)
        }
        let elementCount = CheckpointTensor.elementCount(of: shape)
        guard let elementCount, elementCount <= limits.maximumFileByteCount / CheckpointFormat.elementByteCount else {
            throw CheckpointError.invalidShape(
                file: file, tensor: name, shape: shapeText,
                reason: (elementCount.map { "\($0) elements are" } ?? "the element count overflows and is")
                    + " more than a file within the limit of \(limits.maximumFileByteCount) bytes holds")
        }
        let offsetsText = "[" + entry.dataOffsets.map(\.description).joined(separator: ", ") + "]"
        guard entry.dataOffsets.count == 2 else {
            throw CheckpointError.invalidOffsets(
                file: file, tensor: name, offsets: offsetsText, reason: "expected [begin, end], found \(entry.dataOffsets.count) numbers")
        }
        guard case let .integer(begin) = entry.dataOffsets[0], case let .integer(end) = entry.dataOffsets[1] else {
            throw CheckpointError.invalidOffsets(file: file, tensor: name, offsets: offsetsText, reason: "offsets must be integers")
        }
        guard begin >= 0, begin <= end else {
            throw CheckpointError.invalidOffsets(
                file: file, tensor: name, offsets: offsetsText, reason: "expected 0 ≤ begin ≤ end")
        }
        guard end <= limits.maximumFileByteCount else {
            throw CheckpointError.offsetsOutsideData(
                file: file, tensor: name, begin: begin, end: end, limit: limits.maximumFileByteCount)
        }
        let byteCount = elementCount * CheckpointFormat.elementByteCount
        guard byteCount == end - begin else {
            throw CheckpointError.sizeMismatch(
                file: file, tensor: name, shape: shape, expectedByteCount: byteCount, foundByteCount: end - begin)
        }
        return .init(name: name, dataType: entry.dataType, shape: shape, dataOffsets: begin..<end)
    }

    /// Little-endian float32 bytes as `Float`s.
    static func floats(_ bytes: UnsafeRawBufferPointer) -> [Float] {
        let count = bytes.count / CheckpointFormat.elementByteCount
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0..<count {
                let bits = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
                buffer[index] = Float(bitPattern: bits)
            }
            initialized = count
        }
    }
}
