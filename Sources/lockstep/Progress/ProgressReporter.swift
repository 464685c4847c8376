import Foundation
import Job
import Training

/// Shows the progress of each epoch on rank 0, from `Trainer.onStep` and `Trainer.onEpoch`.
///
/// - `live`: one terminal line rewritten in place, at most every 0.1 s of training time (and
///   always at an epoch's first and last step): epoch, bar, step/total, the epoch's mean loss so
///   far, LR, samples/s, time left in the epoch. Erased when the epoch ends, before its summary.
/// - `lines`: plain lines for logs: one when a new tenth of the epoch has begun and `interval`
///   seconds have passed since the last line (so at most one per tenth and one per interval, and
///   short epochs print only their summary line). The last tenth is left to the epoch's summary.
///
/// Timing comes from `StepProgress.epochSeconds`, so the reporter is a pure function of what the
/// trainer reports (and testable without a clock).
final class ProgressReporter {
    enum Output {
        case live(LiveLine, style: TerminalStyle, width: () -> Int)
        case lines(emit: (String) -> Void, interval: Double)
    }

    private let output: Output
    /// Sum of this epoch's step losses (each the global batch's mean).
    private var lossSum = 0.0
    private var lastDrawSeconds = 0.0
    private var lastTenth = 0

    /// Seconds of training between two redraws of the live line.
    static let redrawInterval = 0.1

    init(_ output: Output) {
        self.output = output
    }

    func step(_ progress: StepProgress) {
        if progress.stepInEpoch == 1 {
            lossSum = 0
            lastDrawSeconds = 0
            lastTenth = 0
        }
        lossSum += progress.loss
        let meanLoss = lossSum / Double(progress.stepInEpoch)
        switch output {
        case .live(let line, let style, let width):
            let isEdge = progress.stepInEpoch == 1 || progress.stepInEpoch == progress.stepsPerEpoch
            guard isEdge || progress.epochSeconds - lastDrawSeconds >= Self.redrawInterval else { return }
            lastDrawSeconds = progress.epochSeconds
            line.show(Self.liveText(progress, meanLoss: meanLoss, width: width(), style: style))
        case .lines(let emit, let interval):
            let tenth = progress.stepInEpoch * 10 / progress.stepsPerEpoch
            guard tenth > lastTenth, tenth < 10, progress.epochSeconds - lastDrawSeconds >= interval else { return }
            lastTenth = tenth
            lastDrawSeconds = progress.epochSeconds
            emit(Self.plainText(progress, meanLoss: meanLoss))
        }
    }

    /// Erases the live line, so the epoch's summary starts on a clean line.
    func epochEnded() {
        if case .live(let line, _, _) = output { line.clear() }
    }

    // MARK: - Text

    /// `epoch 1/10  step 47/468 (10%)  loss 0.6123  lr 0.1  15832 samples/s  ETA 0:27`
    static func plainText(_ progress: StepProgress, meanLoss: Double) -> String {
        let percent = progress.stepInEpoch * 100 / progress.stepsPerEpoch
        return "epoch \(progress.epoch + 1)/\(progress.epochs)  step \(progress.stepInEpoch)/\(progress.stepsPerEpoch) "
            + "(\(percent)%)  " + figures(progress, meanLoss: meanLoss) + "  ETA " + duration(remainingSeconds(progress))
    }

    /// `epoch 1/10 [=====>        ]  47/468  loss 0.6123  lr 0.1  15832 samples/s  ETA 0:27`, fitted
    /// to `width` columns: the bar takes what the widest line of the epoch leaves (at most 30
    /// cells, none below 10), so it keeps its size while the numbers change; the text is cut last.
    static func liveText(_ progress: StepProgress, meanLoss: Double, width: Int, style: TerminalStyle) -> String {
        let head = "epoch \(progress.epoch + 1)/\(progress.epochs) "
        let total = String(progress.stepsPerEpoch)
        let step = String(progress.stepInEpoch)
        let count = " " + String(repeating: " ", count: max(0, total.count - step.count)) + step + "/" + total + "  "
        let tail = progress.stepInEpoch == progress.stepsPerEpoch
            ? "evaluating" : "ETA " + duration(remainingSeconds(progress))
        let body = figures(progress, meanLoss: meanLoss) + "  "
        let columns = max(width - 1, 20)
        // Room for the widest figures and tail this epoch is likely to show.
        let reserved = head.count + count.count + body.count + 4 + max(tail.count, 11) + 2
        let barWidth = min(30, columns - reserved)
        if barWidth >= 10 {
            let bar = "[" + Self.bar(fraction: Double(progress.stepInEpoch) / Double(progress.stepsPerEpoch), width: barWidth) + "]"
            return head + style.accent(bar) + count + body + style.dim(tail)
        }
        let text = head + count.drop { $0 == " " } + body + tail
        return text.count <= columns ? text : String(text.prefix(columns))
    }

    /// `=====>    ` for `fraction` of `width` cells.
    static func bar(fraction: Double, width: Int) -> String {
        let filled = min(width, Int((fraction * Double(width)).rounded(.down)))
        if filled == width { return String(repeating: "=", count: width) }
        return String(repeating: "=", count: filled) + ">" + String(repeating: " ", count: width - filled - 1)
    }

    private static func figures(_ progress: StepProgress, meanLoss: Double) -> String {
        let samplesPerSecond = progress.epochSeconds > 0
            ? Double(progress.stepInEpoch * progress.globalBatchSize) / progress.epochSeconds : 0
        // The LR as the epoch line prints it (`EpochMetrics.summary`), so the two never disagree.
        return "loss \(EpochMetrics.lossText(meanLoss))  lr \(String(format: "%.6g", progress.learningRate))  "
            + "\(Int(samplesPerSecond.rounded())) samples/s"
    }

    private static func remainingSeconds(_ progress: StepProgress) -> Double {
        let left = progress.stepsPerEpoch - progress.stepInEpoch
        return progress.epochSeconds / Double(progress.stepInEpoch) * Double(left)
    }

    /// `0:07`, `12:30`, `1:02:03`, to the nearest second (the last steps of an epoch show
    /// `0:00`, not a second that is not left).
    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (hours, minutes, secs) = (total / 3600, total / 60 % 60, total % 60)
        let mmss = String(format: "%d:%02d", minutes, secs)
        return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, secs) : mmss
    }

    /// Columns of the terminal on standard output (`TIOCGWINSZ`), else `$COLUMNS`, else 80.
    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 80
    }
}
