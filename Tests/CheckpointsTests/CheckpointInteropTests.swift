import Foundation
import TestSupport
import XCTest
@testable import Checkpoints

/// The standard Python `safetensors` package and numpy read our files
/// (scripts/checkpoint_interop.py), and compute both checksums the same way.
///
/// Skipped when python3 lacks the packages (`python3 -m pip install safetensors numpy`).
/// `LOCKSTEP_KEEP_CHECKPOINT=PATH` keeps a copy of the file written here.
final class CheckpointInteropTests: XCTestCase {
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/checkpoint_interop.py").path
    }

    func testPythonSafetensorsReadsOurFile() throws {
        let probe = try ProcessRunner.run("/usr/bin/env", ["python3", "-c", "import safetensors, numpy"])
        guard probe.exitCode == 0 else {
            throw missingTool("python3 with safetensors and numpy is not installed: \(probe.standardError)")
        }
        let directory = try ProcessRunner.temporaryDirectory("checkpoint-interop")
        defer { try? FileManager.default.removeItem(at: directory) }
        let checkpoint = CheckpointSamples.mlp()
        let url = try CheckpointDirectory(url: directory).write(checkpoint, step: 1200)
        if let keep = ProcessInfo.processInfo.environment["LOCKSTEP_KEEP_CHECKPOINT"], !keep.isEmpty {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: url.path, toPath: keep)
        }
        let layout = try CheckpointReader.readWithLayout(from: url).layout

        let result = try ProcessRunner.run("/usr/bin/env", ["python3", Self.script, url.path, "--json"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        // JSONDecoder, not JSONSerialization: on Linux the latter's `as? Double` can be one ulp off.
        let report = try JSONDecoder().decode(PythonReport.self, from: Data(result.standardOutput.utf8))
        XCTAssertEqual(report.problems, [])
        XCTAssertEqual(
            report.checksums,
            ["data_crc32": CheckpointFormat.checksumString(layout.dataCRC32), "header_crc32": CheckpointFormat.checksumString(layout.headerCRC32)])
        XCTAssertEqual(
            report.metadataKeys,
            ["config", "data_crc32", "format", "format_version", "global_step", "header_crc32", "rng_state", "world_size"])
        XCTAssertEqual(Set(report.tensors.keys), Set(checkpoint.tensors.map(\.name)))
        for tensor in checkpoint.tensors {
            let python = try XCTUnwrap(report.tensors[tensor.name])
            XCTAssertEqual(python.shape, tensor.shape, tensor.name)
            XCTAssertEqual(python.dtype, "float32", tensor.name)
            XCTAssertEqual(python.first, Double(tensor.values[0]), tensor.name)  // float32 → float64 is exact
            // numpy sums float64 pairwise, we sum in order: equal to rounding.
            let sum = tensor.values.reduce(0.0) { $0 + Double($1) }
            assertClose(python.sum, sum, relative: 1e-12, absolute: 1e-12, tensor.name)
        }

        // The script's own checksum check fires on a flipped data byte.
        var bytes = try [UInt8](Data(contentsOf: url))
        bytes[bytes.count - 1] ^= 0x80
        try Data(bytes).write(to: url)
        let corrupt = try ProcessRunner.run("/usr/bin/env", ["python3", Self.script, url.path])
        XCTAssertEqual(corrupt.exitCode, 1, corrupt.combinedOutput)
        XCTAssertTrue(corrupt.standardError.contains("problem: data_crc32: stored \(CheckpointFormat.checksumString(layout.dataCRC32)), computed "), corrupt.combinedOutput)
    }

    /// The `--json` output of scripts/checkpoint_interop.py.
    struct PythonReport: Decodable {
        struct Tensor: Decodable {
            let shape: [Int]
            let dtype: String
            let sum: Double
            let first: Double?
        }

        let tensors: [String: Tensor]
        let metadataKeys: [String]
        let checksums: [String: String]
        let problems: [String]

        enum CodingKeys: String, CodingKey {
            case tensors, checksums, problems
            case metadataKeys = "metadata_keys"
        }
    }
}
