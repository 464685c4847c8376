import ArgumentParser
import Collectives
import Foundation

/// How rank 0 shows the progress of each epoch (`--progress`).
enum ProgressMode: String, CaseIterable, ExpressibleByArgument {
    /// `tty` when standard output is a terminal (see `resolved`), else `plain`.
    case auto
    /// A line rewritten in place (carriage return and ANSI erase-line).
    case tty
    /// Ordinary lines, at most one per tenth of an epoch and one per `--progress-interval` seconds.
    case plain
    /// Nothing between the epoch lines.
    case none

    /// `auto` decided for this process.
    ///
    /// Under mpirun `isatty` cannot tell: Open MPI gives every rank a pseudo-terminal for its
    /// standard output even when mpirun's own output goes to a file (measured with Open MPI 4.1:
    /// `test -t 1` is true for every rank of `mpirun … > log`). So under an MPI launcher `auto`
    /// is `plain` unless `LOCKSTEP_TERMINAL=1` says that mpirun's output is a terminal
    /// (`scripts/train.sh` sets it from its own `test -t 1` and passes it with `mpirun -x`).
    func resolved(
        isTerminal: Bool = isatty(STDOUT_FILENO) == 1, underMPI: Bool = MPICommunicator.isLaunchedByMPI,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ProgressMode {
        guard self == .auto else { return self }
        guard environment["TERM"] != "dumb" else { return .plain }
        if underMPI { return environment["LOCKSTEP_TERMINAL"] == "1" ? .tty : .plain }
        return isTerminal ? .tty : .plain
    }
}
