import Collectives
import Datasets
import Foundation
import Models
import Reporting

/// The start-up agreement: before training, every rank shows the others what it is about to do
/// (configuration, model layout, data, tool version, world size) and the job refuses to start
/// when any of it differs, naming the ranks and the fields.
struct StartupAgreement {
    /// `field → canonical value` describing what this rank will run.
    static func fingerprint(
        configuration: TrainingConfiguration, layout: ParameterLayout, data: TrainingData, worldSize: Int
    ) throws -> [String: String] {
        var fields = ConfigurationDifference.fields(of: configuration)
        for excluded in TrainingConfiguration.rankLocalFields { fields.removeValue(forKey: excluded) }
        fields["model.layerSizes"] = layout.shapeDescription
        fields["data.trainingSamples"] = String(data.training.count)
        fields["data.testSamples"] = String(data.test.count)
        fields["data.imageSize"] = "\(data.training.rows)x\(data.training.columns)"
        fields["data.trainingLabelsCRC32"] = String(data.training.labelChecksum)
        fields["data.testLabelsCRC32"] = String(data.test.labelChecksum)
        fields["lockstep.version"] = LockstepVersion.current
        fields["mpi.worldSize"] = String(worldSize)
        return fields
    }

    /// Allgathers every rank's fingerprint and throws `StartupDisagreement` when any differs from
    /// rank 0's. Collective.
    static func check(_ fingerprint: [String: String], communicator: Communicator) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let gathered = try communicator.allgather(bytes: Array(try encoder.encode(fingerprint)))
        let decoded = try gathered.map { try JSONDecoder().decode([String: String].self, from: Data($0)) }
        let differences = decoded.enumerated().dropFirst().flatMap { rank, theirs in
            ConfigurationDifference.between(decoded[0], theirs).map { StartupDisagreement.Difference(rank: rank, $0) }
        }
        if !differences.isEmpty { throw StartupDisagreement(differences: differences) }
    }
}

/// The ranks were launched with different settings or data.
public struct StartupDisagreement: ReportableError, Equatable {
    public struct Difference: Equatable, Sendable {
        /// A configuration key path such as `schedule.learningRate`, or `data.trainingLabelsCRC32`.
        public let field: String
        public let rank: Int
        public let rankZeroValue: String?
        public let value: String?
    }

    public let differences: [Difference]

    public var exitStatus: ExitStatus { .lockstepViolation }
    public var isCollective: Bool { true }

    public var description: String {
        let lines = differences.prefix(12).map { difference in
            let flag = TrainingConfiguration.flagName(forField: difference.field).map { " (\($0))" } ?? ""
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

extension StartupDisagreement.Difference {
    init(rank: Int, _ difference: ConfigurationDifference) {
        self.init(field: difference.field, rank: rank, rankZeroValue: difference.referenceValue, value: difference.value)
    }
}
