import ArgumentParser
import Foundation
import Job

/// `lockstep plot RUN_DIR`: draw a run's metrics (loss, accuracy, LR on a log axis) into a PNG.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw a run's loss, test accuracy and learning rate (log axis) into a PNG.",
        discussion: """
            Calls scripts/plot_metrics.py with python3 and matplotlib (scripts/setup_plotting.sh \
            installs it). lockstep train does this at the end of every run unless --no-plots is given. \
            The scripts are found through $LOCKSTEP_SCRIPTS, else next to the lockstep binary or in \
            ./scripts; python through $LOCKSTEP_PYTHON, else python3 on PATH.
            """)

    @Argument(help: ArgumentHelp(
        "A run directory (with metrics.jsonl) or a JSON Lines metrics file.", valueName: "run-dir"))
    var path: String

    @Option(name: .shortAndLong, help: ArgumentHelp(
        "PNG to write. Default: metrics.png in the run directory (beside the metrics file).", valueName: "file"))
    var output: String?

    func run() throws {
        let (metrics, folder) = try Self.locate(path)
        let output = output ?? (folder as NSString).appendingPathComponent("metrics.png")
        let plotter = try MetricsPlotter()
        try plotter.plot(metrics: metrics, output: output, title: Self.title(for: folder, metrics: metrics))
        print("wrote \(output)")
    }

    /// The metrics file and the folder the PNG goes to, for a run directory or a metrics file.
    /// - Throws: `PlotError.noMetrics`.
    static func locate(_ path: String) throws -> (metrics: String, folder: String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PlotError.noMetrics(path: path)
        }
        if !isDirectory.boolValue { return (path, (path as NSString).deletingLastPathComponent) }
        let metrics = RunDirectory(path: path).metricsPath
        guard FileManager.default.fileExists(atPath: metrics) else { throw PlotError.noMetrics(path: metrics) }
        return (metrics, path)
    }

    /// The figure's title: the run directory's name (or the metrics file's).
    static func title(for folder: String, metrics: String) -> String {
        let name = (folder as NSString).lastPathComponent
        return name.isEmpty || name == "." ? (metrics as NSString).lastPathComponent : name
    }
}
