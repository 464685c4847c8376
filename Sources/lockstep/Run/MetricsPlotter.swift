import Foundation
import Reporting

/// Draws a metrics file into a PNG with `scripts/plot_metrics.py` (python3 and matplotlib).
///
/// The scripts folder is the first that holds `plot_metrics.py` of:
/// 1. `$LOCKSTEP_SCRIPTS`;
/// 2. `scripts/` in a folder above the executable (a package build runs as
///    `<package>/.build/<triple>/<configuration>/lockstep`), followed through symbolic links;
/// 3. `share/lockstep/scripts` beside the executable's `bin/` (an installed copy);
/// 4. `scripts/` in the current directory.
/// The interpreter is `$LOCKSTEP_PYTHON`, else `python3` from `PATH`.
struct MetricsPlotter {
    let scriptsDirectory: String
    let python: String

    static let scriptName = "plot_metrics.py"

    /// Finds the scripts.
    /// - Throws: `PlotError.scriptsNotFound`, listing where it looked.
    init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let candidates = Self.candidateDirectories(environment: environment)
        guard let found = candidates.first(where: {
            FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent(Self.scriptName))
        }) else {
            throw PlotError.scriptsNotFound(searched: candidates)
        }
        scriptsDirectory = found
        python = environment["LOCKSTEP_PYTHON"] ?? "python3"
    }

    static func candidateDirectories(environment: [String: String]) -> [String] {
        if let explicit = environment["LOCKSTEP_SCRIPTS"], !explicit.isEmpty { return [explicit] }
        var candidates: [String] = []
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        for start in [executable, executable.resolvingSymlinksInPath(), URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()] {
            var folder = start.deletingLastPathComponent()
            while folder.path != "/" {
                candidates.append(folder.appendingPathComponent("scripts").path)
                folder = folder.deletingLastPathComponent()
            }
            candidates.append(start.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("share/lockstep/scripts").path)
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/scripts")
        var seen = Set<String>()
        return candidates.filter { seen.insert($0).inserted }
    }

    /// Draws `metrics` into `output`, titled `title`. Never installs matplotlib.
    /// - Throws: `PlotError`: python3 or matplotlib missing (exit status 69), or the script
    ///   refused the file (65).
    func plot(metrics: String, output: String, title: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = (scriptsDirectory as NSString).appendingPathComponent(Self.scriptName)
        process.arguments = [python, script, metrics, "-o", output, "--title", title, "--no-install"]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { throw PlotError.pythonMissing(python: python) }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        switch process.terminationStatus {
        case 0: return
        case 127: throw PlotError.pythonMissing(python: python)
        case Self.matplotlibMissingStatus: throw PlotError.matplotlibMissing(python: python, scriptsDirectory: scriptsDirectory)
        case Self.notMetricsStatus: throw PlotError.notMetrics(message: Self.lastLine(of: message, status: process.terminationStatus))
        default: throw PlotError.scriptFailed(script: script, message: Self.lastLine(of: message, status: process.terminationStatus))
        }
    }

    /// `plot_metrics.py --no-install` exits with this status when matplotlib cannot be imported.
    static let matplotlibMissingStatus: Int32 = 3
    /// `plot_metrics.py` exits with this status when the file is not a metrics file
    /// (`plotsupport.NOT_JSON_LINES`).
    static let notMetricsStatus: Int32 = 65

    private static func lastLine(of message: String, status: Int32) -> String {
        message.split(separator: "\n").last.map(String.init) ?? "exit status \(status)"
    }
}

/// Why a plot could not be drawn.
enum PlotError: ReportableError, Equatable {
    case scriptsNotFound(searched: [String])
    case pythonMissing(python: String)
    case matplotlibMissing(python: String, scriptsDirectory: String)
    case scriptFailed(script: String, message: String)
    /// `lockstep plot` was given a folder or file that does not exist or has no metrics.
    case noMetrics(path: String)
    /// The file is not a metrics file: the script's message names the file, line and what is wrong.
    case notMetrics(message: String)

    var exitStatus: ExitStatus {
        switch self {
        case .scriptsNotFound, .noMetrics: .missingInput
        // EX_UNAVAILABLE, sysexits' status for a missing support program.
        case .pythonMissing, .matplotlibMissing: .mpi
        case .scriptFailed, .notMetrics: .data
        }
    }

    var description: String {
        switch self {
        case .scriptsNotFound(let searched):
            "cannot find scripts/\(MetricsPlotter.scriptName) (looked in \(searched.prefix(3).joined(separator: ", "))…)"
        case .pythonMissing(let python): "cannot run \(python) to draw the plots"
        case .matplotlibMissing(let python, _): "matplotlib is not installed for \(python)"
        case .scriptFailed(let script, let message): "\(script) failed: \(message)"
        case .noMetrics(let path): "no metrics at \(path)"
        case .notMetrics(let message): message
        }
    }

    var hint: String? {
        switch self {
        case .scriptsNotFound: "set LOCKSTEP_SCRIPTS to the repository's scripts/ folder"
        case .pythonMissing: "install python3 (apt-get install python3) or set LOCKSTEP_PYTHON"
        case let .matplotlibMissing(python, scripts):
            python == "python3"
                ? "install it with \(scripts)/setup_plotting.sh, then run lockstep plot RUN_DIR"
                : "install matplotlib for \(python) (LOCKSTEP_PYTHON), e.g. \(python) -m pip install matplotlib, then run lockstep plot RUN_DIR"
        case .scriptFailed: nil
        case .noMetrics: "give a run directory with metrics.jsonl (see runs/), or a .jsonl metrics file"
        case .notMetrics:
            "lockstep plot reads what lockstep train writes: a run directory, or its metrics.jsonl (one JSON object per epoch)"
        }
    }
}
