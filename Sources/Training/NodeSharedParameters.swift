import Collectives
import Kernels

/// With `--reduction sharded` and every rank on one node: the parameters in one MPI-3 shared
/// window that all the ranks map (`NodeMemorySharing.allocateNodeShared`), instead of a copy per
/// rank. Each rank's optimizer writes its slice straight into it, and a node barrier replaces the
/// allgather of the parameters: no rank copies another's slice, and the node holds one copy.
///
/// Safe because no rank reads the parameters while another writes them: the update starts after
/// the reduction's agreement on the Σ gᵢ² (`GradientReduction.finish`), which every rank joins
/// only once its backward is done, and the next forward starts after the barrier that ends the
/// update. Identical values written to the same place (initialisation, a checkpoint's restore,
/// rank 0's broadcast at the start) leave it unchanged.
///
/// Only with `--shared-parameters`: without it (the default), and whenever the job spans nodes,
/// each rank keeps its copy and the parameters are all-gathered. Measured on this project's 2-core
/// VM, the update's writes into memory the other core has just read cost more than the allgather
/// they replace (README "Sharded optimizer update").
public final class NodeSharedParameters {
    /// The window, `parameterCount` Floats.
    public let storage: FloatBuffer
    private let node: NodeMemorySharing

    private init(storage: FloatBuffer, node: NodeMemorySharing) {
        self.storage = storage
        self.node = node
    }

    /// The shared parameters when `configuration` asks for the sharded reduction with shared
    /// parameters and all of the job's ranks (two or more) share one node's memory; else nil.
    /// Collective.
    public static func make(
        configuration: TrainingConfiguration, communicator: Communicator, parameterCount: Int
    ) throws -> NodeSharedParameters? {
        guard configuration.reduction == .sharded, configuration.sharesParametersOnNode, communicator.worldSize > 1,
              let node = communicator as? NodeMemorySharing else { return nil }
        let (nodeRank, nodeSize) = try node.nodeRank()
        // Every rank must take the same branch: the node sizes agree only if the job is one node.
        let oneNode = try communicator.allreduce([Int64(nodeSize == communicator.worldSize ? 1 : 0)], operation: .min)[0] == 1
        guard oneNode else { return nil }
        // One alignment's worth more, to start the parameters on a cache line (the window's own
        // start need not be; its offset within a page is the same in every process).
        let bytes = parameterCount * MemoryLayout<Float>.stride, alignment = FloatBuffer.alignment
        let window = try node.allocateNodeShared(byteCount: nodeRank == 0 ? bytes + alignment : 0)
        precondition(window.count >= bytes + alignment, "a shared window of \(window.count) bytes for \(bytes)")
        let misalignment = Int(bitPattern: window.baseAddress!) % alignment
        let base = (window.baseAddress! + (alignment - misalignment) % alignment).bindMemory(to: Float.self, capacity: parameterCount)
        if nodeRank == 0 { base.initialize(repeating: 0, count: parameterCount) }
        try node.nodeBarrier()
        return NodeSharedParameters(storage: FloatBuffer(borrowing: base, count: parameterCount), node: node)
    }

    /// Ends an update: returns once every rank of the node has written its slice. Collective.
    func publish() throws {
        try node.nodeBarrier()
    }
}
