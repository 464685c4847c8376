import Foundation
import Job
import TestSupport
@testable import Training
import XCTest
@testable import lockstep

/// The progress of each epoch: plain lines for logs, a live line on a terminal, nothing from
/// ranks other than 0.
final class ProgressTests: XCTestCase {
    private func progress(step: Int, of steps: Int, seconds: Double, loss: Double = 1, epoch: Int = 0) -> StepProgress {
        StepProgress(
            epoch: epoch, epochs: 3, stepInEpoch: step, stepsPerEpoch: steps, globalStep: Int64(step), loss: loss,
            learningRate: 0.1, epochSeconds: seconds, globalBatchSize: 32)
    }

    // MARK: - Plain lines

    func testPlainLinesAtEachTenthAtMostOnePerInterval() {
        var lines: [String] = []
        let reporter = ProgressReporter(.lines(emit: { lines.append($0) }, interval: 5))
        // 30 steps of one second: a new tenth starts at steps 3, 6, …, 27. The first line waits
        // for 5 s (step 5, in the first tenth), each next one for 5 s more and a tenth not yet
        // reported: steps 10 (third tenth), 15, 20, 25; never the last tenth (the epoch line).
        for step in 1...30 { reporter.step(progress(step: step, of: 30, seconds: Double(step))) }
        XCTAssertEqual(lines.map { $0.split(separator: " ")[3] }, ["5/30", "10/30", "15/30", "20/30", "25/30"], "\(lines)")
        // Loss is the epoch's mean so far (every step's loss is 1); 32 samples per second; 25 s left.
        XCTAssertEqual(lines[0], "epoch 1/3  step 5/30 (16%)  loss 1.0000  lr 0.1  32 samples/s  ETA 0:25")
    }

    func testPlainLinesEveryTenthWithZeroInterval() {
        var lines: [String] = []
        let reporter = ProgressReporter(.lines(emit: { lines.append($0) }, interval: 0))
        for epoch in 0..<2 {
            for step in 1...468 { reporter.step(progress(step: step, of: 468, seconds: Double(step) / 100, epoch: epoch)) }
            reporter.epochEnded()
        }
        // 10% of 468 is step 46.8: the first tenth ends at step 47; the last line is 90% (the
        // epoch's own summary line stands for 100%).
        XCTAssertEqual(lines.count, 18)
        XCTAssertTrue(lines[0].hasPrefix("epoch 1/3  step 47/468 (10%)"), lines[0])
        XCTAssertTrue(lines[8].hasPrefix("epoch 1/3  step 422/468 (90%)"), lines[8])
        XCTAssertTrue(lines[9].hasPrefix("epoch 2/3  step 47/468 (10%)"), lines[9])
    }

    func testMeanLossRestartsEachEpoch() {
        var lines: [String] = []
        let reporter = ProgressReporter(.lines(emit: { lines.append($0) }, interval: 0))
        for step in 1...10 { reporter.step(progress(step: step, of: 10, seconds: 1, loss: Double(step))) }
        for step in 1...10 { reporter.step(progress(step: step, of: 10, seconds: 1, loss: 0.5, epoch: 1)) }
        // Mean of 1…5 = 3 at the fifth step of the first epoch; 0.5 throughout the second.
        XCTAssertTrue(lines[4].contains("loss 3.0000"), lines[4])
        XCTAssertTrue(lines[13].contains("loss 0.5000"), lines[13])
    }

    // MARK: - Live line

    private final class Recorder: @unchecked Sendable {
        var writes: [String] = []
    }

