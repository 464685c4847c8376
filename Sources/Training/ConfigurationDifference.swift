import Foundation

/// One field in which two training configurations differ, found by comparing them field by field
/// in a flattened form (key paths such as `schedule.learningRate` to canonical JSON values).
///
/// Shared by the start-up agreement (rank 0's configuration against every other rank's) and
/// resume (the checkpoint's configuration against the command line's), so both name the same
/// fields with the same flags.
public struct ConfigurationDifference: Equatable, Sendable, CustomStringConvertible {
    /// A key path of `TrainingConfiguration` (`epochs`, `schedule.learningRate`), or a start-up
    /// fingerprint field (`data.trainingLabelsCRC32`).
    public let field: String
    /// The value in the reference configuration (rank 0's, the checkpoint's); nil when not set.
    public let referenceValue: String?
    /// The value in the other configuration; nil when not set.
    public let value: String?

    public init(field: String, referenceValue: String?, value: String?) {
        self.field = field
        self.referenceValue = referenceValue
        self.value = value
    }

    /// The command-line flag of `field`, when it has one (`--lr` for `schedule.learningRate`).
    public var flag: String? { TrainingConfiguration.flagName(forField: field) }

    /// `field (--flag)`, or the field alone when it has no flag.
    public var fieldAndFlag: String { flag.map { "\(field) (\($0))" } ?? field }

    /// `epochs (--epochs): 2 → 3`.
    public var description: String {
        "\(fieldAndFlag): \(referenceValue ?? "(not set)") → \(value ?? "(not set)")"
    }

    // MARK: - Flattening and comparing

    /// `configuration` as `key path → canonical JSON value`: nested structs become dotted key
    /// paths, every leaf (number, string, Boolean, array) its JSON text with sorted keys. Fields
    /// that are nil are absent.
    public static func fields(of configuration: TrainingConfiguration) -> [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // A configuration always encodes (finite values, validated flags); a failure is a bug.
        guard let data = try? encoder.encode(configuration), let object = try? JSONSerialization.jsonObject(with: data) else {
            preconditionFailure("TrainingConfiguration did not encode to JSON: \(configuration)")
        }
        var fields: [String: String] = [:]
        flatten(object, prefix: "", into: &fields)
        return fields
    }

    /// The fields whose values differ between `reference` and `other` (also fields present in
    /// only one), sorted by field.
    public static func between(_ reference: [String: String], _ other: [String: String]) -> [ConfigurationDifference] {
        Set(reference.keys).union(other.keys).sorted().compactMap { field in
            reference[field] == other[field]
                ? nil : ConfigurationDifference(field: field, referenceValue: reference[field], value: other[field])
        }
    }

    /// The differences between two configurations, ignoring `ignoring` (key paths).
    public static func between(
        _ reference: TrainingConfiguration, _ other: TrainingConfiguration, ignoring: Set<String> = []
    ) -> [ConfigurationDifference] {
        between(fields(of: reference), fields(of: other)).filter { !ignoring.contains($0.field) }
    }

    private static func flatten(_ value: Any, prefix: String, into fields: inout [String: String]) {
        if let dictionary = value as? [String: Any] {
            for (key, child) in dictionary { flatten(child, prefix: prefix.isEmpty ? key : "\(prefix).\(key)", into: &fields) }
        } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) {
            fields[prefix] = String(decoding: data, as: UTF8.self)
        }
    }
}
