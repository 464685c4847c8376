import Reporting

/// The ranks' states differ.
public struct LockstepViolation: ReportableError, Equatable {
    /// The global step at which the check ran.
    public let step: Int64
    /// Which check: "periodic check", "end of epoch 3", "final check", ….
    public let context: String
    /// Names of the state parts whose hashes differ, e.g. ["parameters"].
    public let differingParts: [String]
    /// Ranks grouped by identical hashes, each group sorted, groups by their lowest rank.
    public let rankGroups: [[Int]]

    public init(step: Int64, context: String, differingParts: [String], rankGroups: [[Int]]) {
        self.step = step
        self.context = context
        self.differingParts = differingParts
        self.rankGroups = rankGroups
    }

    public var exitStatus: ExitStatus { .lockstepViolation }
    public var isCollective: Bool { true }

    public var description: String {
        let groups = rankGroups.map { "ranks \($0.map(String.init).joined(separator: ","))" }.joined(separator: " vs ")
        return "lockstep violation at step \(step) (\(context)): \(differingParts.joined(separator: ", ")) differ: \(groups)"
    }

    public var hint: String? {
        "the ranks no longer hold identical state; rerun with --reduction reduce-scatter-allgather, and report this if it recurs"
    }
}