    func testLiveLineRedrawsAtMostTenTimesASecondAndAtTheEdges() {
        let recorder = Recorder()
        let line = LiveLine { recorder.writes.append($0) }
        let reporter = ProgressReporter(.live(line, style: TerminalStyle(isEnabled: false), width: { 100 }))
        // 100 steps, one every 1/64 s (exact in binary): redraws at step 1, then whenever 0.1 s
        // passed since the last: steps 8, 15, …, and always the last step.
        for step in 1...100 { reporter.step(progress(step: step, of: 100, seconds: Double(step) / 64)) }
        reporter.epochEnded()
        var expected = [1]
        while let last = expected.last, last < 99, let next = (last + 1...99).first(where: { Double($0 - last) / 64 >= 0.1 }) {
            expected.append(next)
        }
        expected.append(100)
        let draws = recorder.writes.dropLast()
        XCTAssertEqual(draws.count, expected.count)
        XCTAssertTrue(draws.allSatisfy { $0.hasPrefix("\r\u{1B}[K") })
        XCTAssertEqual(recorder.writes.last, "\r\u{1B}[K", "the line is erased when the epoch ends")
        XCTAssertTrue(draws.last!.contains("100/100") && draws.last!.hasSuffix("evaluating"), draws.last!)
    }

    func testLiveTextFitsTheWidth() {
        let style = TerminalStyle(isEnabled: false)
        let wide = ProgressReporter.liveText(progress(step: 47, of: 468, seconds: 1), meanLoss: 0.61234, width: 120, style: style)
        // 47/468 of 30 cells is 3.01: three full cells and the head. 47·32 samples in 1 s; 421
        // steps left at 1/47 s each is 8.96 s, shown rounded up.
        XCTAssertEqual(wide, "epoch 1/3 [===>                          ]  47/468  loss 0.6123  lr 0.1  1504 samples/s  ETA 0:09")
        for width in [40, 60, 80, 100] {
            let text = ProgressReporter.liveText(progress(step: 47, of: 468, seconds: 1), meanLoss: 0.6, width: width, style: style)
            XCTAssertLessThan(text.count, width, text)
        }
    }

    func testMessagesStepAroundTheLiveLine() {
        let recorder = Recorder()
        let line = LiveLine { recorder.writes.append($0) }
        line.show("epoch 1/3 …")
        line.suspend { recorder.writes.append("warmup ended\n") }
        XCTAssertEqual(recorder.writes, ["\r\u{1B}[Kepoch 1/3 …", "\r\u{1B}[K", "warmup ended\n", "\r\u{1B}[Kepoch 1/3 …"])
    }

    func testDurationsAndBar() {
        XCTAssertEqual(ProgressReporter.duration(7), "0:07")
        XCTAssertEqual(ProgressReporter.duration(749.6), "12:30")
        XCTAssertEqual(ProgressReporter.duration(749.2), "12:29")
        XCTAssertEqual(ProgressReporter.duration(0.17), "0:00", "the last steps of an epoch: no second left")
        XCTAssertEqual(ProgressReporter.duration(3723), "1:02:03")
        XCTAssertEqual(ProgressReporter.bar(fraction: 0.5, width: 10), "=====>    ")
        XCTAssertEqual(ProgressReporter.bar(fraction: 0, width: 4), ">   ")
        XCTAssertEqual(ProgressReporter.bar(fraction: 1, width: 4), "====")
    }

    func testAutoIsPlainUnderMPIUnlessTheLauncherSaysTerminal() {
        let xterm = ["TERM": "xterm"]
        XCTAssertEqual(ProgressMode.auto.resolved(isTerminal: true, underMPI: false, environment: xterm), .tty)
        XCTAssertEqual(ProgressMode.auto.resolved(isTerminal: false, underMPI: false, environment: xterm), .plain)
        XCTAssertEqual(ProgressMode.auto.resolved(isTerminal: true, underMPI: false, environment: ["TERM": "dumb"]), .plain)
        // Under mpirun a rank's stdout is a pseudo-terminal whatever mpirun writes to.
        XCTAssertEqual(ProgressMode.auto.resolved(isTerminal: true, underMPI: true, environment: xterm), .plain)
        XCTAssertEqual(
            ProgressMode.auto.resolved(isTerminal: true, underMPI: true, environment: ["TERM": "xterm", "LOCKSTEP_TERMINAL": "1"]),
            .tty)
        XCTAssertEqual(
            ProgressMode.auto.resolved(isTerminal: true, underMPI: true, environment: ["TERM": "xterm", "LOCKSTEP_TERMINAL": "0"]),
            .plain)
        XCTAssertEqual(ProgressMode.tty.resolved(isTerminal: false, underMPI: true, environment: [:]), .tty)
        XCTAssertEqual(ProgressMode.none.resolved(isTerminal: true, underMPI: false, environment: xterm), ProgressMode.none)
    }

