import Checkpoints
import Collectives
import Coordination
import Foundation
import Kernels
import Models
import Optimizers
import Reporting

/// Test-only fault injection, so every lockstep check can be shown to fire under real `mpirun`.
///
/// Set `LOCKSTEP_FAULT` to one or more comma-separated faults `KIND:rank=R:step=S`:
/// - `bitflip`: after the update of global step S, rank R flips one bit (the top mantissa bit, so
///   later updates cannot round the difference away) of one parameter; the next lockstep
///   verification catches it.
/// - `perturb-optimizer`: the same, in the first optimizer buffer (SGD's momentum, Adam's
///   `exp_avg`); the verification names that buffer.
/// - `perturb-counter`: after step S's update, rank R counts one optimizer step more (no effect
///   on SGD's math); the verification names the counters.
/// - `perturb-state`: rank R flips one bit of its initial parameters before the ranks agree on
///   the initial state; the agreement with rank 0 (the source of truth) fires.
/// - `nan`, `inf`: at step S, rank R's loss becomes NaN (+Inf) before the reduction.
/// - `exit`: at step S, rank R exits at once with status 3, without telling MPI (a crash).
/// - `kill`: at step S, rank R sends itself SIGKILL (like `kill -9`).
/// - `segv`: at step S, rank R dies by SIGSEGV (as a crash in native code would).
/// - `stall`: at step S, rank R stops making progress (sleeps forever).
/// - `slow`: from step S on, rank R's compute takes `factor=F` times as long (it sleeps for the
///   difference before the reduction), as a rank on a slower or busier node.
/// - `mpi-error`: at step S, rank R makes a real MPI call that fails (a broadcast from a rank that
///   does not exist): the MPI error path, exit 69.
/// - `checkpoint-crash`: writing the checkpoint of global step S, rank R (the writer, rank 0)
///   writes the first N bytes (`bytes=N`, default 0) of the temporary file and sends itself
///   SIGKILL, as `kill -9` in the middle of a write (`CheckpointWriteFault.crashAfterBytes`).
/// - `checkpoint-fail`: writing the checkpoint of global step S, the write fails after N bytes as
///   if the disk were full (`CheckpointWriteFault.failAfterBytes`, `ENOSPC`).
/// `rank` defaults to 0 and `step` to 0. Rank 0 announces an active plan at start, and an error a
/// fault caused ends with `(injected)` (`FaultPlan.explains`). Never set it in production.
public struct FaultPlan: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case bitflip
        case perturbOptimizer = "perturb-optimizer"
        case perturbCounter = "perturb-counter"
        case perturbState = "perturb-state"
        case nan, inf, exit, kill, segv, stall, slow
        case mpiError = "mpi-error"
        case checkpointCrash = "checkpoint-crash"
        case checkpointFail = "checkpoint-fail"
    }

    public struct Fault: Equatable, Sendable {
        public let kind: Kind
        public let rank: Int
        public let step: Int64
        /// Kind-specific integer argument (`bytes=` for checkpoint faults), or nil.
        public let argument: Int?
        /// `factor=` of `slow` (at least 1), or nil.
        public let factor: Double?

        public init(kind: Kind, rank: Int, step: Int64, argument: Int? = nil, factor: Double? = nil) {
            self.kind = kind
            self.rank = rank
            self.step = step
            self.argument = argument
            self.factor = factor
        }
    }

    public let faults: [Fault]

    public static let environmentVariable = "LOCKSTEP_FAULT"

    /// Parses `text` (the variable's value). Throws `UsageError` naming the bad part.
    public init(parsing text: String) throws {
        faults = try text.split(separator: ",").map { spec in
            let fields = spec.split(separator: ":").map(String.init)
            guard let kindName = fields.first, let kind = Kind(rawValue: kindName) else {
                throw UsageError(
                    "\(Self.environmentVariable): unknown fault '\(spec)'",
                    hint: "use one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")), e.g. bitflip:rank=1:step=20")
            }
            var rank = 0, step: Int64 = 0
            var argument: Int?
            var factor: Double?
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
                if pair.count == 2, pair[0] == "factor" {
                    guard let value = Double(pair[1]), value.isFinite, value >= 1, value <= 1000 else {
                        throw UsageError("\(Self.environmentVariable): bad field '\(field)' in '\(spec)' (factor: a number from 1 to 1000)")
                    }
                    factor = value
                    continue
                }
                guard pair.count == 2, let value = Int64(pair[1]), value >= 0, value <= Int32.max else {
                    throw UsageError("\(Self.environmentVariable): bad field '\(field)' in '\(spec)' (expected name=number)")
                }
                switch pair[0] {
                case "rank": rank = Int(value)
                case "step": step = value
                case "bytes": argument = Int(value)
                default:
                    throw UsageError("\(Self.environmentVariable): unknown field '\(pair[0])' in '\(spec)' (rank, step, bytes, factor)")
                }
            }
            if kind == .slow, factor == nil {
                throw UsageError("\(Self.environmentVariable): '\(spec)' needs factor=F (how many times slower)")
            }
            return Fault(kind: kind, rank: rank, step: step, argument: argument, factor: factor)
        }
    }

    public init(faults: [Fault] = []) { self.faults = faults }

    /// The plan from the process environment (empty when the variable is unset).
    public static func fromEnvironment() throws -> FaultPlan {
        guard let text = ProcessInfo.processInfo.environment[environmentVariable], !text.isEmpty else { return FaultPlan() }
        return try FaultPlan(parsing: text)
    }

    /// The faults of `kind` for `rank` at `step`.
    func fires(_ kind: Kind, rank: Int, step: Int64) -> Bool {
        faults.contains { $0.kind == kind && $0.rank == rank && $0.step == step }
    }

    /// The fault to inject into `rank`'s write of the checkpoint of global step `step`.
    func checkpointWriteFault(rank: Int, step: Int64) -> CheckpointWriteFault {
        let due = faults.first { [.checkpointCrash, .checkpointFail].contains($0.kind) && $0.rank == rank && $0.step == step }
        guard let due else { return .none }
        return due.kind == .checkpointCrash
            ? .crashAfterBytes(due.argument ?? 0) : .failAfterBytes(due.argument ?? 0, code: ENOSPC)
    }

    /// True when a fault of this plan can have caused `error`: a non-finite value after a `nan`
    /// or `inf`, a lockstep violation after a perturbation, a failed checkpoint write after
    /// `checkpoint-fail`, an MPI error after `mpi-error`. Every rank holds the same plan, so the
    /// rank that reports a collective error can tell even when the fault hit another rank.
    public func explains(_ error: any Error) -> Bool {
        let kinds = Set(faults.map(\.kind))
        switch error {
        case let error as NonFiniteError:
            return faults.contains { [.nan, .inf].contains($0.kind) && $0.step == error.step }
        case is NonFiniteEvaluationError:
            return !kinds.isDisjoint(with: [.nan, .inf])
        case let error as LockstepViolation:
            return faults.contains { [.bitflip, .perturbOptimizer, .perturbCounter].contains($0.kind) && $0.step <= error.step }
                || kinds.contains(.perturbState)
        case let error as CheckpointError:
            if case .writeFailed = error { return kinds.contains(.checkpointFail) }
            return false
        case is MPIError:
            return kinds.contains(.mpiError)
        default:
            return false
        }
    }

    /// Carries out the process-level faults (exit, kill, segv, stall) due at `step` on `rank`.
    func injectProcessFaults(rank: Int, step: Int64) {
        if fires(.exit, rank: rank, step: step) {
            FileHandle.standardError.write(Data("rank \(rank): fault injection: exiting at step \(step)\n".utf8))
            _exit(3)
        }
        if fires(.kill, rank: rank, step: step) { kill(getpid(), SIGKILL) }
        if fires(.segv, rank: rank, step: step) {
            FileHandle.standardError.write(Data("rank \(rank): fault injection: SIGSEGV at step \(step)\n".utf8))
            signal(SIGSEGV, SIG_DFL)  // the default action (no backtrace handler): dies as a native crash does
            raise(SIGSEGV)
        }
        if fires(.stall, rank: rank, step: step) {
            FileHandle.standardError.write(Data("rank \(rank): fault injection: stalling at step \(step)\n".utf8))
            while true { sleep(3600) }
        }
    }
}

