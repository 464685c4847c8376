import Collectives
import Foundation
import Logging
import Reporting
import Training

/// Runs the body of a command as one rank of a job and turns every failure into one message and
/// an exit code, on every rank.
///
/// Once MPI is up, a rank that fails must not simply exit: its peers would wait forever in the
/// next collective. So a failing rank prints `rank R: error: …` and calls `MPI_Abort`, which ends
/// every process of the job with the error's exit status.
enum JobRunner {
    /// The communicator for this process: MPI when started by an MPI launcher, else a world of one.
    static func makeCommunicator() throws -> Communicator {
        MPICommunicator.isLaunchedByMPI ? try MPICommunicator() : SingleProcessCommunicator()
    }

    /// Bootstraps logging for `rank` (once per process): `RankLogHandler` (rank 0 speaks, other
    /// ranks only warn), which steps around the live progress line when there is one.
    static func bootstrapLogging(rank: Int, level: Logger.Level, timestamps: Bool, liveLine: LiveLine?) {
        LoggingSystem.bootstrap { _ in
            LiveLineLogHandler(
                RankLogHandler(rank: rank, logLevel: level, timestamps: timestamps), liveLine: liveLine)
        }
    }

    /// Runs `body`; on error reports it and ends the job (MPI_Abort with the error's exit status).
    /// After a successful body and `MPI_Finalize`, runs `epilogue` (work that must not fork under
    /// MPI, such as starting the plotting script) and exits 0.
    static func run(_ communicator: Communicator, _ body: () throws -> Void, epilogue: () -> Void = {}) -> Never {
        do {
            try body()
            if let mpi = communicator as? MPICommunicator { try mpi.finalize() }
        } catch {
            fail(error, communicator: communicator)
        }
        epilogue()
        exit(0)
    }

    /// Reports `error` from this rank and ends the whole job.
    ///
    /// An error every rank detects from the same collective data (`isCollective`) is printed by
    /// rank 0 alone; the other ranks give rank 0 a moment to print before they abort too (rank 0's
    /// abort usually ends them first).
    static func fail(_ error: Error, communicator: Communicator?) -> Never {
        let collective = (error as? ReportableError)?.isCollective ?? false
        let status: ExitStatus
        if collective, let communicator, communicator.worldSize > 1 {
            status = (error as? ReportableError)?.exitStatus ?? .software
            if communicator.rank == 0 { report(error, rank: nil) } else { sleep(2) }
        } else {
            let rank = (communicator?.worldSize ?? 1) > 1 ? communicator?.rank : nil
            status = report(error, rank: rank)
        }
        if let communicator { communicator.abort(exitCode: status.rawValue) }
        exit(status.rawValue)
    }

    /// Writes `error: message` (and `hint: …`) to standard error, prefixed with the rank in a
    /// multi-rank job; returns the exit status for it.
    @discardableResult
    static func report(_ error: Error, rank: Int?) -> ExitStatus {
        let style = TerminalStyle(descriptor: STDERR_FILENO)
        let prefix = rank.map { "rank \($0): " } ?? ""
        var text: String
        let status: ExitStatus
        if let reportable = error as? ReportableError {
            text = "\(prefix)\(style.error("error:")) \(reportable.description)\n"
            if let hint = reportable.hint { text += "\(prefix)\(style.hint("hint:")) \(hint)\n" }
            status = reportable.exitStatus
        } else {
            text = "\(prefix)\(style.error("error:")) \(error)\n"
            status = .software
        }
        FileHandle.standardError.write(Data(text.utf8))
        return status
    }
}