    // MARK: - The binary

    func testLogOutputHasPlainTimestampedLinesAndNoEscapeCodes() throws {
        let directory = try temporaryDirectory(for: self)
        let result = try lockstep(["train", "--run-dir", directory.path, "--no-plots", "--progress-interval", "0"] + tinyRun)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertFalse(result.standardOutput.contains(escape), result.standardOutput)
        XCTAssertFalse(result.standardOutput.contains("\r"), result.standardOutput)
        let timestamped = #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "#
        XCTAssertTrue(result.standardOutput.split(separator: "\n").allSatisfy {
            $0.range(of: timestamped, options: .regularExpression) != nil
        }, result.standardOutput)
        let lines = logLines(result.standardOutput)
        // 30 steps: the tenths end at steps 3, 6, …, 27.
        let progressLines = lines.filter { $0.hasPrefix("epoch 1/1  step ") }
        XCTAssertEqual(progressLines.map { $0.split(separator: " ")[3] }, (1...9).map { "\($0 * 3)/30" }, result.standardOutput)
        XCTAssertEqual(result.standardError, "")
    }

    func testTerminalGetsTheLiveLine() throws {
        let directory = try temporaryDirectory(for: self)
        let command = ([ProcessRunner.lockstepBinary, "train", "--run-dir", directory.path, "--no-plots"] + tinyRun)
            .map { "'\($0)'" }.joined(separator: " ")
        // script(1) runs the command on a new pseudo-terminal and copies what it shows to stdout.
        let result = try ProcessRunner.run("/usr/bin/script", ["-qfec", command, "/dev/null"], environment: ["TERM": "xterm"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        let screen = result.standardOutput
        XCTAssertTrue(screen.contains("\r\u{1B}[Kepoch 1/1 "), screen)
        XCTAssertTrue(screen.contains(" 30/30  loss "), screen)
        XCTAssertTrue(screen.contains("\r\u{1B}[Kepoch 1/1  lr 0.1  train loss "), "the summary replaces the live line: \(screen)")
        XCTAssertTrue(screen.contains("lockstep verified: 1 rank, params hash"), screen)
        XCTAssertNil(screen.range(of: #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "#, options: .regularExpression), "no timestamps on a terminal")
    }

    /// Open MPI gives ranks a pseudo-terminal even when mpirun writes to a file: `auto` must
    /// still print plain lines there, and only rank 0 prints.
    func testUnderMPIOutputToAFileIsPlainAndFromRankZeroOnly() throws {
        let directory = try temporaryDirectory(for: self)
        let result = try ProcessRunner.mpirun(
            ranks: 2, ["train", "--run-dir", directory.path, "--no-plots", "--progress-interval", "0"] + tinyRun)
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertFalse(result.standardOutput.contains(escape), result.standardOutput)
        XCTAssertEqual(result.standardError, "")
        let lines = logLines(result.standardOutput)
        XCTAssertEqual(lines.filter { $0.hasPrefix("epoch 1/1  step ") }.count, 9, result.standardOutput)
        XCTAssertEqual(lines.filter { $0.hasPrefix("lockstep verified") }.count, 1, result.standardOutput)
    }

    /// `scripts/train.sh` on a terminal sets LOCKSTEP_TERMINAL=1: rank 0 then draws the live line.
    func testUnderMPILauncherTerminalGetsTheLiveLine() throws {
        let directory = try temporaryDirectory(for: self)
        let result = try ProcessRunner.mpirun(
            ranks: 2, ["train", "--run-dir", directory.path] + tinyRun, environment: ["LOCKSTEP_TERMINAL": "1", "TERM": "xterm"])
        XCTAssertEqual(result.exitCode, 0, result.combinedOutput)
        XCTAssertTrue(result.standardOutput.contains("\r\u{1B}[Kepoch 1/1 "), result.standardOutput)
        XCTAssertEqual(result.standardError, "")
    }
}
