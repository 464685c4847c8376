import Foundation
import TestSupport
import XCTest

/// `--world-size-invariant --micro-batch M` under real `mpirun`: one params hash at every world
/// size (including world sizes that do not divide the micro-batch count), for an MLP and for a CNN
/// with dropout; a resume chain across world sizes lands on the straight run's hash; and the
/// settings that cannot work are refused by name.
final class WorldSizeInvarianceTests: XCTestCase {
    /// Global batch 48 in micro-batches of 4 (12 per step): 960 samples = 20 steps per epoch.
    private static let common = [
        "--limit-train", "960", "--limit-test", "500", "--global-batch", "48", "--world-size-invariant",
        "--micro-batch", "4", "--verify-every", "5", "--no-checkpoints",
    ]
    private static let mlp = common + ["--hidden", "64,32", "--lr", "0.05", "--epochs", "2"]
    /// Dropout's masks are a function of the sample, so they hold at every world size too.
    private static let cnn = common + [
        "--model", "conv2d(4,3,padding=1) relu maxpool2d(2) dropout(0.25) flatten linear(10)", "--epochs", "1",
        "--optimizer", "adamw", "--lr", "0.003",
    ]

    private func hash(ranks: Int?, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try ranks.map { try ProcessRunner.mpirun(ranks: $0, ["train"] + arguments) }
            ?? ProcessRunner.lockstep(["train"] + arguments)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput, file: file, line: line)
        let label = ranks.map { "\($0) \($0 == 1 ? "rank" : "ranks")" } ?? "1 rank"
        XCTAssertTrue(result.standardOutput.contains("lockstep verified: \(label)"), result.combinedOutput, file: file, line: line)
        return try XCTUnwrap(verifiedParameterHash(in: result.standardOutput), result.combinedOutput, file: file, line: line)
    }

    func testOneHashAtOneToSixRanksForAnMLPAndACNNWithDropout() throws {
        for (name, arguments) in [("mlp", Self.mlp), ("cnn", Self.cnn)] {
            let alone = try hash(ranks: nil, arguments)
            for ranks in [1, 2, 3, 4, 6] {
                XCTAssertEqual(try hash(ranks: ranks, arguments), alone, "\(name) at \(ranks) ranks vs without mpirun")
            }
            // The default mode is not invariant: the check above is not vacuous.
            let plain = arguments.filter { $0 != "--world-size-invariant" }.split(separator: "--micro-batch")
            let defaultArguments = Array(plain[0]) + Array(plain[1].dropFirst())
            XCTAssertNotEqual(
                try hash(ranks: 3, defaultArguments), try hash(ranks: nil, defaultArguments), "\(name): the default mode")
        }
    }

    /// 2 ranks for 7 steps, 3 ranks for 9 more, then 1 rank to the end of the 2 epochs (40 steps):
    /// the straight 2-rank run's hash.
    func testAResumeChainAcrossWorldSizesLandsOnTheStraightRun() throws {
        let directory = try ProcessRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = Self.mlp.filter { $0 != "--no-checkpoints" }
            + ["--checkpoint-dir", directory.appendingPathComponent("checkpoints").path]
        let straight = try hash(ranks: 2, Self.mlp)
        let first = try ProcessRunner.mpirun(ranks: 2, ["train"] + arguments + ["--stop-after-steps", "7"])
        XCTAssertEqual(first.exitCode, 0, first.combinedOutput)
        let second = try ProcessRunner.mpirun(ranks: 3, ["train"] + arguments + ["--resume", "auto", "--stop-after-steps", "9"])
        XCTAssertEqual(second.exitCode, 0, second.combinedOutput)
        XCTAssertTrue(
            second.standardOutput.contains(
                "the checkpoint was written by 2 ranks, this run has 3: training is world-size-invariant, so it continues "
                    + "bitwise on the trajectory of an uninterrupted run"),
            second.combinedOutput)
        let last = try ProcessRunner.lockstep(["train"] + arguments + ["--resume", "auto"])
        XCTAssertEqual(last.exitCode, 0, last.combinedOutput)
        XCTAssertTrue(last.standardOutput.contains("resumed from "), last.combinedOutput)
        XCTAssertEqual(try XCTUnwrap(verifiedParameterHash(in: last.standardOutput), last.combinedOutput), straight)
    }

    func testSettingsThatCannotWorkAreRefusedByName() throws {
        let notDivisor = try ProcessRunner.lockstep(["train", "--world-size-invariant", "--micro-batch", "5", "--limit-train", "960"])
        XCTAssertEqual(notDivisor.exitCode, 64, notDivisor.combinedOutput)
        XCTAssertTrue(notDivisor.standardError.contains(
            "error: --micro-batch 5 does not divide --global-batch 128 (remainder 3)"), notDivisor.combinedOutput)
        let tooManyRanks = try ProcessRunner.mpirun(
            ranks: 3, ["train", "--world-size-invariant", "--micro-batch", "4", "--global-batch", "8", "--limit-train", "960"],
            timeout: 60)
        XCTAssertEqual(tooManyRanks.exitCode, 64, tooManyRanks.combinedOutput)
        XCTAssertTrue(tooManyRanks.standardError.contains(
            "3 ranks but only 2 micro-batches per step (--global-batch 8 / --micro-batch 4)"), tooManyRanks.combinedOutput)
        let missing = try ProcessRunner.lockstep(["train", "--world-size-invariant"])
        XCTAssertEqual(missing.exitCode, 64, missing.combinedOutput)
        XCTAssertTrue(missing.standardError.contains("--world-size-invariant needs --micro-batch M"), missing.combinedOutput)
        let alone = try ProcessRunner.lockstep(["train", "--micro-batch", "16"])
        XCTAssertEqual(alone.exitCode, 64, alone.combinedOutput)
        XCTAssertTrue(alone.standardError.contains("--micro-batch 16 is used only with --world-size-invariant"), alone.combinedOutput)
    }

    /// `--reduction` and `--overlap` do not apply in this mode: a run given them says so once,
    /// and ends with the same hash as without them.
    func testReductionAndOverlapOptionsDoNotApplyAndSaySo() throws {
        let plain = try hash(ranks: 2, Self.mlp)
        let result = try ProcessRunner.mpirun(
            ranks: 2, ["train"] + Self.mlp + ["--reduction", "reduce-scatter-allgather", "--no-overlap"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let warning = "warning: --reduction reduce-scatter-allgather and --no-overlap do not apply with --world-size-invariant"
        XCTAssertEqual(result.combinedOutput.components(separatedBy: warning).count - 1, 1, result.combinedOutput)
        XCTAssertEqual(verifiedParameterHash(in: result.standardOutput), plain, result.combinedOutput)
    }

    /// The default MLP run (10 epochs, 2 ranks) reaches the default mode's test accuracy within
    /// 0.3 points with --micro-batch 16: the exact sum changes the rounding, not the training.
    func testTheDefaultRunReachesTheDefaultModesAccuracy() throws {
        func accuracy(_ extra: [String]) throws -> Double {
            let directory = try ProcessRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let metrics = directory.appendingPathComponent("metrics.jsonl").path
            let result = try ProcessRunner.mpirun(
                ranks: 2, ["train", "--epochs", "10", "--no-checkpoints", "--metrics", metrics] + extra, timeout: 600)
            XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
            return try XCTUnwrap(try readJSONLines(metrics).last?["test_accuracy"] as? Double, result.combinedOutput)
        }
        let plain = try accuracy([])
        let invariant = try accuracy(["--world-size-invariant", "--micro-batch", "16"])
        XCTAssertEqual(invariant, plain, accuracy: 0.003, "10 epochs at 2 ranks: invariant \(invariant), default \(plain)")
        XCTAssertGreaterThan(plain, 0.85, "the default run trained")
    }

    func testDiagnoseInvarianceComparesWithOneRank() throws {
        let result = try ProcessRunner.mpirun(ranks: 3, ["diagnose", "invariance", "--synthetic", "480", "--steps", "5"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let lines = result.standardOutput.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        XCTAssertEqual(lines.count, 2, result.combinedOutput)
        XCTAssertEqual(lines.first?["mode"] as? String, "world-size-invariant")
        XCTAssertEqual(lines.first?["identical"] as? Bool, true, result.combinedOutput)
        XCTAssertEqual(lines.first?["params_hash"] as? String, lines.first?["single_rank_params_hash"] as? String)
        XCTAssertEqual(lines.last?["mode"] as? String, "default")
        XCTAssertEqual(lines.last?["identical"] as? Bool, false, "3 ranks in the default mode sum in another order")
        XCTAssertEqual(lines.first?["fixed_point_bits"] as? Int, 32, "12 micro-batches")
    }

    /// Above 256 micro-batches per global batch the sum is 64-bit: as invariant.
    func testSixtyFourBitSumsAreInvariantToo() throws {
        let result = try ProcessRunner.mpirun(
            ranks: 3, ["diagnose", "invariance", "--synthetic", "600", "--global-batch", "264", "--micro-batch", "1", "--steps", "2"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let line = try XCTUnwrap(result.standardOutput.split(separator: "\n").first.flatMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }, result.combinedOutput)
        XCTAssertEqual(line["fixed_point_bits"] as? Int, 64, "264 micro-batches")
        XCTAssertEqual(line["identical"] as? Bool, true, result.combinedOutput)
    }

    /// Settings every rank refuses alike are said once, by rank 0, with exit 64 and no abort.
    func testDiagnoseInvarianceRefusesTooManyRanksOnce() throws {
        let result = try ProcessRunner.mpirun(
            ranks: 3, ["diagnose", "invariance", "--synthetic", "480", "--global-batch", "32", "--micro-batch", "16"], timeout: 60)
        assertRefusedOnce(result, message: "error: 3 ranks but only 2 micro-batches per step (--global-batch 32 / --micro-batch 16)")
    }
}
