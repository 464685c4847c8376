import Reporting

/// `--reduction hierarchical` on nodes that hold different numbers of ranks: its blocks would not
/// line up across nodes.
public struct HierarchyError: ReportableError, Sendable, Equatable {
    /// Each rank's node's rank count, in rank order.
    public let ranksPerNode: [Int]
    public var description: String {
        "--reduction hierarchical needs the same number of ranks on every node; the ranks' nodes hold \(ranksPerNode.map(String.init).joined(separator: ", ")) ranks"
    }
    public var hint: String? { "give every host the same number of slots, or use --reduction allreduce" }
    public var exitStatus: ExitStatus { .usage }
    public var isCollective: Bool { true }
}
