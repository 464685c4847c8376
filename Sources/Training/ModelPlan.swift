import Datasets
import Models

/// The model a configuration trains on its data, checked before anything is allocated.
public struct ModelPlan: Sendable {
    public let description: ModelDescription
    public let layers: [ResolvedLayer]
    /// How the start-up log and size errors name it: `784-512-256-10` for the `mlp` preset (as
    /// always), else the layer list.
    public let name: String

    /// Resolves `configuration`'s model on `data`'s samples and checks its size: the `mlp`
    /// preset exactly as before layer lists (`ModelSizeError.check(layerSizes:)`), any other by
    /// its shapes (`ModelDescriptionError`) and its memory (`ModelSizeError`).
    /// - Parameter samples: data whose image size and class count the model must fit.
    public init(configuration: TrainingConfiguration, samples: LabeledSamples, maximumBatch: Int) throws {
        try self.init(
            configuration: configuration, sampleShape: samples.tensorShape, classes: samples.classCount,
            maximumBatch: maximumBatch)
    }

    /// - Parameters:
    ///   - sampleShape: one sample's shape (`[1, 28, 28]` for Fashion-MNIST).
    ///   - classes: the number of classes: the last layer's width.
    public init(configuration: TrainingConfiguration, sampleShape: TensorShape, classes: Int, maximumBatch: Int) throws {
        // The world-size-invariant sum's stash (when the micro-batches run one by one, a copy of
        // each local micro-batch's gradients but the last) and its integer sums (two buffers'
        // worth at 64 bits, one at 32), counted at one rank, the most.
        let sumBuffers = configuration.invariantMicroBatchSize.map { configuration.globalBatchSize / $0 + 1 } ?? 0
        let optimizerBuffers = configuration.optimizer.stateBufferCount + sumBuffers
        let layerSizes = [sampleShape.elementCount] + configuration.hiddenSizes + [classes]
        if configuration.model == nil {
            try ModelSizeError.check(layerSizes: layerSizes, optimizerBuffers: optimizerBuffers, maximumBatch: maximumBatch)
        }
        description = try configuration.modelDescription(classes: classes)
        layers = try description.resolve(input: sampleShape, classes: classes)
        if configuration.model == nil {
            name = layerSizes.map(String.init).joined(separator: "-")
        } else {
            name = description.description
            try ModelSizeError.checkMemory(
                ModelFootprint(layers: layers), model: name, flag: "--model", optimizerBuffers: optimizerBuffers,
                maximumBatch: maximumBatch)
        }
    }
}

extension LabeledSamples {
    /// One sample's shape as the model sees it: an image `[C, H, W]` or a vector `[F]`.
    public var tensorShape: TensorShape {
        sampleShape.count == 3
            ? .image(channels: sampleShape[0], height: sampleShape[1], width: sampleShape[2])
            : .vector(features: featureCount)
    }
}
