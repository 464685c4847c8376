internal import CZlib

/// The on-disk layout of a Lockstep checkpoint, versions 1 and 2 (the same layout): a safetensors file
/// (https://github.com/huggingface/safetensors) that the standard `safetensors` Python package
/// and numpy read as is.
///
/// ```
/// bytes 0..<8        N, the header length in bytes, UInt64 little-endian
/// bytes 8..<8+N      the header: UTF-8 JSON object, padded with spaces (0x20) so that 8+N is a
///                    multiple of 8 (the writer always pads; the reader accepts any N, because it
///                    copies values out with unaligned loads and unpadded files are still valid
///                    safetensors, e.g. those MLX writes)
/// bytes 8+N..<end    the data section: every tensor's values, little-endian IEEE-754 float32,
///                    row-major, contiguous without holes or overlaps, in the order the writer was
///                    given them
/// ```
/// Header object: one entry per tensor, `"name": {"dtype": "F32", "shape": [d0, d1, …],
/// "data_offsets": [begin, end]}` (byte offsets relative to the data section start, `end − begin
/// = 4 · d0 · d1 · …`; no other fields), plus `"__metadata__": {String: String}`. Structured values
/// (configuration, RNG state, …) are JSON encoded into those strings by the caller. Reserved
/// metadata keys, written by `CheckpointWriter` and checked by `CheckpointReader`:
///
/// | key | value |
/// |---|---|
/// | `format` | `lockstep-checkpoint` |
/// | `format_version` | `2` (this build writes; it reads `1` too) |
/// | `data_crc32` | CRC-32 (zlib `crc32`, the ISO-HDLC/PKZIP polynomial) of the whole data section, 8 lowercase hex digits |
/// | `header_crc32` | CRC-32 of the canonical header digest input (below), 8 lowercase hex digits |
///
/// `header_crc32` protects what the data CRC cannot: a flipped byte inside a metadata value (a
/// global step of 123 read as 133) or inside a tensor's shape. Its input is a byte string built
/// from the parsed header, so that it does not depend on JSON spelling (key order, spaces,
/// escapes): the concatenation of `record(s) = UInt64-LE(byte count of s) ++ UTF-8(s)` over
/// 1. `record("tensors")`, `record(decimal tensor count)`, then for each tensor in ascending order
///    of (begin, end, name's UTF-8 bytes), which is data order, `record(name)`, `record(dtype)`,
///    `record(shape dims in decimal joined by ",")`, `record(decimal begin)`, `record(decimal end)`;
/// 2. `record("metadata")`, `record(decimal count of metadata entries other than header_crc32)`,
///    then for each of those entries in ascending order of the key's UTF-8 bytes `record(key)`,
///    `record(value)`.
/// `scripts/checkpoint_interop.py` computes both checksums independently.
public enum CheckpointFormat {
    /// The value of the `format` metadata key.
    public static let formatName = "lockstep-checkpoint"
    /// The value of the `format_version` metadata key this build writes.
    public static let version = "2"
    /// The versions this build reads. The layout of the file is the same in both; they differ in
    /// what the trainer names its tensors (version 1: the MLP's `layers.{k}.*`; version 2:
    /// `torch.nn.Sequential`'s `{position}.*`), which `Training` maps.
    public static let readableVersions = ["1", "2"]
    /// The safetensors name of the only element type: little-endian IEEE-754 float32.
    public static let float32DataType = "F32"
    /// The key of the metadata object in the safetensors header.
    public static let metadataKey = "__metadata__"

    /// Metadata keys owned by the format; callers' metadata may not use them.
    public enum ReservedKey {
        public static let format = "format"
        public static let formatVersion = "format_version"
        public static let dataCRC32 = "data_crc32"
        public static let headerCRC32 = "header_crc32"
        public static let all: Set<String> = [format, formatVersion, dataCRC32, headerCRC32]
    }

    /// Bytes per element of `F32`.
    static let elementByteCount = 4
    /// The header is padded so that the data section starts at a multiple of this many bytes.
    static let headerAlignment = 8

    // MARK: - Checksums

    /// zlib's CRC-32 of `bytes` (check value: "123456789" gives 0xCBF43926).
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CZlib.crc32(0, nil, 0)
        var offset = 0
        while offset < bytes.count {  // zlib takes a 32-bit length: feed it in chunks
            let chunk = min(bytes.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, uInt(chunk))
            offset += chunk
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// The metadata spelling of a checksum: 8 lowercase hex digits.
    public static func checksumString(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// Parses `checksumString`'s spelling; nil for anything else (upper case, other lengths).
    static func parseChecksum(_ text: String) -> UInt32? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 8,
            utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) })
        else { return nil }
        return UInt32(text, radix: 16)
    }

    /// One tensor's entry as the header digest sees it.
    struct DigestEntry {
        let name: String
        let dataType: String
        let shape: [Int]
        let dataOffsets: Range<Int>
    }

    /// Data order: by offsets, then (for empty tensors sharing an offset) by name's UTF-8 bytes.
    static func inDataOrder(_ lhs: DigestEntry, _ rhs: DigestEntry) -> Bool {
        if lhs.dataOffsets.lowerBound != rhs.dataOffsets.lowerBound { return lhs.dataOffsets.lowerBound < rhs.dataOffsets.lowerBound }
        if lhs.dataOffsets.upperBound != rhs.dataOffsets.upperBound { return lhs.dataOffsets.upperBound < rhs.dataOffsets.upperBound }
        return lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8)
    }

    /// `header_crc32` over `entries` and `metadata` (which must not contain `header_crc32`); see
    /// the type's documentation for the exact byte string.
    static func headerChecksum(entries: [DigestEntry], metadata: [String: String]) -> UInt32 {
        var input: [UInt8] = []
        func record(_ text: String) {
            let bytes = Array(text.utf8)
            withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { input.append(contentsOf: $0) }
            input.append(contentsOf: bytes)
        }
        record("tensors")
        record(String(entries.count))
        for entry in entries.sorted(by: inDataOrder) {
            record(entry.name)
            record(entry.dataType)
            record(entry.shape.map(String.init).joined(separator: ","))
            record(String(entry.dataOffsets.lowerBound))
            record(String(entry.dataOffsets.upperBound))
        }
        record("metadata")
        record(String(metadata.count))
        for key in metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            record(key)
            record(metadata[key]!)
        }
        return input.withUnsafeBytes { crc32($0) }
    }
}
