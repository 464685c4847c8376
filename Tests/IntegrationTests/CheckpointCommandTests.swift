import Checkpoints
import Foundation
import TestSupport
import XCTest

/// `lockstep checkpoint inspect` run as a process on checkpoints written here.
final class CheckpointCommandTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("checkpoint-command")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Two layers, [3, 2] and [2, 3], with known values, and JSON-encoded metadata.
    func writeSample() throws -> URL {
        var checkpoint = Checkpoint(
            tensors: [
                CheckpointTensor(name: "layers.0.weight", shape: [3, 2], values: [0.5, -1.5, 2, 0, 1, 4]),
                CheckpointTensor(name: "layers.0.bias", shape: [3], values: [0.25, .nan, -0.75]),
                CheckpointTensor(name: "layers.1.weight", shape: [2, 3], values: [1, 1, 1, 1, 1, 1]),
                CheckpointTensor(name: "layers.1.bias", shape: [2], values: [0, 0]),
            ],
            metadata: ["global_step": "1200"])
        try checkpoint.setMetadata(json: ["epochs": 10, "seed": 42], forKey: "config")
        try checkpoint.setMetadata(json: [UInt64.max, 1], forKey: "rng_state")
        return try CheckpointDirectory(url: directory).write(checkpoint, step: 1200)
    }

    func testInspectPrintsMetadataAndTensorTable() throws {
        let url = try writeSample()
        let result = try ProcessRunner.lockstep(["checkpoint", "inspect", url.path])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let lines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines.first, "checkpoint \(url.path)")
        XCTAssertTrue(lines.count > 1 && lines[1].hasPrefix("format lockstep-checkpoint version 2; "), result.standardOutput)
        let text = result.standardOutput
        // JSON-encoded values are pretty-printed, numbers exactly as stored.
        XCTAssertTrue(text.contains("  config:\n    {\n      \"epochs\" : 10,\n      \"seed\" : 42\n    }\n"), text)
        XCTAssertTrue(text.contains("      18446744073709551615,\n"), text)
        XCTAssertTrue(text.contains("  global_step: 1200\n"), text)
        XCTAssertTrue(text.contains("tensors (4; 17 elements, 68 bytes)"), text)
        // Columns: name dtype shape elements bytes min max mean non-finite. layers.0.weight: min −1.5,
        // max 4, mean (0.5 − 1.5 + 2 + 0 + 1 + 4) / 6 = 1; layers.0.bias: the mean skips the NaN.
        XCTAssertEqual(cells(of: "layers.0.weight", in: lines), ["layers.0.weight", "F32", "[3, 2]", "6", "24", "-1.5", "4", "1", "0"])
        XCTAssertEqual(cells(of: "layers.0.bias", in: lines), ["layers.0.bias", "F32", "[3]", "3", "12", "-0.75", "0.25", "-0.25", "1"])
    }

    /// The table row of tensor `name`, split at runs of two or more spaces.
    func cells(of name: String, in lines: [String]) -> [String] {
        guard let line = lines.first(where: { $0.hasPrefix("  \(name) ") }) else { return [] }
        return line.trimmingCharacters(in: .whitespaces).components(separatedBy: "  ")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func testInspectJSON() throws {
        let url = try writeSample()
        let result = try ProcessRunner.lockstep(["checkpoint", "inspect", url.path, "--json"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        XCTAssertEqual(object["file"] as? String, url.path)
        XCTAssertEqual(object["format"] as? String, "lockstep-checkpoint")
        XCTAssertEqual(object["format_version"] as? String, "2")
        let metadata = try XCTUnwrap(object["metadata"] as? [String: String])
        XCTAssertEqual(metadata["global_step"], "1200")
        XCTAssertEqual(metadata["config"], #"{"epochs":10,"seed":42}"#)
        let tensors = try XCTUnwrap(object["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.map { $0["name"] as? String }, ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"])
        XCTAssertEqual(tensors[0]["shape"] as? [Int], [3, 2])
        XCTAssertEqual(tensors[0]["data_offsets"] as? [Int], [0, 24])
        XCTAssertEqual(tensors[1]["data_offsets"] as? [Int], [24, 36])
        XCTAssertEqual(tensors[1]["non_finite"] as? Int, 1)
        XCTAssertEqual(tensors[1]["mean"] as? Double, -0.25)
        XCTAssertEqual(tensors[2]["min"] as? Double, 1)
    }

    func testInspectRefusesACorruptFileWithExitStatus65() throws {
        let url = try writeSample()
        var bytes = try [UInt8](Data(contentsOf: url))
        bytes[bytes.count - 1] ^= 0x01
        try Data(bytes).write(to: url)
        let result = try ProcessRunner.lockstep(["checkpoint", "inspect", url.path])
        XCTAssertEqual(result.exitCode, 65, result.combinedOutput)
        XCTAssertEqual(result.standardOutput, "")
        let lines = result.standardError.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, result.standardError)
        XCTAssertTrue(lines.first?.hasPrefix("error: checkpoint \(url.path) is corrupt: the data section's CRC-32 is ") == true, result.standardError)
        XCTAssertTrue(lines.last?.hasPrefix("hint: ") == true, result.standardError)
    }

    func testInspectOfAMissingFileExits66() throws {
        let path = directory.appendingPathComponent("absent.safetensors").path
        let result = try ProcessRunner.lockstep(["checkpoint", "inspect", path])
        XCTAssertEqual(result.exitCode, 66, result.combinedOutput)
        XCTAssertTrue(result.standardError.hasPrefix("error: checkpoint \(path) does not exist\n"), result.standardError)
    }

    /// A file that is not a checkpoint (a metrics file) is called that, with a hint for inspect.
    func testInspectingAMetricsFileSaysItIsNotACheckpoint() throws {
        let path = directory.appendingPathComponent("metrics.jsonl").path
        try Data("{\"epoch\": 1, \"train_loss\": 0.5}\n".utf8).write(to: URL(fileURLWithPath: path))
        let result = try ProcessRunner.lockstep(["checkpoint", "inspect", path])
        XCTAssertEqual(result.exitCode, 65, result.combinedOutput)
        XCTAssertTrue(result.standardError.hasPrefix(
            "error: \(path) is not a safetensors checkpoint: it starts with text (\"{\"epoch\"\"), where a checkpoint starts "),
            result.combinedOutput)
        XCTAssertTrue(result.standardError.contains(
            "hint: give the path of a checkpoint written by lockstep (ckpt-step-…safetensors in a run's checkpoints/ folder)"),
            result.combinedOutput)
    }

    /// The metrics history is one line in the text (the count and the last epoch); --json has it all.
    func testInspectSummarisesTheMetricsHistory() throws {
        var checkpoint = Checkpoint(tensors: [CheckpointTensor(name: "w", shape: [1], values: [1])], metadata: [:])
        try checkpoint.setMetadata(json: (1...30).map { ["epoch": Double($0), "test_accuracy": 0.5] }, forKey: "metrics")
        let url = try CheckpointDirectory(url: directory).write(checkpoint, step: 30)
        let text = try ProcessRunner.lockstep(["checkpoint", "inspect", url.path])
        XCTAssertEqual(text.exitCode, 0, text.combinedOutput)
        XCTAssertTrue(text.standardOutput.contains(
            "  metrics: 30 epochs (every one with --json); the last: {\"epoch\":30,\"test_accuracy\":0.5}\n"), text.standardOutput)
        XCTAssertLessThan(text.standardOutput.split(separator: "\n").count, 15, text.standardOutput)
        let json = try ProcessRunner.lockstep(["checkpoint", "inspect", "--json", url.path])
        XCTAssertEqual(json.standardOutput.components(separatedBy: "epoch").count - 1, 30)
    }
}
