import Foundation
import TestSupport
import XCTest

/// The built `lockstep` binary under real `mpirun` at 1 to 4 ranks.
final class MultiRankTrainingTests: XCTestCase {
    /// A small run: 2,496 samples = 26 global batches of 96 (96 divides by 1, 2, 3 and 4 ranks).
    private func train(ranks: Int, metrics: String, extra: [String] = []) throws -> ProcessResult {
        try ProcessRunner.mpirun(
            ranks: ranks,
            ["train", "--limit-train", "2496", "--limit-test", "1000", "--epochs", "2", "--global-batch", "96",
             "--hidden", "64,32", "--lr", "0.05", "--metrics", metrics, "--verify-every", "10"] + extra)
    }

    func testOneToFourRanksTrainVerifyAndAgreeWithOneRank() throws {
        let directory = try ProcessRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var finalLoss: [Int: (train: Double, test: Double)] = [:]
        for ranks in 1...4 {
            let metricsPath = directory.appendingPathComponent("metrics-\(ranks).jsonl").path
            let result = try train(ranks: ranks, metrics: metricsPath)
            XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
            XCTAssertNotNil(verifiedParameterHash(in: result.standardOutput), result.combinedOutput)
            XCTAssertTrue(result.standardOutput.contains("lockstep verified: \(ranks) \(ranks == 1 ? "rank" : "ranks"), params hash"), result.combinedOutput)
            let lines = try readJSONLines(metricsPath)
            XCTAssertEqual(lines.count, 2)
            let losses = lines.compactMap { $0["train_loss"] as? Double }
            XCTAssertEqual(losses.count, 2)
            XCTAssertLessThan(losses[1], losses[0], "training loss falls from epoch 1 to 2 at \(ranks) ranks")
            for key in ["epoch", "lr", "train_loss", "test_loss", "test_accuracy", "samples_per_s"] {
                XCTAssertNotNil(lines[0][key], "metrics line has \(key)")
            }
            finalLoss[ranks] = (losses[1], try XCTUnwrap(lines[1]["test_loss"] as? Double))
        }
        // Same global batches in the same order at every world size: only the summation order
        // differs (Float sums of the same terms, grouped by rank), so after 52 steps the losses
        // agree to about 1e-7 relative (measured: 3e-8 train, 7e-8 test); a wrong gradient scale
        // or a lost sample would be off by far more than 1e-6.
        for ranks in [2, 3, 4] {
            assertClose(finalLoss[ranks]!.train, finalLoss[1]!.train, relative: 1e-6, "train loss, \(ranks) ranks vs 1")
            assertClose(finalLoss[ranks]!.test, finalLoss[1]!.test, relative: 1e-6, "test loss, \(ranks) ranks vs 1")
        }
    }

    func testOnlyRankZeroPrints() throws {
        let directory = try ProcessRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try train(ranks: 3, metrics: directory.appendingPathComponent("m.jsonl").path)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let epochLines = logLines(result.standardOutput).filter { $0.hasPrefix("epoch ") && $0.contains("test acc") }
        XCTAssertEqual(epochLines.count, 2, result.combinedOutput)
        XCTAssertEqual(result.standardOutput.components(separatedBy: "lockstep verified").count - 1, 1)
        // The epoch line may name rank 1 as the slowest (3 ranks on 2 cores); apart from that clause,
        // nothing rank 1 says reaches the output.
        let withoutStraggler = result.standardOutput.replacingOccurrences(
            of: #"slowest rank \d+ on \S+"#, with: "", options: .regularExpression)
        XCTAssertFalse(withoutStraggler.contains("rank 1"), result.combinedOutput)
    }

    /// A mistake every rank makes alike is said once, by rank 0, without Open MPI's abort banner.
    func testAUsageErrorUnderMpirunIsPrintedOnce() throws {
        let result = try ProcessRunner.mpirun(ranks: 3, ["train", "--lrr", "0.1"], timeout: 60)
        assertRefusedOnce(result, message: "error: Unknown option '--lrr'. Did you mean '--lr'?")
    }

    func testOneRankWithUnreadableDataEndsTheJobWithinSeconds() throws {
        // Each rank reads its own copy (with one copy per node, only node rank 0 reads, and rank 1's
        // path is not used).
        let good = ["train", "--limit-train", "960", "--limit-test", "100", "--epochs", "1", "--global-batch", "96", "--data-copies", "rank"]
        let result = try ProcessRunner.mpirunMPMD([good, good + ["--data-dir", "/nonexistent/fashion"]], timeout: 60)
        XCTAssertNotEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertFalse(result.timedOut)
        XCTAssertLessThan(result.seconds, 20, "the job ends promptly")
        XCTAssertTrue(result.standardError.contains("error: rank 1: dataset file /nonexistent/fashion"), result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("/nonexistent/fashion"), result.combinedOutput)
    }
}

/// Overlapped and non-overlapped gradient reduction give bitwise-identical parameters.
final class OverlapTrainingTests: XCTestCase {
    private func parameterHash(ranks: Int, _ extra: [String]) throws -> String? {
        let result = try ProcessRunner.mpirun(
            ranks: ranks,
            ["train", "--limit-train", "1536", "--limit-test", "100", "--epochs", "1", "--global-batch", "96",
             "--hidden", "256,32", "--verify-every", "5"] + extra, timeout: 90)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        return verifiedParameterHash(in: result.standardOutput)
    }

    func testOverlapDoesNotChangeAnyBitAtTwoAndThreeRanks() throws {
        for ranks in [2, 3] {
            // 784-256-32-10 with buckets of 0.05 MiB (13,107 elements): 3 buckets (the last two
            // layers with the loss, then each of the first layer's two 128-row weight blocks),
            // started during backward; --no-overlap starts the same buckets after backward.
            let overlapped = try parameterHash(ranks: ranks, ["--bucket-mb", "0.05"])
            let afterwards = try parameterHash(ranks: ranks, ["--bucket-mb", "0.05", "--no-overlap"])
            XCTAssertNotNil(overlapped)
            XCTAssertEqual(overlapped, afterwards, "\(ranks) ranks: overlapped vs not")
        }
    }

    func testReduceScatterAllgatherFallsBackToOneReductionAfterBackward() throws {
        // Overlap is asked for (the default) but this mode has no nonblocking form: it still
        // trains and verifies.
        XCTAssertNotNil(try parameterHash(ranks: 3, ["--reduction", "reduce-scatter-allgather", "--bucket-mb", "0.05"]))
    }
}
