import ArgumentParser
import Job
import Kernels
import Training

/// `lockstep train` / `bench`: BLAS kernel and threads, evaluation batch.
struct PerformanceOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "OpenBLAS kernel: auto (replace OpenBLAS's generic fallback with the best kernel this CPU "
            + "runs, unless OPENBLAS_CORETYPE is set), library (keep OpenBLAS's choice), or a name "
            + "such as SkylakeX, Haswell, Prescott.", valueName: "name"))
    var blasCore: String = "auto"

    @Option(help: ArgumentHelp("BLAS threads per rank (1 is fastest when ranks fill the cores).", valueName: "n"))
    var blasThreads: Int = 1

    @Option(help: ArgumentHelp("Test samples per evaluation batch on each rank.", valueName: "n"))
    var evalBatch: Int = TrainingConfiguration.defaults.evaluationBatchSize

    func validate() throws {
        guard BLASCoreSelection.isValidRequest(blasCore) else {
            throw ValidationError(
                "--blas-core \(blasCore) is not a kernel OpenBLAS knows; use auto, library or one of "
                    + BLASCoreSelection.knownCores.joined(separator: ", "))
        }
        guard (1...1024).contains(blasThreads) else { throw ValidationError("--blas-threads must be in 1…1024, got \(blasThreads)") }
        guard (1...16_777_216).contains(evalBatch) else {
            throw ValidationError("--eval-batch must be in 1…16777216 samples, got \(evalBatch)")
        }
    }

    /// `--blas-core` and `--blas-threads`, for `Job.start`.
    var blas: Job.BLASSettings { .init(core: blasCore, threads: blasThreads) }
}
