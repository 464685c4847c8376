import CZlib

/// gzip decompression into memory through zlib (RFC 1952 framing: `inflateInit2` with
/// `windowBits = 16 + MAX_WBITS`), with a cap on the decompressed size so that a hostile file
/// cannot exhaust memory.
enum Gzip {
    /// The first two bytes of every gzip member (RFC 1952 §2.3.1).
    static let signature: [UInt8] = [0x1F, 0x8B]

    /// The decompressed contents of `compressed` (read from `path`, named in errors).
    ///
    /// Concatenated gzip members (as `cat a.gz b.gz` makes) are decompressed one after the other,
    /// like gzip(1) does.
    /// - Throws: `DatasetError.notGzip` (no gzip signature), `.corruptGzip` (zlib's message),
    ///   `.truncatedGzip` (the stream stops before its end marker), `.trailingGzipData` (non-gzip
    ///   bytes after the stream), `.decompressedTooLarge` (more than `limit` bytes).
    static func decompress(_ compressed: [UInt8], path: String, limit: Int) throws -> [UInt8] {
        guard compressed.starts(with: signature) else {
            throw DatasetError.notGzip(path: path, foundBytes: Array(compressed.prefix(4)))
        }
        precondition(compressed.count <= UInt32.max, "\(compressed.count) compressed bytes exceed zlib's uInt")

        var stream = z_stream()
        let initStatus = inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw DatasetError.corruptGzip(
                path: path, message: "zlib could not start (inflateInit2 returned \(initStatus))")
        }
        defer { inflateEnd(&stream) }

        var output = [UInt8](repeating: 0, count: initialCapacity(compressed, limit: limit))
        var produced = 0
        try compressed.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!)
            stream.avail_in = uInt(input.count)
            while true {
                if produced == output.count {
                    guard output.count <= limit else {
                        throw DatasetError.decompressedTooLarge(path: path, limit: limit)
                    }
                    let grown = min(output.count * 2, limit + 1)  // one byte past the limit detects overflow
                    output.append(contentsOf: repeatElement(0, count: grown - output.count))
                }
                let status = output.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress! + produced
                    stream.avail_out = uInt(buffer.count - produced)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    produced = buffer.count - Int(stream.avail_out)
                    return status
                }
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    let remaining = Int(stream.avail_in)
                    if remaining == 0 { return }
                    let next = UnsafeBufferPointer(rebasing: input[(input.count - remaining)...])
                    guard next.starts(with: signature) else {
                        throw DatasetError.trailingGzipData(path: path, byteCount: remaining)
                    }
                    inflateReset(&stream)
                case Z_BUF_ERROR where stream.avail_in == 0:
                    // No progress with output room left (ensured at the top of the loop): zlib needs
                    // more input, and there is none.
                    throw DatasetError.truncatedGzip(path: path, compressedByteCount: input.count)
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw DatasetError.corruptGzip(path: path, message: message)
                }
            }
        }
        guard produced <= limit else { throw DatasetError.decompressedTooLarge(path: path, limit: limit) }
        output.removeSubrange(produced...)
        return output
    }

    /// A first guess at the decompressed size: the gzip trailer's ISIZE field (the last member's
    /// size modulo 2³², RFC 1952 §2.3.1) when plausible, bounded by deflate's maximum ratio of
    /// about 1032:1 so that a lying trailer cannot make us allocate much; the buffer grows as needed.
    private static func initialCapacity(_ compressed: [UInt8], limit: Int) -> Int {
        let maximumRatio = 1032
        let bound = min(limit + 1, compressed.count * maximumRatio + 64)
        guard compressed.count >= 18 else { return min(bound, 4096) }
        let trailer = compressed.suffix(4)
        let declared = trailer.reversed().reduce(0) { $0 << 8 | Int($1) }
        return max(1, min(declared > 0 ? declared : 4096, bound))
    }
}
