import Foundation

/// Serialises a `Checkpoint` into the bytes of a checkpoint file (layout: `CheckpointFormat`).
/// Deterministic: equal checkpoints give equal bytes.
enum CheckpointEncoder {
    /// The file's bytes.
    /// - Precondition: tensor names are unique, and no metadata key is reserved
    ///   (`CheckpointFormat.ReservedKey.all`).
    static func encode(_ checkpoint: Checkpoint) -> [UInt8] {
        var names = Set<String>()
        for tensor in checkpoint.tensors {
            precondition(names.insert(tensor.name).inserted, "two checkpoint tensors are named \(tensor.name)")
        }
        for key in checkpoint.metadata.keys {
            precondition(!CheckpointFormat.ReservedKey.all.contains(key), "metadata key \(key) is reserved for the format")
        }

        // The data section and the tensor table.
        var entries: [CheckpointFormat.DigestEntry] = []
        var offset = 0
        for tensor in checkpoint.tensors {
            let byteCount = tensor.elementCount * CheckpointFormat.elementByteCount
            entries.append(.init(name: tensor.name, dataType: CheckpointFormat.float32DataType, shape: tensor.shape, dataOffsets: offset..<(offset + byteCount)))
            offset += byteCount
        }
        var data: [UInt8] = []
        data.reserveCapacity(offset)
        for tensor in checkpoint.tensors { appendLittleEndian(tensor.values, to: &data) }

        // Metadata: the caller's plus the format's own.
        var metadata = checkpoint.metadata
        metadata[CheckpointFormat.ReservedKey.format] = CheckpointFormat.formatName
        metadata[CheckpointFormat.ReservedKey.formatVersion] = CheckpointFormat.version
        metadata[CheckpointFormat.ReservedKey.dataCRC32] = CheckpointFormat.checksumString(data.withUnsafeBytes { CheckpointFormat.crc32($0) })
        let headerCRC = CheckpointFormat.headerChecksum(entries: entries, metadata: metadata)
        metadata[CheckpointFormat.ReservedKey.headerCRC32] = CheckpointFormat.checksumString(headerCRC)

        // The header: metadata first (keys sorted), then the tensors in data order.
        var header = "{" + jsonString(CheckpointFormat.metadataKey) + ":{"
        header += metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .map { jsonString($0) + ":" + jsonString(metadata[$0]!) }.joined(separator: ",")
        header += "}"
        for entry in entries {
            header += "," + jsonString(entry.name) + ":{\"dtype\":\"\(entry.dataType)\",\"shape\":["
                + entry.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":["
                + "\(entry.dataOffsets.lowerBound),\(entry.dataOffsets.upperBound)]}"
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        let padding = (CheckpointFormat.headerAlignment - headerBytes.count % CheckpointFormat.headerAlignment) % CheckpointFormat.headerAlignment
        headerBytes += repeatElement(UInt8(ascii: " "), count: padding)

        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + headerBytes.count + data.count)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes += headerBytes
        bytes += data
        return bytes
    }

    /// `text` as a JSON string literal (Foundation's escaping).
    static func jsonString(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        // Encoding a String cannot fail.
        return String(decoding: try! encoder.encode(text), as: UTF8.self)
    }

    /// Appends `values` as little-endian IEEE-754 float32.
    static func appendLittleEndian(_ values: [Float], to bytes: inout [UInt8]) {
        #if _endian(little)
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        #endif
    }
}
