import Collectives
import Foundation
import Reporting

/// The start-up agreement: before training, every rank shows the others a fingerprint of what it
/// is about to do (`field → canonical value`: configuration, model, data, tool version, world
/// size) and the job refuses to start when any field differs from rank 0's, naming the ranks and
/// the fields.
public enum FingerprintAgreement {
    /// Allgathers every rank's fingerprint and throws `StartupDisagreement` when any differs from
    /// rank 0's. Collective.
    /// - Parameter flagName: the command-line flag of a field, for the message (nil: none).
    public static func check(
        _ fingerprint: [String: String], communicator: Communicator, flagName: (String) -> String? = { _ in nil }
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let gathered = try communicator.allgather(bytes: Array(try encoder.encode(fingerprint)))
        let decoded = try gathered.map { try JSONDecoder().decode([String: String].self, from: Data($0)) }
        let differences = decoded.enumerated().dropFirst().flatMap { rank, theirs in
            Set(decoded[0].keys).union(theirs.keys).sorted().compactMap { field in
                decoded[0][field] == theirs[field] ? nil : StartupDisagreement.Difference(
                    field: field, flag: flagName(field), rank: rank, rankZeroValue: decoded[0][field], value: theirs[field])
            }
        }
        if !differences.isEmpty { throw StartupDisagreement(differences: differences) }
    }
}

/// The ranks were launched with different settings or data.
public struct StartupDisagreement: ReportableError, Equatable {
    public struct Difference: Equatable, Sendable {
        /// A configuration key path such as `schedule.learningRate`, or `data.trainingLabelsCRC32`.
        public let field: String
        /// The field's command-line flag (`--lr`), when it has one.
        public let flag: String?
        public let rank: Int
        public let rankZeroValue: String?
        public let value: String?

        public init(field: String, flag: String?, rank: Int, rankZeroValue: String?, value: String?) {
            self.field = field
            self.flag = flag
            self.rank = rank
            self.rankZeroValue = rankZeroValue
            self.value = value
        }
    }

    public let differences: [Difference]

    public init(differences: [Difference]) { self.differences = differences }

    public var exitStatus: ExitStatus { .lockstepViolation }
    public var isCollective: Bool { true }

    public var description: String {
        let lines = differences.prefix(12).map { difference in
            let flag = difference.flag.map { " (\($0))" } ?? ""
            return "\(difference.field)\(flag): rank 0 has \(difference.rankZeroValue ?? "(not set)"), "
                + "rank \(difference.rank) has \(difference.value ?? "(not set)")"
        }
        let more = differences.count > 12 ? "; and \(differences.count - 12) more" : ""
        let ranks = Set(differences.map(\.rank)).sorted().map(String.init).joined(separator: ", ")
        return "ranks \(ranks) disagree with rank 0 at start-up: " + lines.joined(separator: "; ") + more
    }

    public var hint: String? {
        "start every rank with the same options, the same dataset and the same lockstep version"
    }
}
