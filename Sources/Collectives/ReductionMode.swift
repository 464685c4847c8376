/// How the ranks sum their gradients.
public enum ReductionMode: String, Codable, Sendable, CaseIterable {
    /// `MPI_Allreduce`: one call; bitwise-identical results on every rank in every case measured
    /// with Open MPI 4.1, though the MPI standard does not promise it (the lockstep check catches it).
    case allreduce
    /// A reduce-scatter then an allgather of the summed blocks: every rank receives the very same
    /// bytes for every block, so the result is identical on every rank by construction.
    case reduceScatterAllgather = "reduce-scatter-allgather"
}
