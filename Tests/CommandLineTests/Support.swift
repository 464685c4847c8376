import Foundation
import TestSupport
import XCTest

/// A training run small enough for a test: 960 samples, 30 steps of 32 per epoch, a 784-16-10 model.
let tinyRun = ["--limit-train", "960", "--limit-test", "100", "--epochs", "1", "--global-batch", "32", "--hidden", "16"]

/// The escape character that starts every ANSI control sequence.
let escape = "\u{1B}"

/// Runs `lockstep ARGUMENTS` (one process) in `directory`, with stdout and stderr to files.
func lockstep(
    _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:], timeout: Double = 120
) throws -> ProcessResult {
    try ProcessRunner.run(
        ProcessRunner.lockstepBinary, arguments, environment: environment, workingDirectory: directory?.path,
        timeout: timeout)
}

/// Writes `text` to `name` in `directory`; returns the path.
@discardableResult
func write(_ text: String, to name: String, in directory: URL) throws -> String {
    let path = directory.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A temporary directory for one test, removed when the test ends.
func temporaryDirectory(for test: XCTestCase) throws -> URL {
    let directory = try ProcessRunner.temporaryDirectory("lockstep-cli")
    test.addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
    return directory
}

/// A python interpreter that cannot import matplotlib (`python3 -S` skips site-packages).
func pythonWithoutMatplotlib(in directory: URL) throws -> String {
    let path = try write("#!/bin/sh\nexec python3 -S \"$@\"\n", to: "python-without-matplotlib", in: directory)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    return path
}

/// True when `python3` can import matplotlib (asked once per test run).
let matplotlibIsInstalled: Bool =
    (try? ProcessRunner.run("/usr/bin/env", ["python3", "-c", "import matplotlib"], timeout: 60).exitCode) == 0
