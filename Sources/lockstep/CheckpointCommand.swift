import ArgumentParser
import Checkpoints
import Foundation
import Reporting

/// `lockstep checkpoint …`: commands on checkpoint files.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Work with checkpoint files.",
        subcommands: [Inspect.self])

    /// `lockstep checkpoint inspect PATH [--json]`.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a checkpoint and print its metadata and tensor table.",
            discussion: "Exits 65 when the file is malformed (truncated, corrupt, wrong format) and 66 when it cannot be opened.")

        @Argument(help: "The checkpoint file (ckpt-step-<step>.safetensors).")
        var path: String

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() throws {
            let url = URL(fileURLWithPath: path)
            let file: (checkpoint: Checkpoint, layout: CheckpointLayout)
            do {
                file = try CheckpointReader.readWithLayout(from: url)
            } catch let error as CheckpointError {
                var message = "error: \(error.description)\n"
                if let hint = error.hint { message += "hint: \(hint)\n" }
                FileHandle.standardError.write(Data(message.utf8))
                throw ExitCode(error.exitStatus.rawValue)
            }
            // The path as given (relative stays relative), as the other commands print it.
            let report = CheckpointReport(path: path, checkpoint: file.checkpoint, layout: file.layout)
            print(json ? try report.json() : report.text())
        }
    }
}

/// What `inspect` prints, as text for people or one JSON object for machines.
struct CheckpointReport: Encodable {
    struct Tensor: Encodable {
        let name: String
        let dtype: String
        let shape: [Int]
        let elements: Int
        let bytes: Int
        let dataOffsets: [Int]
        let min: Float?
        let max: Float?
        let mean: Double?
        let nonFinite: Int

        enum CodingKeys: String, CodingKey {
            case name, dtype, shape, elements, bytes, min, max, mean
            case dataOffsets = "data_offsets"
            case nonFinite = "non_finite"
        }
    }

    let file: String
    let format: String
    let formatVersion: String
    let fileBytes: Int
    let headerBytes: Int
    let dataCRC32: String
    let headerCRC32: String
    /// The caller's metadata, values as stored (strings).
    let metadata: [String: String]
    /// The same, JSON objects and arrays re-indented for the text output.
    let prettyMetadata: [String: String]
    let tensors: [Tensor]

    enum CodingKeys: String, CodingKey {
        case file, format, metadata, tensors
        case formatVersion = "format_version"
        case fileBytes = "file_bytes"
        case headerBytes = "header_bytes"
        case dataCRC32 = "data_crc32"
        case headerCRC32 = "header_crc32"
    }

    init(path: String, checkpoint: Checkpoint, layout: CheckpointLayout) {
        file = path
        format = CheckpointFormat.formatName
        formatVersion = layout.formatVersion
        fileBytes = layout.fileByteCount
        headerBytes = layout.headerByteCount
        dataCRC32 = CheckpointFormat.checksumString(layout.dataCRC32)
        headerCRC32 = CheckpointFormat.checksumString(layout.headerCRC32)
        metadata = checkpoint.metadata
        prettyMetadata = Dictionary(uniqueKeysWithValues: checkpoint.metadata.keys.map { ($0, checkpoint.prettyPrintedMetadataValue(forKey: $0) ?? "") })
        tensors = zip(checkpoint.tensors, layout.dataOffsets).map { tensor, offsets in
            let summary = tensor.summary
            return Tensor(
                name: tensor.name, dtype: CheckpointFormat.float32DataType, shape: tensor.shape, elements: tensor.elementCount,
                bytes: offsets.count, dataOffsets: [offsets.lowerBound, offsets.upperBound], min: summary.minimum,
                max: summary.maximum, mean: summary.mean, nonFinite: summary.nonFiniteCount)
        }
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func text() -> String {
        var lines = [
            "checkpoint \(file)",
            "format \(format) version \(formatVersion); \(fileBytes) bytes (header \(headerBytes), data \(fileBytes - 8 - headerBytes)); "
                + "data CRC-32 \(dataCRC32), header CRC-32 \(headerCRC32)",
            "",
            "metadata (\(metadata.count) \(metadata.count == 1 ? "key" : "keys"))",
        ]
        for key in metadata.keys.sorted() {
            let value = prettyMetadata[key] ?? ""
            // One line per epoch would bury the rest: the count and the last epoch (all with --json).
            if key == "metrics", let epochs = Self.epochs(in: metadata[key] ?? ""), epochs.count > 1 {
                lines.append("  metrics: \(epochs.count) epochs (every one with --json); the last: \(epochs.last!)")
                continue
            }
            if value.contains("\n") {
                lines.append("  \(key):")
                lines += value.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
            } else {
                lines.append("  \(key): \(value)")
            }
        }
        lines += ["", "tensors (\(tensors.count); \(tensors.map(\.elements).reduce(0, +)) elements, \(tensors.map(\.bytes).reduce(0, +)) bytes)"]
        let rows = [["name", "dtype", "shape", "elements", "bytes", "min", "max", "mean", "non-finite"]]
            + tensors.map { tensor in
                [
                    tensor.name, tensor.dtype, "[" + tensor.shape.map(String.init).joined(separator: ", ") + "]",
                    String(tensor.elements), String(tensor.bytes), Self.number(tensor.min.map(Double.init)),
                    Self.number(tensor.max.map(Double.init)), Self.number(tensor.mean), String(tensor.nonFinite),
                ]
            }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max()! }
        for row in rows {
            lines.append("  " + zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces))
        }
        return lines.joined(separator: "\n")
    }

    /// The epochs of a `metrics` value (a JSON array of objects), each as one line of compact JSON.
    static func epochs(in text: String) -> [String]? {
        guard let array = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [Any] else { return nil }
        return array.compactMap { item in
            (try? JSONSerialization.data(withJSONObject: item, options: [.sortedKeys, .withoutEscapingSlashes]))
                .map { String(decoding: $0, as: UTF8.self) }
        }
    }

    static func number(_ value: Double?) -> String {
        value.map { String(format: "%.6g", $0) } ?? "-"
    }
}
