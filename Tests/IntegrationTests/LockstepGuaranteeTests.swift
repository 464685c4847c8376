import Foundation
import TestSupport
import XCTest

/// Issue 4's guarantees, each shown firing under real `mpirun` with fault injection
/// (`LOCKSTEP_FAULT`, see `FaultPlan`).
final class LockstepGuaranteeTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try ProcessRunner.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// 2,496 samples, 26 steps of 96 per epoch (96 splits over 2, 3 and 4 ranks), a small model;
    /// the metrics path (unique to this test) lets the test find leftover processes.
    private func arguments(_ extra: [String] = []) -> [String] {
        ["train", "--limit-train", "2496", "--limit-test", "500", "--epochs", "2", "--global-batch", "96", "--hidden", "32",
         "--metrics", directory.appendingPathComponent("metrics.jsonl").path] + extra
    }

    private func train(ranks: Int, fault: String? = nil, _ extra: [String] = [], timeout: Double = 120) throws -> ProcessResult {
        try ProcessRunner.mpirun(
            ranks: ranks, arguments(extra), mpirunOptions: fault == nil ? [] : ["-x", "LOCKSTEP_FAULT"],
            environment: fault.map { ["LOCKSTEP_FAULT": $0] } ?? [:], timeout: timeout)
    }

    /// No process of this test's job is still running shortly after mpirun returned.
    private func assertNoProcessLeft(file: StaticString = #filePath, line: UInt = #line) throws {
        var leftovers = ""
        for _ in 0..<10 {
            let result = try ProcessRunner.run("/usr/bin/pgrep", ["-f", directory.lastPathComponent])
            leftovers = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            if leftovers.isEmpty { return }
            Thread.sleep(forTimeInterval: 0.5)
        }
        XCTFail("processes left behind: \(leftovers)", file: file, line: line)
    }

    // MARK: - Verification

    func testOneBitFlipOnOneRankIsCaughtAtTheNextVerification() throws {
        // The flip happens in step 7's update (global step 7 → 8); checks run at steps 5, 10, ….
        let result = try train(ranks: 3, fault: "bitflip:rank=2:step=7", ["--verify-every", "5"])
        XCTAssertEqual(result.exitCode, 76, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("lockstep violation at step 10 (periodic check): parameters differ: ranks 0,1 vs ranks 2"),
                      result.combinedOutput)
        XCTAssertFalse(result.standardOutput.contains("lockstep verified"))
        try assertNoProcessLeft()
    }

    func testAnOptimizerBufferDifferenceIsCaughtAndNamed() throws {
        // The flip happens in step 9's update (global step 9 → 10), just before the check at 10,
        // so the momentum buffer alone differs there.
        let result = try train(ranks: 2, fault: "perturb-optimizer:rank=1:step=9", ["--verify-every", "5"])
        XCTAssertEqual(result.exitCode, 76, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains(
            "error: lockstep violation at step 10 (periodic check): optimizer.momentum_buffer differ: ranks 0 vs ranks 1 (injected)\n"),
            result.combinedOutput)
        try assertNoProcessLeft()
    }

    func testACounterDifferenceIsCaughtAndNamed() throws {
        let result = try train(ranks: 2, fault: "perturb-counter:rank=1:step=9", ["--verify-every", "5"])
        XCTAssertEqual(result.exitCode, 76, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains(
            "error: lockstep violation at step 10 (periodic check): counters (global step, optimizer step, skipped steps, lr) differ: ranks 0 vs ranks 1 (injected)\n"),
            result.combinedOutput)
        try assertNoProcessLeft()
    }

    /// Rank 0 is the source of truth: a rank whose own initial state differs from rank 0's is
    /// named before the first step.
    func testARankWhoseInitialStateDiffersFromRankZerosIsRefused() throws {
        let result = try train(ranks: 3, fault: "perturb-state:rank=2")
        XCTAssertEqual(result.exitCode, 76, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains(
            "error: lockstep violation at step 0 (initial state from seed 0): parameters differ: ranks 0,1 vs ranks 2 (injected)\n"),
            result.combinedOutput)
        XCTAssertFalse(result.standardOutput.contains("epoch 1/"), "nothing was trained")
        try assertNoProcessLeft()
    }

    func testWithoutTheFaultTheSameRunVerifies() throws {
        // The control for the test above: the check does not fire on an honest run.
        let result = try train(ranks: 3, ["--verify-every", "5"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertNotNil(verifiedParameterHash(in: result.standardOutput))
    }

    // MARK: - Non-finite values

    func testNaNOnOneRankAbortsEveryRankAtThatStep() throws {
        let result = try train(ranks: 2, fault: "nan:rank=1:step=3")
        XCTAssertEqual(result.exitCode, 79, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("non-finite loss (nan) at step 3"), result.combinedOutput)
        XCTAssertEqual(result.standardError.components(separatedBy: "non-finite").count - 1, 1, "reported once, by rank 0")
        XCTAssertFalse(result.standardError.contains("MPI_ABORT"), "every rank knew: an orderly exit, no abort banner")
        try assertNoProcessLeft()
    }

    func testInfinityOnOneRankAbortsEveryRankAtThatStep() throws {
        let result = try train(ranks: 2, fault: "inf:rank=1:step=3")
        XCTAssertEqual(result.exitCode, 79, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("error: non-finite loss (inf) at step 3 (injected)\n"), result.combinedOutput)
        try assertNoProcessLeft()
    }

    func testNaNOnOneRankIsSkippedByEveryRankWithSkip() throws {
        let result = try train(ranks: 3, fault: "nan:rank=1:step=3", ["--on-nonfinite", "skip", "--verify-every", "1"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertNotNil(verifiedParameterHash(in: result.standardOutput), "every rank ends identical")
        XCTAssertTrue(result.standardError.contains("non-finite loss (nan) at step 3: update skipped on every rank (1 skipped so far)"),
                      result.combinedOutput)
        let lines = try readJSONLines(directory.appendingPathComponent("metrics.jsonl").path)
        XCTAssertEqual(lines.last?["skipped_steps"] as? Int, 1)
    }

    // MARK: - Start-up agreement

    func testRanksStartedWithDifferentLearningRatesAreRefusedNamingLR() throws {
        let common = ["train", "--limit-train", "960", "--limit-test", "100", "--epochs", "1", "--hidden", "16"]
        let result = try ProcessRunner.mpirunMPMD([common + ["--lr", "0.1"], common + ["--lr", "0.2"]], timeout: 60)
        XCTAssertEqual(result.exitCode, 76, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("schedule.learningRate (--lr): rank 0 has 0.1, rank 1 has 0.2"),
                      result.combinedOutput)
        XCTAssertFalse(result.standardOutput.contains("epoch 1/"), "nothing was trained")
    }

    func testRanksWithDifferentDataAreRefused() throws {
        // A copy per rank: each rank reads (and checksums) its own data.
        let common = ["train", "--limit-test", "100", "--epochs", "1", "--hidden", "16", "--data-copies", "rank"]
        let result = try ProcessRunner.mpirunMPMD([common + ["--limit-train", "960"], common + ["--limit-train", "1024"]], timeout: 60)
        XCTAssertEqual(result.exitCode, 76, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("limitTrain (--limit-train): rank 0 has 960, rank 1 has 1024"), result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("data.trainingLabelsCRC32"), result.combinedOutput)
    }

    // MARK: - No hang

    func testARankExitingMidRunEndsTheJobWithinSeconds() throws {
        let result = try train(ranks: 3, fault: "exit:rank=1:step=5", timeout: 60)
        XCTAssertNotEqual(result.exitCode, 0, result.combinedOutput)
        // It is that exit that ended the job (not some earlier failure): rank 1 said so at step 5.
        XCTAssertTrue(result.standardError.contains("rank 1: fault injection: exiting at step 5"), result.combinedOutput)
        XCTAssertFalse(result.timedOut)
        XCTAssertLessThan(result.seconds, 20)
        try assertNoProcessLeft()
    }

    func testARankDyingBySIGSEGVEndsTheJobWithinSeconds() throws {
        let result = try train(ranks: 3, fault: "segv:rank=1:step=5", timeout: 60)
        XCTAssertFalse(result.timedOut)
        XCTAssertLessThan(result.seconds, 20)
        XCTAssertTrue(result.standardError.contains("rank 1: fault injection: SIGSEGV at step 5"), result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("exited on signal 11 (Segmentation fault)"), result.combinedOutput)
        XCTAssertFalse(result.standardError.contains("Thread 0"), "no backtrace: \(result.combinedOutput)")
        XCTAssertNotEqual(result.exitCode, 0)
        try assertNoProcessLeft()
    }

    /// A failing MPI call ends the job with exit 69 and the call's MPI error.
    func testAFailingMPICallEndsTheJobWithTheMPIStatus() throws {
        let result = try train(ranks: 2, fault: "mpi-error:rank=1:step=4", timeout: 60)
        XCTAssertEqual(result.exitCode, 69, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains(
            "rank 1: error: MPI broadcast of 1 bytes from rank 2 failed: MPI_ERR_ROOT: invalid root (code 8) (injected)"),
            result.combinedOutput)
        XCTAssertFalse(result.timedOut)
        try assertNoProcessLeft()
    }

    /// A slow rank slows the job, never its results: the same parameters as without the fault.
    func testASlowRankChangesNoBit() throws {
        let honest = try train(ranks: 2, ["--verify-every", "5"])
        let slow = try train(ranks: 2, fault: "slow:rank=1:step=3:factor=3", ["--verify-every", "5"])
        XCTAssertEqual(slow.exitCode, 0, slow.combinedOutput)
        XCTAssertEqual(verifiedParameterHash(in: slow.standardOutput), verifiedParameterHash(in: honest.standardOutput))
        XCTAssertNotNil(verifiedParameterHash(in: honest.standardOutput), honest.combinedOutput)
    }

    /// Issue 18's straggler: rank 1 of 3 computing twice as long from step 1 on is named on both
    /// epoch lines and in the metrics (about +100 % over the median rank; a model large enough
    /// that a step's compute, about 2 ms, dwarfs this machine's timing noise).
    func testASlowRankIsNamedInTheEpochLinesAndTheMetrics() throws {
        let slow = try train(
            ranks: 3, fault: "slow:rank=1:step=1:factor=2", ["--limit-train", "9600", "--hidden", "256", "--no-checkpoints"])
        XCTAssertEqual(slow.exitCode, 0, slow.combinedOutput)
        var name = [CChar](repeating: 0, count: 256)
        XCTAssertEqual(gethostname(&name, 255), 0)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let epochLines = slow.standardOutput.split(separator: "\n").filter { $0.contains("test acc") }
        XCTAssertEqual(epochLines.count, 2, slow.combinedOutput)
        for line in epochLines {
            XCTAssertNotNil(line.range(of: #"  slowest rank 1 on \#(host): \+\d+% compute \(median [0-9.]+ s\)$"#, options: .regularExpression), String(line))
        }
        let metrics = try readJSONLines(directory.appendingPathComponent("metrics.jsonl").path)
        XCTAssertEqual(metrics.count, 2)
        for line in metrics {
            XCTAssertEqual(line["slowest_rank"] as? Int, 1, "\(line)")
            XCTAssertEqual(line["slowest_host"] as? String, host, "\(line)")
            // About +100 % on idle cores; 3 ranks share 2 cores here, and other work on the machine
            // shrinks it (+49 % was seen under a concurrent build): well above the 15 % that names a rank.
            XCTAssertGreaterThan(line["slowest_excess"] as? Double ?? 0, 0.3, "\(line)")
        }
    }

    func testAStallingRankIsEndedByTheWatchdog() throws {
        let result = try train(ranks: 2, fault: "stall:rank=1:step=5", ["--stall-timeout", "3"], timeout: 60)
        XCTAssertEqual(result.exitCode, 75, result.combinedOutput)
        XCTAssertFalse(result.timedOut)
        XCTAssertLessThan(result.seconds, 3 + 12, "within the timeout plus a few seconds")
        XCTAssertTrue(result.standardError.contains("stalled: no progress for"), result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("at step 5 in"), result.combinedOutput)
        try assertNoProcessLeft()
    }

    // MARK: - Equal work

    func testUnevenDatasetSizes() throws {
        // 1001 samples over 3 ranks, global batch 99: 10 steps of 33 per rank, 11 samples dropped.
        var result = try ProcessRunner.mpirun(
            ranks: 3, ["train", "--limit-train", "1001", "--limit-test", "101", "--epochs", "1", "--global-batch", "99",
                       "--hidden", "16"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertTrue(result.standardOutput.contains("global batch 99 (33 per rank), 10 steps/epoch"), result.combinedOutput)
        XCTAssertNotNil(verifiedParameterHash(in: result.standardOutput))
        // 5 samples over 4 ranks (global batch 4: one step); 3 test samples leave a rank with none.
        result = try ProcessRunner.mpirun(
            ranks: 4, ["train", "--limit-train", "5", "--limit-test", "3", "--epochs", "2", "--global-batch", "4",
                       "--hidden", "8"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertTrue(result.standardOutput.contains("global batch 4 (1 per rank), 1 steps/epoch"), result.combinedOutput)
        XCTAssertNotNil(verifiedParameterHash(in: result.standardOutput))
    }

    func testAGlobalBatchThatDoesNotSplitIsRefusedUpFront() throws {
        let result = try ProcessRunner.mpirun(ranks: 3, ["train", "--limit-train", "960", "--epochs", "1", "--global-batch", "128"])
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput)
        XCTAssertTrue(result.standardError.contains("--global-batch 128 does not split evenly over 3 ranks"), result.combinedOutput)
    }

    // MARK: - Identical reduction

    func testEveryReductionModeGivesIdenticalBytesOnEveryRank() throws {
        for ranks in [2, 3, 4] {
            let result = try ProcessRunner.mpirun(ranks: ranks, ["diagnose", "reduction", "--sizes", "1,3,7,1001,65537", "--repeats", "2"])
            XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
            let lines = result.standardOutput.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            XCTAssertEqual(lines.count, 25, result.combinedOutput)  // 4 modes and shared memory × 5 sizes
            for line in lines {
                XCTAssertEqual(line["identical_across_ranks"] as? Bool, true, "\(line)")
                XCTAssertEqual(line["ranks"] as? Int, ranks)
                XCTAssertLessThan(line["max_relative_error"] as? Double ?? 1, 1e-5, "\(line)")
                // The ring of --reduction sharded sums in its documented order (sizes 1 and 3
                // leave some ranks' blocks empty), the shared-memory sum in rank order.
                if ["sharded", "shared-memory"].contains(line["mode"] as? String) {
                    XCTAssertEqual(line["documented_order"] as? Bool, true, "\(line)")
                }
            }
            XCTAssertEqual(lines.filter { $0["mode"] as? String == "sharded" }.count, 5)
            XCTAssertEqual(lines.filter { $0["mode"] as? String == "shared-memory" }.count, 5)
        }
    }
}
