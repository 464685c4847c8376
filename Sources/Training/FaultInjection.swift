import Checkpoints
import Foundation
import Kernels
import Models
import Reporting

/// Test-only fault injection, so every lockstep check can be shown to fire under real `mpirun`.
///
/// Set `LOCKSTEP_FAULT` to one or more comma-separated faults `KIND:rank=R:step=S`:
/// - `bitflip`: after the update of global step S, rank R flips one bit (the top mantissa bit, so
///   later updates cannot round the difference away) of one parameter; the next lockstep
///   verification catches it.
/// - `nan`: at step S, rank R's loss becomes NaN before the reduction.
/// - `exit`: at step S, rank R exits at once with status 3, without telling MPI (a crash).
/// - `kill`: at step S, rank R sends itself SIGKILL (like `kill -9`).
/// - `stall`: at step S, rank R stops making progress (sleeps forever).
/// - `checkpoint-crash`: writing the checkpoint of global step S, rank R (the writer, rank 0)
///   writes the first N bytes (`bytes=N`, default 0) of the temporary file and sends itself
///   SIGKILL, as `kill -9` in the middle of a write (`CheckpointWriteFault.crashAfterBytes`).
/// - `checkpoint-fail`: writing the checkpoint of global step S, the write fails after N bytes as
///   if the disk were full (`CheckpointWriteFault.failAfterBytes`, `ENOSPC`).
/// `rank` defaults to 0 and `step` to 0. Never set it in production.
public struct FaultPlan: Equatable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case bitflip, nan, exit, kill, stall
        case checkpointCrash = "checkpoint-crash"
        case checkpointFail = "checkpoint-fail"
    }

    public struct Fault: Equatable, Sendable {
        public let kind: Kind
        public let rank: Int
        public let step: Int64
        /// Kind-specific integer argument (`bytes=` for checkpoint faults), or nil.
        public let argument: Int?

        public init(kind: Kind, rank: Int, step: Int64, argument: Int? = nil) {
            self.kind = kind
            self.rank = rank
            self.step = step
            self.argument = argument
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
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, let value = Int64(pair[1]), value >= 0 else {
                    throw UsageError("\(Self.environmentVariable): bad field '\(field)' in '\(spec)' (expected name=number)")
                }
                switch pair[0] {
                case "rank": rank = Int(value)
                case "step": step = value
                case "bytes": argument = Int(value)
                default: throw UsageError("\(Self.environmentVariable): unknown field '\(pair[0])' in '\(spec)' (rank, step, bytes)")
                }
            }
            return Fault(kind: kind, rank: rank, step: step, argument: argument)
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

    /// Carries out the process-level faults (exit, kill, stall) due at `step` on `rank`.
    func injectProcessFaults(rank: Int, step: Int64) {
        if fires(.exit, rank: rank, step: step) {
            FileHandle.standardError.write(Data("rank \(rank): fault injection: exiting at step \(step)\n".utf8))
            _exit(3)
        }
        if fires(.kill, rank: rank, step: step) { kill(getpid(), SIGKILL) }
        if fires(.stall, rank: rank, step: step) {
            FileHandle.standardError.write(Data("rank \(rank): fault injection: stalling at step \(step)\n".utf8))
            while true { sleep(3600) }
        }
    }
}

/// Carries out a `FaultPlan` on one rank: a `StepObserver` on the training step (process faults,
/// NaN, bit flip) and the checkpoint writer's fault. The step and the loop know no fault kinds.
final class FaultInjector: StepObserver {
    let plan: FaultPlan
    let rank: Int

    init(plan: FaultPlan, rank: Int) {
        self.plan = plan
        self.rank = rank
    }

    func willComputeGradients(step: Int64) { plan.injectProcessFaults(rank: rank, step: step) }

    func lossComputed(step: Int64, gradients: GradientBuffer) {
        if plan.fires(.nan, rank: rank, step: step) { gradients.loss = .nan }
    }

    /// Flips the top mantissa bit of the middle parameter, so later updates cannot round it away.
    func didUpdate(step: Int64, parameters: FloatBuffer) {
        guard plan.fires(.bitflip, rank: rank, step: step) else { return }
        let index = parameters.count / 2
        parameters[index] = Float(bitPattern: parameters[index].bitPattern ^ (1 << 22))
    }

    /// The fault to inject into this rank's write of the checkpoint of global step `step`.
    func checkpointWriteFault(step: Int64) -> CheckpointWriteFault { plan.checkpointWriteFault(rank: rank, step: step) }
}
