import ArgumentParser
import Collectives
import Datasets
import Foundation
import Job
import Kernels
import Training

/// `lockstep diagnose`: checks of what this machine and MPI give lockstep.
struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Check the BLAS kernel, the MPI reductions and world-size-invariant training.",
        subcommands: [DiagnoseBLASCommand.self, DiagnoseReductionCommand.self, DiagnoseInvarianceCommand.self],
        defaultSubcommand: DiagnoseBLASCommand.self)
}

/// `lockstep diagnose blas`: the BLAS kernel, MPI library and CPU, and sgemm against a naive reference.
struct DiagnoseBLASCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "Report the BLAS kernel, MPI library and CPU, and check sgemm against a naive reference.",
        discussion: "Exits 70 when the kernel's results differ from the reference by more than --tolerance.")

    @OptionGroup(title: "Performance") var performance: PerformanceOptions

    @Option(help: ArgumentHelp("Largest accepted relative sgemm error.", valueName: "x"))
    var tolerance: Double = 1e-4

    @Option(help: ArgumentHelp("Rows of the model GEMM shapes checked.", valueName: "n"))
    var batch: Int = 32

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    struct Report: Codable {
        let blasCore: String
        let blasThreads: Int
        let blasConfiguration: String
        let openBLASCoreType: String?
        let mpiLibrary: String
        let cpuFlags: [String]
        let sgemmChecks: [BLASSelfCheck.Result]
        let sgemmMaximumError: Double
        let passed: Bool

        /// The JSON names (snake_case, as printed).
        enum CodingKeys: String, CodingKey {
            case blasCore = "blas_core", blasThreads = "blas_threads", blasConfiguration = "blas_config", openBLASCoreType = "openblas_coretype", mpiLibrary = "mpi_library", cpuFlags = "cpu_flags", sgemmChecks = "sgemm_checks", sgemmMaximumError = "sgemm_max_error", passed
        }
    }

    func validate() throws {
        guard tolerance >= 1e-12, tolerance <= 1 else {
            throw ValidationError("--tolerance must be a relative error in 1e-12…1, got \(tolerance)")
        }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1…4096 rows, got \(batch)") }
    }

    func run() throws {
        BLASSetup.apply(coreRequest: performance.blasCore, threads: performance.blasThreads)
        let checks = BLASSelfCheck.run(
            layerSizes: [FashionMNIST.featureCount] + TrainingConfiguration.defaultHiddenSizes + [FashionMNIST.classCount],
            batchSize: batch)
        let worst = checks.map(\.maximumError).max() ?? 0
        let flags = BLASCoreSelection.cpuFlags().filter { $0.hasPrefix("avx") || $0 == "fma" }.sorted()
        let report = Report(
            blasCore: BLASRuntime.coreName, blasThreads: BLASRuntime.threadCount, blasConfiguration: BLASRuntime.configuration,
            openBLASCoreType: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
            mpiLibrary: MPICommunicator.libraryVersion().split(separator: "\n").first.map(String.init) ?? "",
            cpuFlags: flags, sgemmChecks: checks, sgemmMaximumError: worst, passed: worst <= tolerance)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("BLAS kernel     \(report.blasCore) × \(report.blasThreads) thread(s)")
            print("BLAS build      \(report.blasConfiguration)")
            print("OPENBLAS_CORETYPE \(report.openBLASCoreType ?? "(not set)")")
            print("MPI library     \(report.mpiLibrary)")
            print("CPU vector ISA  \(flags.joined(separator: " "))")
            print("sgemm check     \(checks.count) shapes, largest relative error \(worst) (tolerance \(tolerance)): \(report.passed ? "ok" : "FAILED")")
        }
        if !report.passed { throw ExitCode(70) }
    }
}
