import ArgumentParser
import Training

extension ReductionMode: ExpressibleByArgument {}

/// `lockstep train`: how the ranks reduce gradients and check each other.
struct DistributionOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "How gradients are summed: allreduce (one MPI_Allreduce) or reduce-scatter-allgather "
            + "(identical on every rank by construction).", valueName: "mode"))
    var reduction: ReductionMode = .allreduce

    @Option(help: ArgumentHelp(
        "Compare a hash of every rank's parameters, optimizer state, step and LR every K steps "
            + "(also at every epoch end); 0 checks only at epoch ends.", valueName: "K"))
    var verifyEvery: Int = 200

    func validate() throws {
        guard verifyEvery >= 0 else { throw ValidationError("--verify-every must be 0 or more, got \(verifyEvery)") }
    }
}
