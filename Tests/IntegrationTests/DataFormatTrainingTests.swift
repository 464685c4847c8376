import Foundation
import TestSupport
import XCTest

/// Your data under `mpirun`: the same Fashion-MNIST subset exported by scripts/export_dataset.py
/// to NPZ, an NPY pair, safetensors and CSV (CRLF, a header) trains at 2 ranks to the params hash
/// of the IDX folder; a bad file is refused once with exit 65 and nothing written; the validation
/// split is the same at 1, 2 and 3 ranks.
final class DataFormatTrainingTests: XCTestCase {
    private static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    private static let exportScript = repositoryRoot.appendingPathComponent("scripts/export_dataset.py").path
    /// 12 steps of 128 at 2 ranks.
    static let common = ["train", "--epochs", "1", "--progress", "none", "--seed", "3", "--no-plots"]

    var directory: URL!

    override func setUpWithError() throws { directory = try ProcessRunner.temporaryDirectory("data-formats") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private func export(_ extra: [String]) throws {
        let result = try ProcessRunner.run(
            "/usr/bin/env", ["python3", Self.exportScript, "--out", directory.path, "--limit-train", "1536", "--limit-test", "300"] + extra,
            timeout: 300)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
    }

    private func hash(ranks: Int, _ data: [String], run: String) throws -> String? {
        let result = try ProcessRunner.mpirun(
            ranks: ranks, Self.common + data + ["--run-dir", directory.appendingPathComponent(run).path], timeout: 300)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        return verifiedParameterHash(in: result.standardOutput)
    }

    func testEveryFormatTrainsToTheHashOfTheIDXFolder() throws {
        try export(["--format", "npz"])
        try export(["--format", "npy"])
        try export(["--format", "safetensors"])
        try export(["--format", "csv", "--crlf"])
        let path = { (name: String) in self.directory.appendingPathComponent(name).path }
        let reference = try XCTUnwrap(try hash(ranks: 2, ["--limit-train", "1536", "--limit-test", "300"], run: "idx"))
        let formats: [(String, [String])] = [
            ("npz", ["--data", path("fashion-mnist.npz")]),
            ("npy", ["--data", path("x_train.npy"), "--data-labels", path("y_train.npy"),
                     "--test-data", path("x_test.npy"), "--test-data-labels", path("y_test.npy")]),
            ("safetensors", ["--data", path("fashion-mnist.safetensors")]),
            ("csv", ["--data", path("fashion-mnist-train.csv"), "--test-data", path("fashion-mnist-test.csv"),
                     "--label-column", "label", "--csv-dtype", "uint8", "--input-shape", "1,28,28"]),
        ]
        for (name, arguments) in formats {
            XCTAssertEqual(try hash(ranks: 2, arguments, run: name), reference, name)
        }
    }

    func testABadFileIsRefusedOnceAtEveryRankWithNothingWritten() throws {
        let bad = directory.appendingPathComponent("bad.csv")
        try "label,a,b\n1,2,3\n0,4\n".write(to: bad, atomically: true, encoding: .utf8)
        let run = directory.appendingPathComponent("refused")
        let result = try ProcessRunner.mpirun(
            ranks: 2, Self.common + ["--data", bad.path, "--test-data", bad.path, "--run-dir", run.path], timeout: 120)
        XCTAssertEqual(result.exitCode, 65, result.combinedOutput)
        let lines = result.standardError.split(separator: "\n").filter { $0.contains("columns; expected") }
        XCTAssertEqual(lines, ["error: \(bad.path):3: 2 columns; expected 3, as the first row"], result.combinedOutput)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.path), "nothing written")
    }

    /// `standard` statistics are stored in the checkpoint: `lockstep evaluate`, which reads the
    /// raw test images, applies them and gives the epoch's test figures.
    func testEvaluateAppliesTheStoredStandardNormalisation() throws {
        let run = directory.appendingPathComponent("standard")
        let trained = try ProcessRunner.mpirun(
            ranks: 2, Self.common + ["--limit-train", "960", "--limit-test", "200", "--global-batch", "96",
                                     "--normalize", "standard", "--run-dir", run.path], timeout: 300)
        XCTAssertEqual(trained.exitCode, 0, trained.combinedOutput)
        XCTAssertTrue(trained.standardOutput.contains("normalize standard (mean 0.2"), trained.standardOutput)
        let epoch = try XCTUnwrap(try readJSONLines(run.appendingPathComponent("metrics.jsonl").path).last)
        let evaluated = try ProcessRunner.lockstep([
            "evaluate", "--checkpoint", run.appendingPathComponent("checkpoints/ckpt-step-000000000010.safetensors").path,
            "--limit-test", "200", "--json"])
        XCTAssertEqual(evaluated.exitCode, 0, evaluated.combinedOutput)
        let result = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(evaluated.standardOutput.utf8)) as? [String: Any])
        XCTAssertEqual(result["test_accuracy"] as? Double, epoch["test_accuracy"] as? Double)
        XCTAssertEqual(result["test_loss"] as? Double ?? 0, epoch["test_loss"] as? Double ?? 1, accuracy: 1e-6)
    }

    /// With a copy per rank, two ranks that read different files refuse to start, naming the field:
    /// the same images as bytes on rank 0 and as `float32` on rank 1.
    func testRanksThatReadDifferentFilesRefuseToStart() throws {
        let bytes = directory.appendingPathComponent("bytes"), floats = directory.appendingPathComponent("floats")
        for (folder, type) in [(bytes, "uint8"), (floats, "float32")] {
            let result = try ProcessRunner.run(
                "/usr/bin/env", ["python3", Self.exportScript, "--out", folder.path, "--format", "npz", "--dtype", type,
                                 "--limit-train", "960", "--limit-test", "100"], timeout: 300)
            XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        }
        let common = Self.common + ["--data-copies", "rank", "--run-dir", directory.appendingPathComponent("mixed").path]
        let result = try ProcessRunner.mpirunMPMD([
            common + ["--data", bytes.appendingPathComponent("fashion-mnist.npz").path],
            common + ["--data", floats.appendingPathComponent("fashion-mnist.npz").path],
        ], timeout: 120)
        XCTAssertEqual(result.exitCode, 76, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("data.featureType: rank 0 has uint8, rank 1 has float32"), result.combinedOutput)
    }

    /// The held-out samples at 1, 2 and 3 ranks: the training part's label CRC-32 and size in
    /// each run's checkpoint (which the ranks of each run also agreed on at start-up).
    func testTheValidationSplitIsTheSameAtOneTwoAndThreeRanks() throws {
        var fingerprints: [String] = []
        for ranks in [1, 2, 3] {
            let run = directory.appendingPathComponent("split-\(ranks)")
            let result = try ProcessRunner.mpirun(
                ranks: ranks, Self.common + ["--limit-train", "960", "--limit-test", "100", "--global-batch", "96",
                                             "--validation-split", "0.2", "--run-dir", run.path], timeout: 300)
            XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
            XCTAssertTrue(result.standardOutput.contains("768 training samples of 1×28×28 uint8 (+ 192 held out for validation)"),
                          result.standardOutput)
            let metrics = try readJSONLines(run.appendingPathComponent("metrics.jsonl").path)
            XCTAssertNotNil(metrics.first?["val_accuracy"] as? Double)
            let inspect = try ProcessRunner.lockstep(["checkpoint", "inspect", run.appendingPathComponent("checkpoints/ckpt-step-000000000008.safetensors").path])
            let data = inspect.standardOutput.split(separator: "\n").filter { $0.contains("training_labels_crc32") || $0.contains("training_samples") }
            XCTAssertEqual(data.count, 2, inspect.combinedOutput)
            fingerprints.append(data.joined(separator: " "))
        }
        XCTAssertEqual(Set(fingerprints).count, 1, "\(fingerprints)")
    }
}
