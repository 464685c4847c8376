import Foundation
import TestSupport
import XCTest

/// `lockstep schedule table|analyze`, run as the built binary. Reference values as in
/// SchedulesTests (issue 3's list, checked with mpmath).
final class ScheduleCommandTests: XCTestCase {
    private struct Row: Decodable, Equatable {
        let step: Int64
        let epoch: Int64
        let lr: Double
    }

    private func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try ProcessRunner.lockstep(["schedule"] + arguments, timeout: 60)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput, file: file, line: line)
        return result.standardOutput
    }

    private func table(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [Row] {
        let output = try run(["table", "--json"] + arguments, file: file, line: line)
        return try output.split(separator: "\n").map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
    }

    /// Runs a command that must fail with EX_USAGE (64) and returns its standard error.
    private func usageError(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try ProcessRunner.lockstep(["schedule"] + arguments, timeout: 60)
        XCTAssertEqual(result.exitCode, 64, result.combinedOutput, file: file, line: line)
        XCTAssertEqual(result.standardOutput, "", file: file, line: line)
        return result.standardError
    }

    /// `--lr-scaling` and `--global-batch` give the rates `train` uses: the schedule of
    /// ResumeExactnessCommandTests (lr 0.05 scaled linearly from batch 128 to 256, warmup 6 steps
    /// from 1% of the scaled rate, γ 0.7 per step, floor 0.01 scaled), computed here from the
    /// formulas of DESIGN.md §4 in Double, and the two points that `train` logs for that run.
    func testTableScalesTheLearningRateToTheGlobalBatchAsTrainDoes() throws {
        let rows = try table([
            "--lr", "0.05", "--lr-scaling", "linear", "--global-batch", "256", "--unit", "step", "--warmup", "6",
            "--gamma", "0.7", "--min-lr", "0.01", "--count", "14",
        ])
        let peak = 0.05 * 256 / 128, start = peak / 100, floor = 0.01 * 256 / 128
        let expected = (0..<14).map { t in
            t < 6 ? start + (peak - start) * Double(t) / 6 : max(peak * pow(0.7, Double(t - 6)), floor)
        }
        assertAllClose(rows.map(\.lr), expected, relative: 1e-12)
        XCTAssertEqual(rows[6].lr, 0.1, "train logs: warmup ended at step 6: lr 0.1")
        XCTAssertEqual(rows[11].lr, 0.02, "train logs: lr reached its floor at step 11: 0.02")
        let unscaled = try table(["--lr", "0.05", "--global-batch", "256", "--unit", "step", "--count", "1"])
        XCTAssertEqual(unscaled.first?.lr, 0.05, "without --lr-scaling the global batch changes nothing")
    }

    func testTableJSONPerEpoch() throws {
        // 0.1·0.9^e at the first step of each epoch (PyTorch ExponentialLR per epoch).
        let rows = try table(["--lr", "0.1", "--gamma", "0.9", "--count", "5", "--steps-per-epoch", "10"])
        XCTAssertEqual(rows.map(\.step), [0, 10, 20, 30, 40])
        XCTAssertEqual(rows.map(\.epoch), [0, 1, 2, 3, 4])
        assertAllClose(rows.map(\.lr), [0.1, 0.09, 0.081, 0.0729, 0.06561], relative: 1e-12)
    }

    func testTableJSONFormatAndRoundTrip() throws {
        let output = try run(["table", "--json", "--gamma", "0.9", "--count", "2"])
        XCTAssertEqual(output, "{\"step\": 0, \"epoch\": 0, \"lr\": 0.1}\n{\"step\": 1, \"epoch\": 1, \"lr\": 0.09000000000000001}\n")
        // The printed LR is the shortest text that parses back to the same Double (0.1·0.9 rounds
        // to 0.09000000000000001, not to the Double nearest 0.09).
        XCTAssertNotEqual(Double("0.09000000000000001"), 0.09)
    }

    func testTableWarmupFloorAndStaircase() throws {
        let warm = try table(["--gamma", "0.9", "--warmup", "5", "--warmup-start-lr", "1e-3", "--min-lr", "0.05",
                              "--count", "14"])
        assertAllClose(warm.map(\.lr), [0.001, 0.0208, 0.0406, 0.0604, 0.0802, 0.1, 0.09, 0.081, 0.0729, 0.06561,
                                        0.059049, 0.0531441, 0.05, 0.05], relative: 1e-12)
        let stairs = try table(["--gamma", "0.9", "--staircase", "3", "--count", "7"])
        assertAllClose(stairs.map(\.lr), [0.1, 0.1, 0.1, 0.0729, 0.0729, 0.0729, 0.0531441], relative: 1e-12)
    }

    func testTableSmoothHasOneRowPerStep() throws {
        // 0.1·0.95^(250/500) = 0.097467943448089639068.
        let rows = try table(["--gamma", "0.95", "--smooth", "--steps-per-epoch", "500", "--count", "501"])
        XCTAssertEqual(rows.count, 501)
        XCTAssertEqual(rows[250], Row(step: 250, epoch: 0, lr: rows[250].lr))
        XCTAssertEqual(rows[500].epoch, 1)
        XCTAssertEqual(rows[250].lr, 0.097467943448089639068, accuracy: 1e-12 * 0.0975)
    }

    func testTableFinalLearningRateNeedsTotal() throws {
        // (1e-3)^(1/99): the last trained epoch 99 uses 1e-4.
        let rows = try table(["--final-lr", "1e-4", "--total", "100", "--count", "100"])
        XCTAssertEqual(rows[99].lr, 1e-4, accuracy: 1e-12 * 1e-4)
        let stderr = try usageError(["table", "--final-lr", "1e-4", "--count", "3"])
        XCTAssertTrue(stderr.contains("--final-lr needs the schedule's length"), stderr)
    }

    func testInvalidFlagsNameTheFlag() throws {
        for (arguments, message) in [
            (["--gamma", "1.5"], "--gamma 1.5 is outside (0, 1]"),
            (["--gamma", "0.9", "--half-life", "4"], "only one of --gamma, --half-life, --final-lr may be given"),
            (["--half-life", "0"], "--half-life 0.0 must be a finite number > 0"),
            (["--lr=-1"], "--lr -1.0 must be a finite number > 0"),
            (["--staircase", "0"], "--staircase 0 must be at least 1"),
            (["--min-lr", "0.5"], "--min-lr 0.5 is above --lr 0.1"),
            (["--unit", "step", "--smooth"], "--smooth needs --unit epoch"),
            (["--warmup", "4", "--total", "4"], "--warmup 4 + --hold 0 must be shorter than the schedule's length of 4 epochs"),
            (["--steps-per-epoch", "0"], "--steps-per-epoch must be in 1…1000000000, got 0"),
            (["--unit", "day"], "The value 'day' is invalid for '--unit <unit>'"),
        ] {
            let stderr = try usageError(["table", "--count", "3"] + arguments)
            XCTAssertTrue(stderr.contains(message), "\(arguments): \(stderr)")
        }
    }

    func testUsageErrorsCarryTheHint() throws {
        let stderr = try usageError(["table", "--count", "3", "--final-lr", "1e-3", "--warmup", "5", "--total", "6"])
        XCTAssertTrue(stderr.contains("error: --final-lr 0.001 cannot be reached"), stderr)
        XCTAssertTrue(stderr.contains("\nhint: shorten --warmup, --hold or --staircase, or train longer"), stderr)
    }

    func testAnalyzeJSON() throws {
        let output = try run(["analyze", "--json", "--half-life", "10", "--total", "100"])
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        // 2^(−1/10) = 0.93303299153680741598; half-life 10 over 100 epochs does not warn.
        XCTAssertEqual(try XCTUnwrap(object["gamma"] as? Double), 0.93303299153680741598, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(object["half_life"] as? Double), 10, accuracy: 1e-11)
        XCTAssertEqual(try XCTUnwrap(object["halvings"] as? Double), 9.9, accuracy: 1e-11)
        XCTAssertEqual((object["warnings"] as? [Any])?.count, 0)
        let milestones = try XCTUnwrap(object["milestones"] as? [[String: Any]])
        XCTAssertEqual(milestones.compactMap { $0["unit"] as? Int }, [0, 25, 50, 75, 99])
    }

    func testAnalyzeTextWarns() throws {
        let output = try run(["analyze", "--gamma", "0.5", "--total", "100"])
        let lines = output.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("half-life ") && $0.hasSuffix(" 1 epoch") }, output)
        XCTAssertEqual(output.components(separatedBy: "warning: ").count - 1, 3, output)
        XCTAssertTrue(output.contains("warning: the LR halves 99 times by the last trained epoch (99), more than 10"), output)
    }

    func testAnalyzeNeedsTotal() throws {
        let stderr = try usageError(["analyze", "--gamma", "0.9"])
        XCTAssertTrue(stderr.contains("Missing expected argument '--total <units>'"), stderr)
    }

    /// --smooth with one step per epoch changes nothing: it says so instead of printing the same table.
    func testSmoothWithOneStepPerEpochWarns() throws {
        let result = try ProcessRunner.lockstep(["schedule", "table", "--smooth", "--count", "2"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertTrue(result.standardError.hasPrefix("warning: --smooth with --steps-per-epoch 1 (the default) gives the same rows"),
                      result.combinedOutput)
        let real = try ProcessRunner.lockstep(["schedule", "table", "--smooth", "--count", "2", "--steps-per-epoch", "469"])
        XCTAssertEqual(real.standardError, "")
    }
}
