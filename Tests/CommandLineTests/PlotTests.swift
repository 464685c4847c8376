import Foundation
import TestSupport
import XCTest

/// `lockstep plot RUN_DIR` and the plot at the end of a run: a real PNG when python3 has
/// matplotlib, a one-line hint (never a failed run) when it does not.
final class PlotTests: XCTestCase {
    /// Three epochs of metrics as `lockstep train` writes them.
    private func runDirectory() throws -> URL {
        let directory = try temporaryDirectory(for: self).appendingPathComponent("20261129-141502")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lines = [(1, 0.1, 0.61, 0.52, 0.81), (2, 0.095, 0.45, 0.47, 0.83), (3, 0.09025, 0.40, 0.44, 0.85)].map {
            #"{"epoch":\#($0.0),"lr":\#($0.1),"step":\#($0.0 * 468),"train_loss":\#($0.2),"test_loss":\#($0.3),"test_accuracy":\#($0.4),"samples_per_s":15000,"epoch_seconds":4,"eval_seconds":0.2}"#
        }
        try write(lines.joined(separator: "\n") + "\n", to: "metrics.jsonl", in: directory)
        return directory
    }

    /// Checks that `path` is a PNG of the size plot_metrics.py draws: a 13 × 4 inch figure at 90 dpi.
    private func assertPNG(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        // The PNG signature (ISO/IEC 15948 §5.2), then the IHDR chunk with width and height.
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], file: file, line: line)
        XCTAssertEqual(String(decoding: data[12..<16], as: UTF8.self), "IHDR", file: file, line: line)
        let width = data[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = data[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(width, 13 * 90, file: file, line: line)
        XCTAssertEqual(height, 4 * 90, file: file, line: line)
        XCTAssertGreaterThan(data.count, 20_000, "three panels with text are not a blank image", file: file, line: line)
    }

    func testPlotCommandWritesThePNG() throws {
        if !matplotlibIsInstalled { throw missingTool("python3 cannot import matplotlib (scripts/setup_plotting.sh installs it)") }
        let directory = try runDirectory()
        let result = try lockstep(["plot", directory.path])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let png = directory.appendingPathComponent("metrics.png").path
        XCTAssertEqual(result.standardOutput, "wrote \(png)\n")
        try assertPNG(png)
    }

    func testTrainingDrawsThePlotAtTheEnd() throws {
        if !matplotlibIsInstalled { throw missingTool("python3 cannot import matplotlib (scripts/setup_plotting.sh installs it)") }
        let directory = try temporaryDirectory(for: self)
        let result = try lockstep(["train", "--run-dir", directory.path] + tinyRun)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        try assertPNG(directory.appendingPathComponent("metrics.png").path)
        XCTAssertEqual(logLines(result.standardOutput).last, "run directory \(directory.path): config.toml, metrics.jsonl, metrics.png, checkpoints/")
    }

    func testWithoutMatplotlibTheRunSucceedsWithAHint() throws {
        let directory = try temporaryDirectory(for: self)
        let python = try pythonWithoutMatplotlib(in: directory)
        let runDirectory = directory.appendingPathComponent("run")
        let result = try lockstep(["train", "--run-dir", runDirectory.path] + tinyRun, environment: ["LOCKSTEP_PYTHON": python])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let hints = logLines(result.standardOutput).filter { $0.hasPrefix("hint: ") }
        XCTAssertEqual(hints.count, 1, result.standardOutput)
        // The hint is for the interpreter LOCKSTEP_PYTHON names, not for the system's python3.
        XCTAssertEqual(hints[0], "hint: no plots: matplotlib is not installed for \(python); install matplotlib for \(python) "
            + "(LOCKSTEP_PYTHON), e.g. \(python) -m pip install matplotlib, then run lockstep plot \(runDirectory.path)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory.appendingPathComponent("metrics.png").path))
    }

    func testPlotCommandWithoutMatplotlibIsUnavailable() throws {
        let directory = try runDirectory()
        let python = try pythonWithoutMatplotlib(in: directory.deletingLastPathComponent())
        let result = try lockstep(["plot", directory.path], environment: ["LOCKSTEP_PYTHON": python])
        XCTAssertEqual(result.exitCode, 69, result.combinedOutput)
        XCTAssertTrue(result.standardError.hasPrefix(
            "error: matplotlib is not installed for \(python)\nhint: install matplotlib for \(python) (LOCKSTEP_PYTHON), e.g. "),
            result.standardError)
    }

    func testPlotCommandRefusals() throws {
        let missing = try lockstep(["plot", "/nonexistent/run"])
        XCTAssertEqual(missing.exitCode, 66, missing.combinedOutput)
        XCTAssertTrue(missing.standardError.hasPrefix("error: no metrics at /nonexistent/run\n"), missing.standardError)

        if !matplotlibIsInstalled { throw missingTool("python3 cannot import matplotlib") }
        let directory = try temporaryDirectory(for: self)
        let broken = try write("{\"epoch\": 1}\nnot json\n", to: "broken.jsonl", in: directory)
        let result = try lockstep(["plot", broken])
        XCTAssertEqual(result.exitCode, 65, result.combinedOutput)
        XCTAssertTrue(result.standardError.hasPrefix("error: \(broken):2: not JSON"), result.standardError)
        XCTAssertTrue(result.standardError.contains(
            "\nhint: lockstep plot reads what lockstep train writes: a run directory, or its metrics.jsonl"), result.standardError)

        let notMetrics = try write("{\"step\": 0, \"lr\": 0.1}\n", to: "schedule.jsonl", in: directory)
        let wrongFile = try lockstep(["plot", notMetrics])
        XCTAssertEqual(wrongFile.exitCode, 65, wrongFile.combinedOutput)
        XCTAssertTrue(wrongFile.standardError.hasPrefix("error: \(notMetrics):1: no \"epoch\" in {"), wrongFile.standardError)
        XCTAssertTrue(wrongFile.standardError.contains("\nhint: lockstep plot reads"), wrongFile.standardError)

        let binary = directory.appendingPathComponent("binary.jsonl")
        try Data([0x00, 0x01, 0xFF, 0x0A]).write(to: binary)  // not UTF-8: refused by line, not a Python traceback
        let unreadable = try lockstep(["plot", binary.path])
        XCTAssertEqual(unreadable.exitCode, 65, unreadable.combinedOutput)
        XCTAssertTrue(unreadable.standardError.hasPrefix("error: \(binary.path):1: not JSON"), unreadable.standardError)
    }
}
