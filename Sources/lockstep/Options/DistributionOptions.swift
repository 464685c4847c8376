import ArgumentParser
import Collectives
import Training

extension ReductionMode: ExpressibleByArgument {}
extension NonFinitePolicy: ExpressibleByArgument {}
extension DivergencePolicy: ExpressibleByArgument {}

/// `lockstep train`: how the ranks reduce gradients and check each other.
struct DistributionOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "How gradients are summed: allreduce (MPI_Iallreduce per bucket), reduce-scatter-allgather "
            + "(identical on every rank by construction), sharded (ZeRO-1: each rank reduce-scatters, "
            + "updates and keeps optimizer state for 1/N of the parameters, then all-gathers them), or "
            + "hierarchical (within each node, then one rank per node across nodes).", valueName: "mode"))
    var reduction: ReductionMode = TrainingConfiguration.defaults.reduction

    @Option(help: ArgumentHelp(
        "Compare a hash of every rank's parameters, optimizer state, step and LR every K steps "
            + "(also at every epoch end); 0 checks only at epoch ends.", valueName: "K"))
    var verifyEvery: Int = TrainingConfiguration.defaults.verifyEvery

    @Option(name: .customLong("on-nonfinite"), help: ArgumentHelp(
        "When the reduced loss or gradient holds NaN or Inf: abort (stop with the step) or skip "
            + "(every rank skips that update; the count is logged and kept).", valueName: "policy"))
    var onNonFinite: NonFinitePolicy = TrainingConfiguration.defaults.onNonFinite

    @Option(name: .customLong("on-divergence"), help: ArgumentHelp(
        "When an epoch's training loss or test accuracy shows divergence (README \"Guarantees\"): warn (on the "
            + "epoch line) or stop (after the epoch's checkpoint, exit 81).", valueName: "policy"))
    var onDivergence: DivergencePolicy = .warn

    @Option(help: ArgumentHelp(
        "End the job with an error naming the step and collective when a step makes no progress "
            + "for this many seconds; 0 never.", valueName: "seconds"))
    var stallTimeout: Double = TrainingConfiguration.defaults.stallTimeout

    @Option(name: .customLong("bucket-mb"), help: ArgumentHelp(
        "Gradient bucket size in MiB: buckets are reduced by separate nonblocking allreduces, each "
            + "started as soon as backward has finished it.", valueName: "MiB"))
    var bucketMegabytes: Double = TrainingConfiguration.defaults.bucketMegabytes

    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "Start each bucket's reduction during backward; --no-overlap starts them only after backward "
            + "(same buckets, bitwise-same results). reduce-scatter-allgather never overlaps."))
    var overlap = TrainingConfiguration.defaults.overlap

    @Flag(help: ArgumentHelp(
        "With --reduction sharded and every rank on one node: the ranks share one copy of the parameters "
            + "(an MPI-3 shared window), each updates its slice in place, and a barrier replaces the allgather "
            + "(slower on a 2-core VM: README \"Sharded optimizer update\")."))
    var sharedParameters = false

    @Flag(name: .customLong("world-size-invariant"), help: ArgumentHelp(
        "Train to the same bits at any number of ranks: the global batch is cut into --micro-batch "
            + "micro-batches and their gradients are summed exactly (README \"World-size-invariant training\")."))
    var worldSizeInvariant = false

    @Option(name: .customLong("micro-batch"), help: ArgumentHelp(
        "Samples per micro-batch with --world-size-invariant: a divisor of --global-batch; at most "
            + "global batch / micro-batch ranks.", valueName: "M"))
    var microBatch: Int?

    func validate() throws {
        if sharedParameters && reduction != .sharded {
            throw ValidationError("--shared-parameters shares the parameters of --reduction sharded: add --reduction sharded, or drop --shared-parameters")
        }
        if worldSizeInvariant && reduction == .sharded {
            throw ValidationError("--reduction sharded does not combine with --world-size-invariant, which sums gradients exactly in its own collectives: drop one of them")
        }
        if worldSizeInvariant {
            guard let microBatch else {
                throw ValidationError("--world-size-invariant needs --micro-batch M, the samples per micro-batch (a divisor of --global-batch, such as 16)")
            }
            guard microBatch > 0 else { throw ValidationError("--micro-batch must be a positive number of samples, got \(microBatch)") }
        } else if let microBatch {
            throw ValidationError("--micro-batch \(microBatch) is used only with --world-size-invariant: add it, or drop --micro-batch")
        }
        guard bucketMegabytes >= 0.0001, bucketMegabytes <= 4096 else {
            throw ValidationError("--bucket-mb must be a number of MiB in 0.0001…4096, got \(bucketMegabytes)")
        }
        guard stallTimeout == 0 || (stallTimeout >= 1 && stallTimeout <= 1e9) else {
            throw ValidationError("--stall-timeout must be 0 (never) or 1…1e9 seconds, got \(stallTimeout)")
        }
        guard verifyEvery >= 0 else { throw ValidationError("--verify-every must be 0 or more, got \(verifyEvery)") }
    }
}
