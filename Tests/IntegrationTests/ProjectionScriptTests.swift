import Foundation
import TestSupport
import XCTest

/// `scripts/projection.py`: the alpha-beta model of ring allreduce and its least-squares fit.
final class ProjectionScriptTests: XCTestCase {
    private static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/projection.py").path

    /// `python3 scripts/projection.py ARGUMENTS`, python3 found on PATH.
    private func projection(_ arguments: [String]) throws -> ProcessResult {
        let result = try ProcessRunner.run("/usr/bin/env", ["python3", Self.script] + arguments, timeout: 30)
        if result.exitCode == 127 { throw missingTool("python3 is not installed: \(result.standardError)") }
        return result
    }

    private func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// Reference values from Python `fractions` on T = 2(p−1)·α + 2(p−1)/p · 2,143,272 B / β with
    /// α = 25 µs, β = rate/8, a 4 ms step and local batch 128:
    /// p = 8 at 10 Gbit/s: T = 3.3505808 ms; overlap 0.5: step 5.3505808 ms, efficiency 0.74758239…;
    /// p = 512 at 100 Gbit/s: T = 25.8922537475 ms; step 27.8922537475 ms, 2,349,612.928… samples/s.
    func testProjectionMatchesTheFormula() throws {
        let result = try projection(
            ["table", "--step-ms", "4", "--ranks", "8,512", "--gbits", "10,100", "--overlap", "0.5", "--json"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let rows = try jsonLines(result.standardOutput)
        XCTAssertEqual(rows.count, 4)
        let first = rows[0], last = rows[3]
        XCTAssertEqual(first["ranks"] as? Int, 8)
        XCTAssertEqual(first["gbits"] as? Int, 10)
        assertClose(try XCTUnwrap(first["allreduce_ms"] as? Double), 3.3505808, relative: 1e-12)
        assertClose(try XCTUnwrap(first["step_ms"] as? Double), 5.3505808, relative: 1e-12)
        assertClose(try XCTUnwrap(first["efficiency"] as? Double), 0.7475823932983126, relative: 1e-12)
        XCTAssertEqual(last["ranks"] as? Int, 512)
        XCTAssertEqual(last["gbits"] as? Int, 100)
        assertClose(try XCTUnwrap(last["allreduce_ms"] as? Double), 25.8922537475, relative: 1e-12)
        assertClose(try XCTUnwrap(last["step_ms"] as? Double), 27.8922537475, relative: 1e-12)
        assertClose(try XCTUnwrap(last["samples_per_s"] as? Double), 2_349_612.928136868, relative: 1e-12)
    }

    /// Times made by the model itself with α = 30 µs and β = 100 MB/s come back out of the fit.
    func testFitRecoversAlphaAndBeta() throws {
        let alpha = 30e-6, beta = 1e8
        var lines = ""
        for ranks in [2, 3, 4] {
            for bytes in [4.0, 16_384, 2_143_272] {
                let p = Double(ranks)
                let seconds = 2 * (p - 1) * alpha + 2 * (p - 1) / p * bytes / beta
                lines += "{\"ranks\": \(ranks), \"bytes\": \(bytes), \"median_s\": \(seconds)}\n"
            }
        }
        let file = try ProcessRunner.temporaryDirectory().appendingPathComponent("points.jsonl")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        try lines.write(to: file, atomically: true, encoding: .utf8)
        let result = try projection(["fit", file.path])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertTrue(
            result.standardOutput.hasPrefix("alpha = 30.0 µs, beta = 0.800 Gbit/s (100.0 MB/s)"), result.combinedOutput)
    }

    /// Small messages alone cannot tell latency from bandwidth: refused, not guessed.
    func testFitRefusesPointsThatDoNotSeparateLatencyFromBandwidth() throws {
        let file = try ProcessRunner.temporaryDirectory().appendingPathComponent("points.jsonl")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        try "{\"ranks\": 2, \"bytes\": 4, \"median_s\": 1e-5}\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try projection(["fit", file.path])
        XCTAssertEqual(result.exitCode, 1, result.combinedOutput)
        XCTAssertEqual(
            result.standardError,
            "projection: \(file.path): need messages of at most 64 bytes (latency) and at least 1,048,576 bytes "
                + "(bandwidth), found 4 bytes\n")
    }
}
