@testable import Checkpoints
import Determinism
import Foundation
import XCTest

/// JSON-encoded metadata values and validation against a model's tensors.
final class CheckpointMetadataTests: XCTestCase {
    struct ScheduleState: Codable, Equatable {
        var step: Int64
        var learningRate: Double
    }

    func testJSONValuesRoundTripExactlyThroughAFile() throws {
        var checkpoint = Checkpoint()
        let rng = SeededGenerator(seed: 3)
        try checkpoint.setMetadata(json: rng.state, forKey: "rng_state")
        try checkpoint.setMetadata(json: [UInt64.max, 0], forKey: "extremes")
        try checkpoint.setMetadata(json: ScheduleState(step: 1201, learningRate: 0.1 * 0.5), forKey: "schedule")
        XCTAssertEqual(checkpoint.metadata["schedule"], #"{"learningRate":0.05,"step":1201}"#)  // sorted keys

        let decoded = try CheckpointReader.decode(CheckpointEncoder.encode(checkpoint), source: "meta").checkpoint
        XCTAssertEqual(try decoded.metadataValue([UInt64].self, forKey: "rng_state"), rng.state)
        XCTAssertEqual(try decoded.metadataValue([UInt64].self, forKey: "extremes"), [UInt64.max, 0])
        XCTAssertEqual(try decoded.metadataValue(ScheduleState.self, forKey: "schedule"), ScheduleState(step: 1201, learningRate: 0.05))
    }

    func testMissingAndUndecodableMetadataAreNamed() {
        let checkpoint = Checkpoint(metadata: ["schedule": "{\"step\": \"x\"}"], source: "/runs/a.safetensors")
        XCTAssertThrowsError(try checkpoint.metadataValue(Int.self, forKey: "global_step")) { error in
            XCTAssertEqual(error as? CheckpointError, .missingMetadata(file: "/runs/a.safetensors", key: "global_step"))
            XCTAssertEqual((error as? CheckpointError)?.exitStatus, .data)
        }
        XCTAssertThrowsError(try checkpoint.metadataValue(ScheduleState.self, forKey: "schedule")) { error in
            guard case let .invalidMetadata(file, key, value, expected) = error as? CheckpointError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, "/runs/a.safetensors")
            XCTAssertEqual(key, "schedule")
            XCTAssertEqual(value, "{\"step\": \"x\"}")
            XCTAssertTrue(expected.contains("ScheduleState") && expected.contains("\"step\""), expected)
        }
    }

    /// Metadata values come from possibly hostile files: the nesting that makes Foundation's
    /// parser trap (see JSONNestingGuard) is refused, not parsed.
    func testDeeplyNestedMetadataIsRefusedNotParsed() {
        let crashing = String(repeating: "{\"k\":", count: 512) + "["
        let checkpoint = Checkpoint(metadata: ["config": crashing], source: "hostile.safetensors")
        XCTAssertThrowsError(try checkpoint.metadataValue([String: Int].self, forKey: "config")) { error in
            XCTAssertEqual(
                error as? CheckpointError,
                .invalidMetadata(
                    file: "hostile.safetensors", key: "config", value: crashing,
                    expected: "JSON for Dictionary<String, Int> (objects and arrays nest deeper than 64 levels (at byte 320))"))
        }
        XCTAssertEqual(checkpoint.prettyPrintedMetadataValue(forKey: "config"), crashing)
    }

    func testPrettyPrintedMetadata() {
        let checkpoint = Checkpoint(metadata: ["config": #"{"b":[18446744073709551615,0.1],"a":"x/y"}"#, "step": "12", "broken": "{\"a\":"])
        XCTAssertEqual(
            checkpoint.prettyPrintedMetadataValue(forKey: "config"),
            "{\n  \"a\" : \"x/y\",\n  \"b\" : [\n    18446744073709551615,\n    0.1\n  ]\n}")
        XCTAssertEqual(checkpoint.prettyPrintedMetadataValue(forKey: "step"), "12")
        XCTAssertEqual(checkpoint.prettyPrintedMetadataValue(forKey: "broken"), "{\"a\":")
        XCTAssertNil(checkpoint.prettyPrintedMetadataValue(forKey: "absent"))
    }

    func testValidateTensorsAcceptsTheExactModel() throws {
        let checkpoint = CheckpointSamples.mlp()
        try checkpoint.validateTensors(expected: checkpoint.tensors.reversed().map { ($0.name, $0.shape) })
    }

    func testValidateTensorsListsEveryDifference() {
        var checkpoint = CheckpointSamples.mlp()
        checkpoint.source = "ckpt.safetensors"
        var expected = checkpoint.tensors.map { (name: $0.name, shape: $0.shape) }
        expected.removeAll { $0.name == "optimizer.momentum.layers.1.bias" }  // becomes unexpected
        expected[0].shape = [49, 24]  // transposed weight
        expected.append((name: "layers.2.weight", shape: [10, 10]))  // missing
        XCTAssertThrowsError(try checkpoint.validateTensors(expected: expected)) { error in
            XCTAssertEqual(
                error as? CheckpointError,
                .tensorsDoNotMatch(
                    file: "ckpt.safetensors", missing: ["layers.2.weight"], unexpected: ["optimizer.momentum.layers.1.bias"],
                    mismatched: [.init(name: "layers.0.weight", expected: [49, 24], found: [24, 49])]))
            XCTAssertEqual(
                (error as? CheckpointError)?.description,
                "checkpoint ckpt.safetensors does not match the model: missing \"layers.2.weight\"; "
                    + "unexpected \"optimizer.momentum.layers.1.bias\"; shape mismatch layers.0.weight (model [49, 24], checkpoint [24, 49])")
        }
    }
}

final class CheckpointTensorSummaryTests: XCTestCase {
    func testSummaryOfFiniteAndNonFiniteValues() {
        let summary = CheckpointTensor(name: "x", shape: [6], values: [1, -2.5, .nan, 4, .infinity, 0.5]).summary
        XCTAssertEqual(summary.minimum, -2.5)
        XCTAssertEqual(summary.maximum, 4)
        XCTAssertEqual(summary.mean, 0.75)  // (1 − 2.5 + 4 + 0.5) / 4
        XCTAssertEqual(summary.nonFiniteCount, 2)
        let allNaN = CheckpointTensorSummary([.nan])
        XCTAssertNil(allNaN.minimum)
        XCTAssertNil(allNaN.maximum)
        XCTAssertNil(allNaN.mean)
        XCTAssertEqual(allNaN.nonFiniteCount, 1)
        XCTAssertEqual(CheckpointTensorSummary([]).nonFiniteCount, 0)
    }
}
