import Checkpoints
import Foundation
import TestSupport
import XCTest

/// Helpers for the checkpoint and resume tests of the real binary.
enum ResumeSupport {
    /// The final checkpoint of a run: `ckpt-step-<step>.safetensors` in `directory`.
    static func checkpoint(_ directory: URL, step: Int64) throws -> Checkpoint {
        try CheckpointReader.read(from: CheckpointDirectory(url: directory).url(step: step))
    }

    /// The steps of the checkpoints in `directory`, ascending.
    static func steps(_ directory: URL) throws -> [Int64] {
        try CheckpointDirectory(url: directory).list().checkpoints.map(\.step)
    }

    /// The JSON-encoded metadata `key`, decoded (JSONDecoder reads Doubles exactly).
    static func decode<Value: Decodable>(_ type: Value.Type, _ checkpoint: Checkpoint, _ key: String) throws -> Value {
        try JSONDecoder().decode(Value.self, from: Data((checkpoint.metadata[key] ?? "").utf8))
    }

    /// The wall-clock fields of a metrics line: the speed and which rank computed longest.
    static let timingKeys: Set<String> = [
        "samples_per_s", "epoch_seconds", "eval_seconds", "slowest_rank", "slowest_host", "slowest_excess",
    ]

    /// Metrics lines (from a checkpoint's `metrics` or a `--metrics` file) without their wall-clock
    /// fields, which an exact resume does not reproduce.
    static func withoutTiming(_ lines: [[String: Any]]) -> [NSDictionary] {
        lines.map { line in
            NSDictionary(dictionary: line.filter { !timingKeys.contains($0.key) })
        }
    }

    static func metrics(_ checkpoint: Checkpoint) throws -> [NSDictionary] {
        let lines = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((checkpoint.metadata["metrics"] ?? "").utf8)) as? [[String: Any]])
        return withoutTiming(lines)
    }

    /// Asserts that two checkpoints hold the same training state: every tensor bit for bit, every
    /// metadata value, the metrics without their timing, and the configuration without
    /// `metricsPath` (each run writes its metrics into its own run directory).
    static func assertSameState(
        _ actual: Checkpoint, _ expected: Checkpoint, _ message: String = "", file: StaticString = #filePath, line: UInt = #line
    ) throws {
        XCTAssertEqual(actual.tensors.map(\.name), expected.tensors.map(\.name), message, file: file, line: line)
        for (a, b) in zip(actual.tensors, expected.tensors) {
            XCTAssertTrue(a == b, "\(message): tensor \(a.name) differs", file: file, line: line)
        }
        XCTAssertEqual(Set(actual.metadata.keys), Set(expected.metadata.keys), message, file: file, line: line)
        for key in expected.metadata.keys.sorted() where !["metrics", "configuration"].contains(key) {
            XCTAssertEqual(actual.metadata[key], expected.metadata[key], "\(message): metadata \(key)", file: file, line: line)
        }
        XCTAssertEqual(try metrics(actual), try metrics(expected), "\(message): metrics", file: file, line: line)
        XCTAssertEqual(try configuration(actual), try configuration(expected), "\(message): configuration", file: file, line: line)
    }

    /// The stored configuration without `metricsPath`.
    static func configuration(_ checkpoint: Checkpoint) throws -> NSDictionary {
        var object = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data((checkpoint.metadata["configuration"] ?? "").utf8)) as? [String: Any])
        object.removeValue(forKey: "metricsPath")
        return NSDictionary(dictionary: object)
    }
}
