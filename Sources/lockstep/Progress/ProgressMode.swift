import ArgumentParser
import Collectives
import Foundation

/// How rank 0 shows the progress of each epoch (`--progress`).
enum ProgressMode: String, CaseIterable, ExpressibleByArgument {
    /// `tty` when standard output is a terminal and no MPI launcher started the process, else `plain`.
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
    /// `test -t 1` is true for every rank of `mpirun … > log`). So `auto` is `plain` under an MPI
    /// launcher, and `scripts/train.sh`, which sees its own terminal, passes `--progress tty`.
    func resolved(
        isTerminal: Bool = isatty(STDOUT_FILENO) == 1, underMPI: Bool = MPICommunicator.isLaunchedByMPI,
        terminalType: String? = ProcessInfo.processInfo.environment["TERM"]
    ) -> ProgressMode {
        guard self == .auto else { return self }
        return isTerminal && !underMPI && terminalType != "dumb" ? .tty : .plain
    }
}
