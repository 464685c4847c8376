import Foundation
import TestSupport
import XCTest

/// `lockstep bench gemm|step|allreduce` on tiny sizes: each runs and emits its documented JSON
/// fields (benchmarks are not timed tests: no assertion on speed).
final class BenchCommandTests: XCTestCase {
    private func jsonLines(_ output: String) -> [[String: Any]] {
        output.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    private func assertFields(_ object: [String: Any], _ keys: [String], file: StaticString = #filePath, line: UInt = #line) {
        for key in keys { XCTAssertNotNil(object[key], "field \(key) in \(object)", file: file, line: line) }
    }

    func testGEMMEmitsEveryShapeOfTheModelAndTheStepRoofline() throws {
        let result = try ProcessRunner.lockstep(["bench", "gemm", "--hidden", "16", "--batch", "4", "--repetitions", "1", "--json"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let lines = jsonLines(result.standardOutput)
        // 784-16-10: forward and weight gradient of both layers, input gradient of the second.
        XCTAssertEqual(lines.compactMap { $0["shape"] as? String },
                       ["layer0.forward", "layer0.weight_gradient", "layer1.forward", "layer1.weight_gradient",
                        "layer1.input_gradient", "step"], result.combinedOutput)
        for line in lines { XCTAssertEqual(line["bench"] as? String, "gemm") }
        assertFields(lines[0], ["m", "n", "k", "seconds", "gflops"])
        XCTAssertEqual(lines[0]["m"] as? Int, 4)
        XCTAssertEqual(lines[0]["n"] as? Int, 16)
        XCTAssertEqual(lines[0]["k"] as? Int, 784)
        let step = lines.last!
        assertFields(step, ["model", "batch", "flops", "seconds", "gflops", "blas_core", "blas_threads"])
        // GEMM FLOPs of a step, by hand: forward 2·(784·16 + 16·10) = 25,408, the same again for the
        // weight gradients, plus the second layer's input gradient 2·16·10 = 320: 51,136 per
        // sample, × batch 4 = 204,544.
        XCTAssertEqual(step["flops"] as? Int, 204_544)
        XCTAssertGreaterThan(step["gflops"] as? Double ?? 0, 0)
    }

    func testStepEmitsItsFieldsAtOneRank() throws {
        let result = try ProcessRunner.lockstep(
            ["bench", "step", "--synthetic", "256", "--global-batch", "32", "--hidden", "16", "--warmup", "1", "--steps", "3",
             "--repetitions", "2", "--json"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let lines = jsonLines(result.standardOutput)
        XCTAssertEqual(lines.count, 1, result.combinedOutput)
        let step = lines[0]
        assertFields(step, StepFields.all)
        XCTAssertEqual(step["bench"] as? String, "step")
        XCTAssertEqual(step["ranks"] as? Int, 1)
        XCTAssertEqual(step["local_batch"] as? Int, 32)
        XCTAssertEqual(step["model"] as? String, "784-16-10")
        XCTAssertGreaterThan(step["samples_per_s"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(step["roofline_fraction"] as? Double ?? 0, 0)
        XCTAssertGreaterThan(step["peak_rss_bytes"] as? Int ?? 0, 0)
        XCTAssertNil(step["ceiling_fraction"], "one rank has no ceiling to measure")
    }

    func testStepUnderMPIAtTwoRanksReportsTheCommunicationWait() throws {
        let result = try ProcessRunner.mpirun(
            ranks: 2,
            ["bench", "step", "--synthetic", "256", "--global-batch", "32", "--hidden", "16", "--warmup", "1", "--steps", "3",
             "--repetitions", "1", "--json"], timeout: 60)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let lines = jsonLines(result.standardOutput)
        XCTAssertEqual(lines.count, 1, "rank 0 alone prints: \(result.combinedOutput)")
        assertFields(lines[0], StepFields.all)
        XCTAssertEqual(lines[0]["ranks"] as? Int, 2)
        XCTAssertEqual(lines[0]["local_batch"] as? Int, 16)
        XCTAssertEqual(lines[0]["overlap"] as? Bool, true)
        let wait = lines[0]["wait_fraction"] as? Double ?? -1
        XCTAssertTrue(wait >= 0 && wait <= 1, "wait fraction \(wait)")
        // The ceiling: the same step on both ranks at once without communication.
        let ceiling = try XCTUnwrap(lines[0]["ceiling_samples_per_s"] as? Double, result.combinedOutput)
        let fraction = try XCTUnwrap(lines[0]["ceiling_fraction"] as? Double, result.combinedOutput)
        XCTAssertGreaterThan(ceiling, 0)
        // One repetition: the fraction is exactly samples/s over the ceiling.
        XCTAssertEqual(fraction, (lines[0]["samples_per_s"] as? Double ?? 0) / ceiling, accuracy: 1e-12)
    }

    /// `--reduction sharded` holds half of Adam's state per rank at 2 ranks: 784-16-10 has 12,730
    /// parameters, so two moments of 4 bytes are 101,840 bytes, and each rank's slice of 6,365 is
    /// 50,920.
    func testStepWithShardedAdamHoldsHalfTheOptimizerStatePerRank() throws {
        var state: [String: Int] = [:]
        for reduction in ["allreduce", "sharded"] {
            let result = try ProcessRunner.mpirun(
                ranks: 2,
                ["bench", "step", "--synthetic", "256", "--global-batch", "32", "--hidden", "16", "--warmup", "1", "--steps", "3",
                 "--repetitions", "1", "--optimizer", "adam", "--reduction", reduction, "--json"], timeout: 60)
            XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
            let lines = jsonLines(result.standardOutput)
            XCTAssertEqual(lines.count, 1, result.combinedOutput)
            assertFields(lines[0], StepFields.all)
            XCTAssertEqual(lines[0]["reduction"] as? String, reduction)
            state[reduction] = lines[0]["optimizer_state_bytes"] as? Int
        }
        XCTAssertEqual(state, ["allreduce": 101_840, "sharded": 50_920])
    }

    /// With --world-size-invariant: the default mode timed in the same run, and its share; none
    /// at a world size that does not divide the global batch (3 ranks and 40 samples: the invariant
    /// mode still runs there, 5 micro-batches of 8 dealt 2, 2, 1).
    func testStepInTheInvariantModeTimesTheDefaultModeInTheSameRun() throws {
        for (ranks, hasDefault) in [(2, true), (3, false)] {
            let result = try ProcessRunner.mpirun(
                ranks: ranks,
                ["bench", "step", "--synthetic", "256", "--global-batch", ranks == 2 ? "32" : "40", "--hidden", "16",
                 "--world-size-invariant", "--micro-batch", "8", "--warmup", "1", "--steps", "3", "--repetitions", "1", "--json"],
                timeout: 60)
            XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
            let line = try XCTUnwrap(jsonLines(result.standardOutput).first, result.combinedOutput)
            XCTAssertEqual(line["reduction"] as? String, "fixed-point")
            XCTAssertEqual(line["fixed_point_bits"] as? Int, 32, "4 or 5 micro-batches: 32-bit sums")
            guard hasDefault else {
                XCTAssertNil(line["default_samples_per_s"], "\(ranks) ranks do not divide 40")
                continue
            }
            let plain = try XCTUnwrap(line["default_samples_per_s"] as? Double, result.combinedOutput)
            let fraction = try XCTUnwrap(line["default_fraction"] as? Double, result.combinedOutput)
            // One repetition: the fraction is exactly this mode's samples/s over the default's.
            XCTAssertEqual(fraction, (line["samples_per_s"] as? Double ?? 0) / plain, accuracy: 1e-12)
        }
    }

    /// Settings every rank refuses alike are said once, by rank 0, with exit 64 and no abort.
    func testStepRefusesABatchTheRanksCannotSplitOnce() throws {
        let result = try ProcessRunner.mpirun(
            ranks: 3, ["bench", "step", "--synthetic", "256", "--global-batch", "100", "--steps", "3"], timeout: 60)
        assertRefusedOnce(result, message: "error: --global-batch 100 does not split evenly over 3 ranks")
    }

    func testAllreduceEmitsEveryModeAndSizeBesideThePlainLoop() throws {
        let result = try ProcessRunner.mpirun(
            ranks: 2, ["bench", "allreduce", "--min-bytes", "4096", "--max-bytes", "16384", "--repetitions", "1", "--calls", "5",
                         "--json"],
            timeout: 60)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let lines = jsonLines(result.standardOutput)
        XCTAssertEqual(lines.map { "\($0["mode"] ?? "") \($0["bytes"] ?? "")" },
                       ["allreduce 4096", "allreduce 16384", "reduce-scatter-allgather 4096", "reduce-scatter-allgather 16384",
                        "sharded 4096", "sharded 16384", "hierarchical 4096", "hierarchical 16384"],
                       result.combinedOutput)
        for line in lines {
            assertFields(line, ["bench", "ranks", "buckets", "calls", "repetitions", "plain_seconds", "plain_gbps",
                                "path_seconds", "path_gbps", "ratio", "peak_rss_bytes"])
            XCTAssertEqual(line["ranks"] as? Int, 2)
            XCTAssertGreaterThan(line["path_gbps"] as? Double ?? 0, 0)
            // The sum through the node's shared memory is timed beside MPI_Allreduce (both ranks
            // share this node), and only there.
            let isAllreduce = line["mode"] as? String == "allreduce"
            XCTAssertEqual(line["shared_memory_gbps"] != nil, isAllreduce, "\(line)")
            XCTAssertEqual(line["shared_memory_seconds"] != nil, isAllreduce, "\(line)")
            if isAllreduce { XCTAssertGreaterThan(line["shared_memory_gbps"] as? Double ?? 0, 0, "\(line)") }
        }
        XCTAssertFalse(result.combinedOutput.contains("warning: bench allreduce on 1 rank"), result.combinedOutput)
    }

    /// Without mpirun there is no one to send to: the GB/s are memory copies, and it says so.
    func testAllreduceOnOneRankSaysItMeasuresNoCommunication() throws {
        let result = try ProcessRunner.lockstep(
            ["bench", "allreduce", "--min-bytes", "4096", "--max-bytes", "4096", "--repetitions", "1", "--calls", "2", "--json"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains(
            "warning: bench allreduce on 1 rank moves no data between ranks: its GB/s are memory copies; run it under mpirun -np 2 or more"),
            result.combinedOutput)
        XCTAssertEqual(jsonLines(result.standardOutput).first?["ranks"] as? Int, 1, result.combinedOutput)
        XCTAssertNil(jsonLines(result.standardOutput).first?["shared_memory_gbps"], result.combinedOutput)
    }

    func testATerminalGetsATableInsteadOfJSON() throws {
        // `script` gives the command a pseudo-terminal, so isatty(stdout) is true.
        let result = try ProcessRunner.run(
            "/usr/bin/script", ["-qec", "\(ProcessRunner.lockstepBinary) bench gemm --hidden 8 --batch 2 --repetitions 1", "/dev/null"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertTrue(result.standardOutput.contains("GFLOP/s"), result.combinedOutput)
        XCTAssertFalse(result.standardOutput.contains("{\""), result.combinedOutput)
    }

    func testBadValuesAreRefusedWithTheFlagNamed() throws {
        let result = try ProcessRunner.lockstep(["bench", "allreduce", "--min-bytes", "2"])
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("--min-bytes"), result.combinedOutput)
    }
}

/// The documented fields of a `bench step` line.
private enum StepFields {
    static let all = [
        "bench", "model", "ranks", "global_batch", "local_batch", "reduction", "overlap", "bucket_mb", "buckets", "steps",
        "repetitions", "samples_per_s", "step_seconds", "gflops_per_rank", "roofline_gflops", "roofline_fraction",
        "wait_fraction", "progress_fraction", "cpu_per_wall", "peak_rss_bytes", "memory_budget_bytes", "optimizer_state_bytes", "blas_core", "blas_threads",
    ]
}
