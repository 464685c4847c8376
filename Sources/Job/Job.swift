import Collectives
import Foundation
import Logging
import Reporting

/// One process of a job, from start to exit: the BLAS kernel (with its re-exec), the
/// communicator, logging, and the end: `MPI_Finalize` and exit 0, or one error message and the
/// error's exit status on every rank.
///
/// Once MPI is up, a rank that fails must not simply exit: its peers would wait forever in the
/// next collective. So a failing rank prints `rank R: error: …` and aborts the job, which ends
/// every process with the error's exit status.
///
/// A command's `run()` is then: `let job = Job.start(blas: …)`, `job.bootstrapLogging(…)`,
/// `job.run { … }`.
public struct Job {
    public let communicator: any Communicator

    /// The BLAS settings a command applies before MPI starts (`--blas-core`, `--blas-threads`).
    public struct BLASSettings: Sendable {
        public var core: String
        public var threads: Int

        public init(core: String, threads: Int) {
            self.core = core
            self.threads = threads
        }
    }

    /// Applies `blas` (which may re-execute this process, so it comes first: OpenBLAS reads its
    /// kernel only when it loads, and the re-executed process starts MPI itself), then starts the
    /// communicator: MPI when an MPI launcher started this process, else a world of one. A failure
    /// is reported and ends the process (it never returns then).
    public static func start(blas: BLASSettings?) -> Job {
        if let blas { BLASSetup.apply(coreRequest: blas.core, threads: blas.threads) }
        do {
            let communicator: any Communicator = MPICommunicator.isLaunchedByMPI ? try MPICommunicator() : SingleProcessCommunicator()
            // A write to the socket of a peer that died raises SIGPIPE, whose default action kills
            // this rank too; then mpirun may report this rank's death first and never name the
            // one that failed. Ignored, the write fails with EPIPE and Open MPI reports the peer.
            if communicator.worldSize > 1 { signal(SIGPIPE, SIG_IGN) }
            return Job(communicator: communicator)
        } catch {
            fail(error, communicator: nil)
        }
    }

    public var rank: Int { communicator.rank }
    public var isLeader: Bool { communicator.rank == 0 }

    /// Bootstraps logging for this rank (once per process): `RankLogHandler` (rank 0 speaks,
    /// other ranks only warn), wrapped by `decorate` (for example to step around a live line).
    public func bootstrapLogging(
        level: Logger.Level, timestamps: Bool, decorate: @escaping @Sendable (any LogHandler) -> any LogHandler = { $0 }
    ) {
        let rank = communicator.rank
        LoggingSystem.bootstrap { _ in decorate(RankLogHandler(rank: rank, logLevel: level, timestamps: timestamps)) }
    }

    /// Runs `body`; on error reports it and ends the job (the error's exit status on every rank).
    /// After a successful body and `finalize()`, runs `epilogue` (work that must not fork under
    /// MPI, such as starting the plotting script) and exits 0.
    public func run(_ body: () throws -> Void, epilogue: () -> Void = {}) -> Never {
        runReturningStatus({ try body(); return .success }, epilogue: epilogue)
    }

    /// Runs `body`; on error reports it and ends the job. Otherwise finalizes, runs `epilogue` and
    /// exits with the status `body` returned (the same on every rank: `body` decides it
    /// collectively, as a run stopped by a signal does).
    public func runReturningStatus(_ body: () throws -> ExitStatus, epilogue: () -> Void = {}) -> Never {
        let status: ExitStatus
        do {
            status = try body()
            try communicator.finalize()
        } catch {
            Self.fail(error, communicator: communicator)
        }
        epilogue()
        exit(status.rawValue)
    }

    /// Reports `error` from this rank and ends the whole job.
    ///
    /// An error every rank detects from the same collective data (`isCollective`) is printed by
    /// rank 0 alone, and every rank ends in order: `MPI_Finalize`, then the error's exit status,
    /// so Open MPI prints no abort banner (mpirun still reports the non-zero status). An error of
    /// one rank alone ends the job with `MPI_Abort`, since the others cannot know of it. Before MPI
    /// starts (`communicator` nil), a usage error under an MPI launcher is printed by rank 0 only:
    /// every rank was given the same arguments.
    public static func fail(_ error: any Error, communicator: (any Communicator)?) -> Never {
        let collective = (error as? ReportableError)?.isCollective ?? false
        let status: ExitStatus
        if collective, let communicator, communicator.worldSize > 1 {
            status = (error as? ReportableError)?.exitStatus ?? .software
            if communicator.rank == 0 { report(error, rank: nil) }
            // Every rank raised this error from the same collective, so every rank is here.
            do { try communicator.finalize() } catch { communicator.abort(exitCode: status.rawValue) }
            exit(status.rawValue)
        } else {
            if communicator == nil, (error as? ReportableError)?.exitStatus == .usage { leaveUsageErrorToRankZero() }
            let rank = (communicator?.worldSize ?? 1) > 1 ? communicator?.rank : nil
            status = report(error, rank: rank)
        }
        if let communicator {
            if communicator.worldSize > 1, (error as? ReportableError)?.mayFollowAPeersFailure == true {
                // A failed MPI call is most often the echo of a peer that died or whose host went
                // away. Aborting at once races the launcher's own report and can win, leaving
                // only this rank's MPI_ERR_OTHER; waiting lets mpirun first name the process that
                // ended and its host (then it ends this rank itself).
                sleep(Self.secondsForTheLauncherToReportAPeer)
            }
            communicator.abort(exitCode: status.rawValue)
        }
        exit(status.rawValue)
    }

    /// How long a rank whose MPI call failed waits before `MPI_Abort` (see `fail`).
    static let secondsForTheLauncherToReportAPeer: UInt32 = 2

    /// For a usage error before MPI starts: on a rank other than 0 of an MPI launch, exits 64
    /// without a word, since rank 0 was given the same arguments and says it (after 2 s, so that
    /// mpirun, which ends the job when this rank exits, lets rank 0 print first). Returns elsewhere.
    public static func leaveUsageErrorToRankZero() {
        guard (MPICommunicator.launcherRank() ?? 0) != 0 else { return }
        sleep(2)
        exit(ExitStatus.usage.rawValue)
    }

    /// Writes `error: message` (and `hint: …`) to standard error, prefixed with the rank in a
    /// multi-rank job; returns the exit status for it.
    @discardableResult
    public static func report(_ error: any Error, rank: Int?) -> ExitStatus {
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