/// An error a fault caused: reported as the error itself, marked `(injected)`.
public struct InjectedError: ReportableError {
    public let underlying: any ReportableError

    public init(_ underlying: any ReportableError) { self.underlying = underlying }

    public var description: String { "\(underlying.description) (injected)" }
    public var hint: String? { underlying.hint }
    public var exitStatus: ExitStatus { underlying.exitStatus }
    public var isCollective: Bool { underlying.isCollective }
    public var mayFollowAPeersFailure: Bool { underlying.mayFollowAPeersFailure }
}

/// Carries out a `FaultPlan` on one rank: a `StepObserver` on the training step (process faults,
/// NaN and Inf, bit flips, slowness, an MPI error) and the checkpoint writer's fault. The step and
/// the loop know no fault kinds.
final class FaultInjector: StepObserver {
    let plan: FaultPlan
    let rank: Int
    /// The optimizer whose first state buffer `perturb-optimizer` changes.
    let optimizer: any Optimizer
    /// Makes a real MPI call fail (`mpi-error`).
    let failingMPICall: () throws -> Void
    /// `slow`: from which step, how many times slower; and when this step's compute started.
    private let slowness: (step: Int64, factor: Double)?
    private var computeStart: UInt64 = 0

    init(plan: FaultPlan, rank: Int, optimizer: any Optimizer, failingMPICall: @escaping () throws -> Void) {
        self.plan = plan
        self.rank = rank
        self.optimizer = optimizer
        self.failingMPICall = failingMPICall
        slowness = plan.faults.first { $0.kind == .slow && $0.rank == rank }.map { ($0.step, $0.factor ?? 1) }
    }

