import Foundation
import Kernels

/// Applies `--blas-core` and `--blas-threads` before MPI starts.
public enum BLASSetup {
    /// Re-executes this process with `OPENBLAS_CORETYPE` set when `BLASCoreSelection` says so
    /// (OpenBLAS reads it only when the library loads); otherwise sets the thread count and returns.
    /// Must run before `MPI_Init`: the re-executed process starts MPI itself.
    public static func apply(coreRequest: String, threads: Int) {
        let environment = ProcessInfo.processInfo.environment
        let decision = BLASCoreSelection.decide(
            request: .init(coreRequest), runningCore: BLASRuntime.coreName, environment: environment,
            cpuFlags: BLASCoreSelection.cpuFlags())
        if case .reexecute(let core) = decision {
            setenv("OPENBLAS_CORETYPE", core, 1)
            setenv("OPENBLAS_NUM_THREADS", String(threads), 1)
            setenv(BLASCoreSelection.reexecutedMarker, "1", 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // Only reached when exec failed: keep running with the library's choice.
            FileHandle.standardError.write(Data(
                "warning: could not re-execute with OPENBLAS_CORETYPE=\(core) (\(String(cString: strerror(errno)))); BLAS runs \(BLASRuntime.coreName)\n".utf8))
        }
        if environment[BLASCoreSelection.reexecutedMarker] != nil, let wanted = environment["OPENBLAS_CORETYPE"],
           wanted.caseInsensitiveCompare(BLASRuntime.coreName) != .orderedSame {
            // OpenBLAS ignores a kernel this CPU cannot run (or does not know) and picks its own.
            FileHandle.standardError.write(Data(
                "warning: OpenBLAS runs \(BLASRuntime.coreName), not the requested \(wanted) (this OpenBLAS does not have it, or this CPU cannot run it)\n".utf8))
        }
        BLASRuntime.setThreadCount(threads)
    }
}
