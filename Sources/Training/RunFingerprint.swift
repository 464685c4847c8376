import Datasets
import Models
import Reporting

/// What this rank is about to run, as the start-up agreement (`FingerprintAgreement`) compares
/// it across ranks: `field → canonical value`.
enum RunFingerprint {
    /// The configuration's fields (less those that may differ between ranks: paths), the model's
    /// layer list and input shape, the data's format, sizes, shape, type, classes, normalisation and label checksums, the tool version and the world size.
    static func fields(
        configuration: TrainingConfiguration, model: LayerStack, data: TrainingData, worldSize: Int
    ) -> [String: String] {
        var fields = ConfigurationDifference.fields(of: configuration)
        for excluded in TrainingConfiguration.rankLocalFields { fields.removeValue(forKey: excluded) }
        fields["model.layers"] = model.model.description
        fields["model.input"] = model.inputShape.description
        fields["data.trainingSamples"] = String(data.training.count)
        fields["data.testSamples"] = String(data.test.count)
        fields["data.format"] = data.format
        fields["data.sampleShape"] = data.training.shapeDescription
        fields["data.featureType"] = data.training.features.typeName
        fields["data.classes"] = String(data.training.classCount)
        // The statistics of `standard` exactly (their bits), so that ranks cannot differ unseen.
        let normalization = data.training.normalization
        fields["data.normalization"] = normalization.kind.rawValue + zip(normalization.mean, normalization.standardDeviation)
            .map { " \(String($0.bitPattern, radix: 16))/\(String($1.bitPattern, radix: 16))" }.joined()
        fields["data.trainingLabelsCRC32"] = String(data.training.labelChecksum)
        fields["data.testLabelsCRC32"] = String(data.test.labelChecksum)
        fields["lockstep.version"] = LockstepVersion.current
        fields["mpi.worldSize"] = String(worldSize)
        return fields
    }
}
