/// How the ranks sum their gradients.
public enum ReductionMode: String, Codable, Sendable, CaseIterable {
    /// `MPI_Allreduce`: one call; bitwise-identical results on every rank in every case measured
    /// with Open MPI 4.1, though the MPI standard does not promise it (the lockstep check catches it).
    case allreduce
    /// A reduce-scatter then an allgather of the summed blocks: every rank receives the very same
    /// bytes for every block, so the result is identical on every rank by construction.
    case reduceScatterAllgather = "reduce-scatter-allgather"
    /// ZeRO stage 1 (Rajbhandari et al., "ZeRO", SC 2020): each rank owns a contiguous slice of
    /// the parameters (`BlockPartition`). The gradient buckets are reduce-scattered by a ring as
    /// backward finishes them (`Communicator.startSumReduceScatter`), so each rank receives the
    /// sums of its slice only; each rank clips and updates its slice with 1/N of the optimizer
    /// state; the updated parameters are all-gathered. Every rank receives the owner's bytes for
    /// every slice, so the result is identical on every rank by construction.
    case sharded
    /// For several ranks per node: a reduce-scatter within each node, a reduce-scatter and an
    /// allgather of each block among one rank per node, an allgather within the node
    /// (`Communicator.sumHierarchically`; identical on every rank by construction):
    /// each node's link carries 1/(ranks per node) of the flat allreduce's bytes. One blocking
    /// call after backward. Every node must hold the same number of ranks.
    case hierarchical
}
