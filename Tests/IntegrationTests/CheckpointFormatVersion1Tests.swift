import Checkpoints
import Foundation
import TestSupport
import XCTest

/// A checkpoint written before the restructuring (format version 1, `Fixtures/README.md`) still
/// loads, evaluates and resumes bitwise: the values asserted here are what the build that wrote
/// the file printed, not what this build computes.
final class CheckpointFormatVersion1Tests: XCTestCase {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/v1-ckpt-step-000000000015.safetensors")
    static let training = [
        "train", "--hidden", "16", "--limit-train", "1280", "--limit-test", "300", "--epochs", "2",
        "--global-batch", "128", "--seed", "3", "--progress", "none",
    ]

    var directory: URL!

    override func setUpWithError() throws {
        directory = try ProcessRunner.temporaryDirectory("checkpoint-v1")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func testTheVersion1FixtureReadsWithItsTensors() throws {
        let checkpoint = try CheckpointReader.read(from: Self.fixture)
        let parameters = ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
        XCTAssertEqual(
            checkpoint.tensors.map(\.name), parameters + parameters.map { "optimizer.momentum_buffer.\($0)" })
        XCTAssertEqual(checkpoint.tensors.map(\.shape), [[16, 784], [16], [10, 16], [10]] + [[16, 784], [16], [10, 16], [10]])
        let inspected = try ProcessRunner.lockstep(["checkpoint", "inspect", Self.fixture.path])
        XCTAssertTrue(inspected.standardOutput.contains("format lockstep-checkpoint version 1;"), inspected.combinedOutput)
    }

    func testTheVersion1FixtureEvaluatesToWhatItsWriterPrinted() throws {
        let result = try ProcessRunner.lockstep(["evaluate", "--checkpoint", Self.fixture.path, "--limit-test", "300"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertTrue(result.standardOutput.contains("test loss 0.9727  test acc 0.6600  (300 samples, 1 rank)"),
                      result.combinedOutput)
    }

    /// The fixture's writer ran OpenBLAS's `SkylakeX` kernel, and the hash of the steps after it
    /// depends on the kernel (on `Cooperlake` the same resume ends with c0c7cdf191aecbde): the
    /// resume runs that kernel too, where the CPU has the AVX-512 it needs.
    func testResumingTheVersion1FixtureEndsBitwiseWhereTheUninterruptedRunEnded() throws {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set((cpu.split(separator: "\n").first { $0.hasPrefix("flags") } ?? "").split(separator: " ").map(String.init))
        guard flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]) else {
            throw XCTSkip("the fixture's hash is the SkylakeX kernel's, and this CPU cannot run it")
        }
        let run = directory.appendingPathComponent("resumed")
        let result = try ProcessRunner.lockstep(
            Self.training + ["--blas-core", "SkylakeX", "--run-dir", run.path, "--resume", Self.fixture.path])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertEqual(verifiedParameterHash(in: result.standardOutput), "1028231fd6d0553b", result.combinedOutput)
        let final = CheckpointDirectory(url: run.appendingPathComponent("checkpoints")).url(step: 20)
        let inspected = try ProcessRunner.lockstep(["checkpoint", "inspect", final.path])
        XCTAssertTrue(inspected.standardOutput.contains("data CRC-32 a862e8c5,"), inspected.combinedOutput)
    }
}