    func willComputeGradients(step: Int64) throws {
        plan.injectProcessFaults(rank: rank, step: step)
        if plan.fires(.mpiError, rank: rank, step: step) { try failingMPICall() }
        if slowness != nil { computeStart = DispatchTime.now().uptimeNanoseconds }
    }

    func lossComputed(step: Int64, gradients: GradientBuffer) {
        if plan.fires(.nan, rank: rank, step: step) { gradients.loss = .nan }
        if plan.fires(.inf, rank: rank, step: step) { gradients.loss = .infinity }
    }

    func willFinishReduction(step: Int64) {
        guard let slowness, step >= slowness.step else { return }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - computeStart) / 1e9
        let extra = elapsed * (slowness.factor - 1)
        if extra > 0 { usleep(UInt32(min(extra, 60) * 1e6)) }
    }

    /// Flips the top mantissa bit of the middle element, so later updates cannot round it away.
    func didUpdate(step: Int64, parameters: FloatBuffer) {
        if plan.fires(.bitflip, rank: rank, step: step) { Self.flipBit(in: parameters) }
        if plan.fires(.perturbOptimizer, rank: rank, step: step), let first = optimizer.stateBuffers.first {
            Self.flipBit(in: first.buffer)
        }
        if plan.fires(.perturbCounter, rank: rank, step: step) { optimizer.stepCount += 1 }
    }

    /// `perturb-state`: changes this rank's freshly initialised parameters before the agreement.
    func initialStateReady(parameters: FloatBuffer) {
        if plan.faults.contains(where: { $0.kind == .perturbState && $0.rank == rank }) { Self.flipBit(in: parameters) }
    }

    /// The fault to inject into this rank's write of the checkpoint of global step `step`.
    func checkpointWriteFault(step: Int64) -> CheckpointWriteFault { plan.checkpointWriteFault(rank: rank, step: step) }

    private static func flipBit(in buffer: FloatBuffer) {
        let index = buffer.count / 2
        buffer[index] = Float(bitPattern: buffer[index].bitPattern ^ (1 << 22))
    }
}
