import Determinism
import Foundation
import Kernels
import Tracing

/// A model built from a checked layer list (`ModelDescription.resolve`), over one flat parameter
/// buffer and one `GradientBuffer`: the equivalent of a `torch.nn.Sequential` followed by a
/// softmax cross-entropy loss.
///
/// Parameters are laid out layer after layer, weight then bias, each in PyTorch's layout (linear
/// `[out, in]`, conv2d `[out, in, kh, kw]`) and named as `Sequential.state_dict()` names them
/// (`0.weight`, `3.bias`: the index is the layer's position). For the `mlp` preset this is the
/// very layout of `MLP`, and the stack computes the same bits (the tests prove it): the linear
/// layers run the same GEMMs and, as the MLP, apply a following ReLU in their bias pass. A
/// `conv2d` with the `relu` and `maxpool2d` after it runs as one `ConvolutionBlock`, sample by
/// sample (`LayerFusion`): only the pooled output is stored, with the same bits as the layers run
/// apart. A ReLU before another max pooling has its derivative applied by the pooling's backward.
///
/// Every buffer is allocated once, for at most `maximumBatchSize` rows (backward scratch for
/// `maximumTrainingBatchSize`), plus one sample's scratch for the largest convolution block: no
/// step allocates. Backward reports
/// each layer's gradients as final from the last layer down (`MLP.BackwardEvent`), so the
/// bucketed reduction overlaps as with the MLP.
public final class LayerStack {
    public let model: ModelDescription
    public let layers: [ResolvedLayer]
    /// Every parameter tensor with its name, shape and range in `parameters`, in buffer order.
    public let tensors: [ParameterLayout.Tensor]
    public let parameterCount: Int
    public let inputShape: TensorShape
    public let classCount: Int
    public let maximumBatchSize: Int
    public let maximumTrainingBatchSize: Int

    /// Parameters `[parameterCount]`.
    public let parameters: FloatBuffer
    /// The gradients and the loss slot, overwritten by every `computeGradients`.
    public let gradientBuffer: GradientBuffer
    public var gradients: FloatBuffer { gradientBuffer.gradients }
    /// The input batch `[maximumBatchSize, input elements]` (NCHW for images), filled by the caller.
    public let input: FloatBuffer

    /// Per layer: where its weight and bias start in `parameters` (nil without parameters).
    private let weightOffsets: [Int?]
    private let biasOffsets: [Int?]
    /// Per layer: its own output buffer `[maximumBatchSize, output elements]`, or nil for
    /// `flatten` (which reuses its input's).
    private let outputBuffers: [FloatBuffer?]
    /// Per layer, set by each forward pass: where its output is (its own buffer, or its input's).
    private var outputs: [UnsafeMutablePointer<Float>]
    /// Per conv2d layer: the block it runs (with the following ReLU and max pooling fused in
    /// when present) and the layer whose output buffer it writes (the last one it covers).
    private let blocks: [Int: (block: ConvolutionBlock, outputLayer: Int)]
    /// Per layer: its work is done by the convolution block before it (a fused ReLU or pooling).
    private let absorbed: [Bool]
    /// Per pooling layer: its geometry (and for max pooling, where each output came from).
    private let poolings: [Int: (geometry: PoolingGeometry, argmax: UnsafeMutableBufferPointer<Int32>?)]
    /// Per dropout layer: the mask of the last training forward.
    private let dropoutMasks: [Int: FloatBuffer]
    /// Backward scratch: two buffers of the largest gradient `[maximumTrainingBatchSize, widest]`,
    /// and the per-sample scratch of the largest convolution block.
    private let scratch: (FloatBuffer, FloatBuffer)
    private let blockScratch: FloatBuffer
    /// `noteLinearBounds`' scratch: three `Double`s per output of the widest linear layer.
    private let boundScratch: UnsafeMutableBufferPointer<Double>
    /// The layers whose input gradient backward must compute: some earlier layer has parameters.
    private let needsInputGradient: [Bool]
    /// Per layer: a linear or conv2d layer followed by `relu`, which it applies in its own bias
    /// pass (the `relu` layer then shares its output buffer and does nothing in forward).
    private let appliesNextReLU: [Bool]
    /// Per layer: a `relu` followed by `maxpool2d`, whose backward applies the ReLU's derivative
    /// (`maxPoolBackward(reluOutput:)`), so the ReLU's own backward pass is skipped.
    private let reluInPoolBackward: [Bool]
    /// Where forward, the loss and backward are recorded, layer by layer (nil: nowhere). Set it
    /// between steps.
    public var timeline: Timeline? {
        didSet { spanNames = timeline.map { LayerSpanNames(layers: layers, absorbed: absorbed, appliesNextReLU: appliesNextReLU, blocks: blocks.mapValues(\.outputLayer), timeline: $0) } }
    }
    private var spanNames: LayerSpanNames?
    /// The one target of an ungrouped `computeGradients` (set per call; allocated once).
    private let singleTarget = UnsafeMutableBufferPointer<UnsafeMutablePointer<Float>>.allocate(capacity: 1)

    /// The largest weight-gradient block of a linear layer computed by one GEMM, in elements
    /// (default as `MLP.gradientBlockElements`, 131,072 = 512 KB): finished blocks are reported so
    /// that their reduction starts while the rest is computed. The world-size-invariant mode uses
    /// smaller blocks (`invariantGradientBlockElements`), which its exact sum converts while they
    /// are still in the core's cache.
    public let gradientBlockElements: Int

    /// `gradientBlockElements` in the world-size-invariant mode: 16,384 elements (64 KB per
    /// micro-batch), so that a tile of every micro-batch of a rank stays in a 1 MB L2 cache while
    /// the exact sum turns it into integers.
    public static let invariantGradientBlockElements = 1 << 14

    /// What a training forward needs for dropout: the seed, the global step and the rows' sample
    /// indices in the dataset (so that a sample's mask does not depend on the rank or world size).
    public struct DropoutContext {
        public let seed: UInt64
        public let step: Int64
        public let samples: UnsafeBufferPointer<Int32>

        public init(seed: UInt64, step: Int64, samples: UnsafeBufferPointer<Int32>) {
            self.seed = seed
            self.step = step
            self.samples = samples
        }
    }

    /// - Parameters:
    ///   - layers: `model.resolve(input:classes:)`.
    ///   - maximumTrainingBatchSize: the most rows any `computeGradients` will use (nil:
    ///     `maximumBatchSize`); sizes the backward scratch and the dropout masks.
    ///   - gradientBlockElements: the largest weight-gradient block of a linear layer, in elements.
    ///   - parameterStorage: where the parameters live, `parameterCount(of: layers)` Floats (a
    ///     window the ranks of a node share); nil: a buffer of the model's own.
    /// The number of parameters (weights and biases) of `layers`: the size of `parameters`.
    public static func parameterCount(of layers: [ResolvedLayer]) -> Int {
        layers.reduce(0) { count, layer in
            guard let weight = layer.weightShape, let bias = layer.biasShape else { return count }
            return count + weight.reduce(1, *) + bias.reduce(1, *)
        }
    }

    public init(
        model: ModelDescription, layers: [ResolvedLayer], maximumBatchSize: Int, maximumTrainingBatchSize: Int? = nil,
        gradientBlockElements: Int = 1 << 17, parameterStorage: FloatBuffer? = nil
    ) {
        let trainingBatch = maximumTrainingBatchSize ?? maximumBatchSize
        precondition(!layers.isEmpty && maximumBatchSize > 0 && trainingBatch > 0 && trainingBatch <= maximumBatchSize
                     && gradientBlockElements > 0,
                     "\(layers.count) layers, maximumBatchSize \(maximumBatchSize), training \(trainingBatch), blocks \(gradientBlockElements)")
        self.gradientBlockElements = gradientBlockElements
        self.model = model
        self.layers = layers
        inputShape = layers[0].input
        guard case let .vector(classes) = layers[layers.count - 1].output else {
            preconditionFailure("the last layer must output a vector of logits: \(layers[layers.count - 1].output)")
        }
        classCount = classes
        self.maximumBatchSize = maximumBatchSize
        self.maximumTrainingBatchSize = trainingBatch

        var tensors: [ParameterLayout.Tensor] = []
        var weightOffsets: [Int?] = [], biasOffsets: [Int?] = []
        var offset = 0
        for layer in layers {
            guard let weight = layer.weightShape, let bias = layer.biasShape else {
                weightOffsets.append(nil)
                biasOffsets.append(nil)
                continue
            }
            let weightCount = weight.reduce(1, *), biasCount = bias.reduce(1, *)
            tensors.append(.init(name: layer.weightName, shape: weight, range: offset..<(offset + weightCount)))
            weightOffsets.append(offset)
            offset += weightCount
            tensors.append(.init(name: layer.biasName, shape: bias, range: offset..<(offset + biasCount)))
            biasOffsets.append(offset)
            offset += biasCount
        }
        self.tensors = tensors
        self.weightOffsets = weightOffsets
        self.biasOffsets = biasOffsets
        parameterCount = offset
        precondition(parameterStorage == nil || parameterStorage!.count == offset,
                     "parameter storage of \(parameterStorage?.count ?? 0) Floats for \(offset) parameters")
        parameters = parameterStorage ?? FloatBuffer(count: offset)
        gradientBuffer = GradientBuffer(parameterCount: offset)
        input = FloatBuffer(count: maximumBatchSize * inputShape.elementCount)

        var poolings: [Int: (PoolingGeometry, UnsafeMutableBufferPointer<Int32>?)] = [:]
        var dropoutMasks: [Int: FloatBuffer] = [:]
        for layer in layers {
            switch (layer.spec, layer.input) {
            case let (.maxPool2d(window, stride), .image(_, height, width)):
                poolings[layer.index] = (
                    PoolingGeometry(inputHeight: height, inputWidth: width, window: window, stride: stride),
                    .allocate(capacity: maximumBatchSize * layer.output.elementCount))
            case let (.avgPool2d(window, stride), .image(_, height, width)):
                poolings[layer.index] = (PoolingGeometry(inputHeight: height, inputWidth: width, window: window, stride: stride), nil)
            case (.dropout, _):
                dropoutMasks[layer.index] = FloatBuffer(count: trainingBatch * layer.output.elementCount)
            default: break
            }
        }
        let fusion = LayerFusion(layers: layers)
        var blocks: [Int: (ConvolutionBlock, Int)] = [:]
        for (index, fused) in fusion.convolutions {
            let pooling = fused.poolingLayer.map { poolings[$0]!.0 }
            blocks[index] = (ConvolutionBlock(convolution: fused.geometry, relu: fused.reluLayer != nil, pooling: pooling),
                             fused.lastLayer)
        }
        self.blocks = blocks
        absorbed = fusion.absorbed
        self.poolings = poolings
        self.dropoutMasks = dropoutMasks
        let applies = layers.indices.map { index in
            layers[index].spec.hasParameters && index + 1 < layers.count && layers[index + 1].spec == .relu
        }
        appliesNextReLU = applies
        reluInPoolBackward = layers.indices.map { index in
            guard layers[index].spec == .relu, index + 1 < layers.count, case .maxPool2d = layers[index + 1].spec else { return false }
            return true
        }
        outputBuffers = layers.indices.map { index in
            let layer = layers[index]
            let sharesInput = layer.spec == .flatten || (layer.spec == .relu && index > 0 && applies[index - 1])
            // A convolution with a fused pooling writes only the pooling's output.
            let pooledConvolution = blocks[index].map { $0.1 != index } ?? false
            let fusedReLU = layer.spec == .relu && fusion.absorbed[index]
            if sharesInput || pooledConvolution || fusedReLU { return nil }
            return FloatBuffer(count: maximumBatchSize * layer.output.elementCount)
        }
        outputs = Array(repeating: UnsafeMutablePointer(input.baseAddress), count: layers.count)
        var needs: [Bool] = []
        var seenParameters = false
        for layer in layers {
            needs.append(seenParameters)
            seenParameters = seenParameters || layer.spec.hasParameters
        }
        needsInputGradient = needs
        let widest = layers.enumerated().map { index, layer in
            max(layer.output.elementCount, needs[index] ? layer.input.elementCount : 0)
        }.max()!
        scratch = (FloatBuffer(count: trainingBatch * widest), FloatBuffer(count: trainingBatch * widest))
        blockScratch = FloatBuffer(count: blocks.values.map { $0.0.scratchSize }.max() ?? 0)
        let widestLinear = layers.filter { if case .linear = $0.spec { return true } else { return false } }
            .map(\.output.elementCount).max() ?? 0
        boundScratch = .allocate(capacity: 3 * widestLinear)
        boundScratch.initialize(repeating: 0)
    }

    deinit {
        for (_, pooling) in poolings { pooling.argmax?.deallocate() }
        singleTarget.deallocate()
        boundScratch.deallocate()
    }

    /// He (Kaiming) normal initialisation, as `MLP.initialize`: for the k-th layer with parameters,
    /// weights ~ N(0, 2 / fan_in) drawn in `Double` from `SeededGenerator(seed:stream: 0x1417, k)`
    /// in buffer order and rounded to `Float`, biases 0. fan_in is the input features of a linear
    /// layer, `C·kh·kw` of a convolution (PyTorch's `fan_in`).
    public func initialize(seed: UInt64) {
        var ordinal: UInt64 = 0
        for (index, layer) in layers.enumerated() {
            guard let weightOffset = weightOffsets[index], let biasOffset = biasOffsets[index], let shape = layer.weightShape else {
                continue
            }
            var generator = SeededGenerator(seed: seed, stream: 0x1417, ordinal)
            let fanIn = shape.dropFirst().reduce(1, *)
            let standardDeviation = (2.0 / Double(fanIn)).squareRoot()
            for i in weightOffset..<(weightOffset + shape.reduce(1, *)) {
                parameters[i] = Float(generator.nextGaussian() * standardDeviation)
            }
            for i in biasOffset..<(biasOffset + shape[0]) { parameters[i] = 0 }
            ordinal += 1
        }
    }

    /// The `from` values `computeGradients` reports with `.gradientsReady`, in order.
    public var gradientReadyPoints: [Int] {
        layers.reversed().flatMap { layer -> [Int] in
            guard let weightOffset = weightOffsets[layer.index], let shape = layer.weightShape else { return [] }
            guard case .linear = layer.spec else { return [weightOffset] }
            let rows = linearBlockRows(outputs: shape[0], inputs: shape[1])
            return stride(from: shape[0] - rows, to: -rows, by: -rows).map { weightOffset + max(0, $0) * shape[1] }
        }
    }

    /// The element ranges that grouped backward with a sink (`GradientGroups(rows:sink:)`) reports
    /// with `.tileComputed`, in that order: from the end of the buffer down, each linear layer's
    /// bias, then its weight-gradient blocks (last rows first); each conv2d layer's weight and bias
    /// as one range. The loss slot (`parameterCount ..< parameterCount + 1`) comes before all.
    public var gradientTiles: [Range<Int>] {
        layers.reversed().flatMap { layer -> [Range<Int>] in
            guard let weight = weightOffsets[layer.index], let bias = biasOffsets[layer.index],
                  let shape = layer.weightShape else { return [] }
            let end = bias + shape[0]
            guard case .linear = layer.spec else { return [weight..<end] }
            let rows = linearBlockRows(outputs: shape[0], inputs: shape[1])
            return [bias..<end] + stride(from: shape[0], to: 0, by: -rows).map { upper in
                (weight + max(0, upper - rows) * shape[1])..<(weight + upper * shape[1])
            }
        }
    }

    /// Rows per weight-gradient block of a linear layer: its rows in the fewest equal blocks of
    /// at most `gradientBlockElements` elements (as `MLP`).
    private func linearBlockRows(outputs: Int, inputs: Int) -> Int {
        let count = max(1, (outputs * inputs + gradientBlockElements - 1) / gradientBlockElements)
        return (outputs + count - 1) / count
    }

    // MARK: - Forward

    /// Runs the layers on the first `batchSize` rows of `input`; the logits end in the last
    /// layer's output. Dropout is applied when `dropout` is given (training), else skipped.
    private func forward(batchSize: Int, dropout: DropoutContext?) {
        let p = parameters.baseAddress
        var x = input.baseAddress
        for (index, layer) in layers.enumerated() {
            if absorbed[index] {  // done by the convolution block before it
                outputs[index] = x
                continue
            }
            let spanStart = timeline == nil ? 0 : Timeline.now()
            let y: UnsafeMutablePointer<Float>
            if let (_, outputLayer) = blocks[index] {
                y = outputBuffers[outputLayer]!.baseAddress
            } else {
                y = outputBuffers[index]?.baseAddress ?? x
            }
            let inputCount = layer.input.elementCount, outputCount = layer.output.elementCount
            switch layer.spec {
            case .linear:
                denseForward(
                    input: x, weights: p + weightOffsets[index]!, bias: p + biasOffsets[index]!, output: y,
                    batchSize: batchSize, inputCount: inputCount, outputCount: outputCount,
                    activation: appliesNextReLU[index] ? .relu : .identity)
            case .conv2d:
                let (block, outputLayer) = blocks[index]!
                block.forward(
                    input: x, weights: p + weightOffsets[index]!, bias: p + biasOffsets[index]!, output: y,
                    argmax: poolings[outputLayer]?.argmax?.baseAddress, scratch: .init(blockScratch.baseAddress, for: block),
                    batchSize: batchSize)
            case .maxPool2d:
                let pooling = poolings[index]!
                maxPoolForward(
                    input: x, output: y, argmax: pooling.argmax!.baseAddress!, planes: batchSize * channels(layer.input),
                    geometry: pooling.geometry)
            case .avgPool2d:
                averagePoolForward(
                    input: x, output: y, planes: batchSize * channels(layer.input), geometry: poolings[index]!.geometry)
            case .flatten:
                break
            case .relu:
                if index == 0 || !appliesNextReLU[index - 1] { reluForward(input: x, output: y, count: batchSize * inputCount) }
            case .gelu:
                GELU.forward(input: x, output: y, count: batchSize * inputCount)
            case let .dropout(probability):
                if let dropout {
                    Dropout.forward(
                        input: x, output: y, mask: dropoutMasks[index]!.baseAddress,
                        samples: UnsafeBufferPointer(rebasing: dropout.samples[0..<batchSize]), featuresPerSample: inputCount,
                        probability: Float(probability), seed: dropout.seed, step: dropout.step, layer: index)
                } else {
                    y.update(from: x, count: batchSize * inputCount)
                }
            }
            outputs[index] = y
            x = y
            if let timeline, let name = spanNames!.forward[index] { timeline.record(name, from: spanStart) }
        }
    }

    private func channels(_ shape: TensorShape) -> Int {
        if case let .image(channels, _, _) = shape { return channels }
        preconditionFailure("pooling a vector \(shape)")
    }

    /// Loss and accuracy counts of the first `batchSize` rows of `input` against `labels`
    /// `[batchSize]`, in evaluation mode (no dropout).
    public func evaluate(batchSize: Int, labels: UnsafePointer<Int32>) -> LossSummary {
        precondition(batchSize > 0 && batchSize <= maximumBatchSize, "batch \(batchSize) of \(maximumBatchSize)")
        let forwardStart = timeline == nil ? 0 : Timeline.now()
        forward(batchSize: batchSize, dropout: nil)
        if let timeline { timeline.record(spanNames!.forwardPass, from: forwardStart) }
        return softmaxCrossEntropy(
            logits: outputs[layers.count - 1], labels: labels, batchSize: batchSize, classCount: classCount,
            gradient: nil, gradientScale: 0)
    }

    // MARK: - Backward

    /// Bounds of a linear layer's parameter gradients for a sink, before they are computed: for
    /// every group `g`, `|dW_g[o, i]| = |Σ_m dY[m, o] · X[m, i]| ≤ a_o(g) · c(g)` and
    /// `|db_g[o]| ≤ a_o(g)`, with `a_o(g) = Σ_m |dY[m, o]|` and `c(g) = max_{m,i} |X[m, i]|` over
    /// the group's rows (in `Double`: the rounding of these few sums is far inside the binade of
    /// headroom `FixedPointSum.code(bounding:)` keeps for the GEMM's own rounding). A function
    /// of each group's rows only, so the same at any world size. Reports the largest over the
    /// groups, row by row.
    private func noteLinearBounds(
        sink: any GroupedGradientSink, outputGradient dy: UnsafePointer<Float>, input x: UnsafePointer<Float>,
        groups: Int, rows: Int, inputCount: Int, outputCount: Int, weight: Int, bias: Int
    ) {
        // Scratch: the weight rows' bounds, the bias rows' bounds, one group's a_o.
        let weightRows = boundScratch.baseAddress!, biasRows = weightRows + outputCount, sums = biasRows + outputCount
        for o in 0..<(2 * outputCount) { weightRows[o] = 0 }
        for group in 0..<groups {
            // c(g): the largest magnitude's bit pattern (for floats without sign the integer order
            // is the numeric one, and a NaN's pattern is above infinity's, so a NaN wins), as an
            // integer maximum that vectorizes.
            let elements = rows * inputCount
            let largest = (x + group * elements).withMemoryRebound(to: UInt32.self, capacity: elements) { xs in
                var largest: UInt32 = 0
                for i in 0..<elements { largest = max(largest, xs[i] & 0x7FFF_FFFF) }
                return largest
            }
            let c = largest > 0x7F80_0000 ? Double.nan : Double(Float(bitPattern: largest))
            for o in 0..<outputCount { sums[o] = 0 }
            let dys = dy + group * rows * outputCount
            for m in 0..<rows {
                let row = dys + m * outputCount
                for o in 0..<outputCount { sums[o] += Double(row[o].magnitude) }
            }
            for o in 0..<outputCount {
                // NaN wins: a NaN bound marks its block as not finite.
                let product = sums[o] * c
                weightRows[o] = product.isNaN || weightRows[o].isNaN ? .nan : max(weightRows[o], product)
                biasRows[o] = sums[o].isNaN || biasRows[o].isNaN ? .nan : max(biasRows[o], sums[o])
            }
        }
        sink.noteBounds(elements: weight..<bias, rowLength: inputCount, rowBounds: weightRows)
        sink.noteBounds(elements: bias..<(bias + outputCount), rowLength: 1, rowBounds: biasRows)
    }

    /// Where `computeGradients(groups:…)` writes: the rows of a batch in consecutive groups of
    /// `rows`, each group's gradients (and loss slot) into a vector of its own, or tile by tile
    /// into a sink.
    public struct GradientGroups {
        /// Rows per group.
        public let rows: Int
        /// One vector per group, `parameterCount + 1` floats each in `gradientBuffer`'s layout
        /// (gradients, then the loss slot); empty with a sink.
        public let targets: UnsafeBufferPointer<UnsafeMutablePointer<Float>>
        /// Takes the gradients tile by tile instead of `targets` (nil: `targets`).
        public let sink: (any GroupedGradientSink)?
        /// Groups (with a sink; else `targets.count`).
        public let count: Int

        public init(rows: Int, targets: UnsafeBufferPointer<UnsafeMutablePointer<Float>>) {
            self.rows = rows
            self.targets = targets
            sink = nil
            count = targets.count
        }

        /// `count` groups written tile by tile into `sink` (`.tileComputed` after each tile).
        public init(rows: Int, count: Int, sink: any GroupedGradientSink) {
            self.rows = rows
            targets = UnsafeBufferPointer(start: nil, count: 0)
            self.sink = sink
            self.count = count
        }

        /// Where group `group`'s element `i` of `elements` goes: `target(group, elements)[i]`.
        @inline(__always)
        func target(_ group: Int, _ elements: Range<Int>) -> UnsafeMutablePointer<Float> {
            sink?.target(group: group, elements: elements) ?? targets[group]
        }
    }

    /// Forward (training mode) and backward on the first `batchSize` rows of `input`: overwrites
    /// `gradients` with `gradientScale × ∇ Σ_rows loss` and `gradientBuffer.loss` with
    /// `gradientScale × Σ_rows loss`; returns the batch's loss sum and correct count. `observer`
    /// hears `.lossComputed`, then `.gradientsReady(from:)` after each layer's (or linear block's)
    /// gradients, from the last layer down, and `.betweenKernels`.
    /// - Parameters:
    ///   - dropout: the rows' sample indices, the seed and the step (any value when the model has
    ///     no dropout).
    ///   - storage: where to write the gradients and the loss slot instead of `gradientBuffer`:
    ///     `parameterCount + 1` floats in its layout; nil for `gradientBuffer`.
    public func computeGradients(
        batchSize: Int, labels: UnsafePointer<Int32>, gradientScale: Float, dropout: DropoutContext,
        into storage: UnsafeMutablePointer<Float>? = nil, observer: (MLP.BackwardEvent) throws -> Void
    ) rethrows -> LossSummary {
        singleTarget[0] = storage ?? gradients.baseAddress
        return try computeGradients(
            batchSize: batchSize, labels: labels, gradientScale: gradientScale, dropout: dropout,
            groups: GradientGroups(rows: batchSize, targets: UnsafeBufferPointer(singleTarget)), observer: observer)
    }

    /// Whether `computeGradients(groups:)` gives every group the same bits as
    /// `computeGradients(batchSize: groups.rows, …)` on that group's rows alone, found by running
    /// both once on random parameters, inputs and labels drawn from `seed` (dropout on each row's
    /// own sample index). The BLAS kernels' order of operations depends on the shapes, not on the
    /// values, so the same bits here mean the same bits in training; the world-size-invariance
    /// tests check the consequence end to end. Overwrites `groups.targets` and `input`; restores
    /// the parameters. Allocates: call it once, at set-up. `alter` (tests) changes the grouped
    /// result before the comparison.
    public func groupedGradientsMatch(groups: GradientGroups, seed: UInt64) -> Bool {
        groupedGradientsMatch(groups: groups, seed: seed) { _ in }
    }

    func groupedGradientsMatch(
        groups: GradientGroups, seed: UInt64, alter: (UnsafeBufferPointer<UnsafeMutablePointer<Float>>) -> Void
    ) -> Bool {
        let rows = groups.rows, count = groups.targets.count, batch = rows * count
        precondition(rows > 0 && batch <= maximumTrainingBatchSize, "\(count) groups of \(rows) rows")
        guard count > 1 else { return true }
        let saved = FloatBuffer(count: parameterCount)
        saved.baseAddress.update(from: parameters.baseAddress, count: parameterCount)
        defer { parameters.baseAddress.update(from: saved.baseAddress, count: parameterCount) }
        initialize(seed: seed)
        var generator = SeededGenerator(seed: seed, stream: 0x6772_6f75_7073)  // "groups"
        let features = inputShape.elementCount
        let inputs = FloatBuffer(count: batch * features)
        for i in 0..<inputs.count { inputs[i] = Float(generator.nextGaussian()) }
        let labels = (0..<batch).map { _ in Int32(generator.nextIndex(below: classCount)) }
        let samples = (0..<batch).map { Int32($0) }
        let alone = FloatBuffer(count: parameterCount + 1)
        return labels.withUnsafeBufferPointer { labels in
            samples.withUnsafeBufferPointer { samples in
                input.baseAddress.update(from: inputs.baseAddress, count: batch * features)
                let scale = 1 / Float(batch)
                _ = computeGradients(
                    batchSize: batch, labels: labels.baseAddress!, gradientScale: scale,
                    dropout: .init(seed: seed, step: 1, samples: samples), groups: groups) { _ in }
                alter(groups.targets)
                for group in 0..<count {
                    let first = group * rows
                    input.baseAddress.update(from: inputs.baseAddress + first * features, count: rows * features)
                    _ = computeGradients(
                        batchSize: rows, labels: labels.baseAddress! + first, gradientScale: scale,
                        dropout: .init(seed: seed, step: 1, samples: UnsafeBufferPointer(rebasing: samples[first...])),
                        into: alone.baseAddress) { _ in }
                    if memcmp(alone.baseAddress, groups.targets[group], (parameterCount + 1) * MemoryLayout<Float>.stride) != 0 {
                        return false
                    }
                }
                return true
            }
        }
    }

    /// `computeGradients` with the parameter gradients of each group of `groups.rows` rows apart:
    /// group `g` (rows `g·rows ..< (g + 1)·rows`) gets the gradients of its rows' loss alone in
    /// `groups.targets[g]`, each computed by the same kernel calls, on the same shapes, as
    /// `computeGradients(batchSize: groups.rows, …)` on those rows alone. Forward and the input
    /// gradients run on all rows at once; they are row by row (a row's values depend on that row
    /// only) except the GEMMs of `linear` layers, whose rows match the group-by-group run when the
    /// BLAS kernel's arithmetic per row does not depend on the row count: `groupedRowsMatch`
    /// checks that. `.gradientsReady` comes once every group's block is done.
    public func computeGradients(
        batchSize: Int, labels: UnsafePointer<Int32>, gradientScale: Float, dropout: DropoutContext,
        groups: GradientGroups, observer: (MLP.BackwardEvent) throws -> Void
    ) rethrows -> LossSummary {
        precondition(batchSize > 0 && batchSize <= maximumTrainingBatchSize && dropout.samples.count >= batchSize,
                     "training batch \(batchSize) of \(maximumTrainingBatchSize), \(dropout.samples.count) samples")
        let rows = groups.rows, groupCount = batchSize / max(1, rows), sinking = groups.sink != nil
        precondition(rows > 0 && groupCount * rows == batchSize && groups.count >= groupCount,
                     "\(batchSize) rows in groups of \(rows), \(groups.count) targets")
        let lossSlot = parameterCount..<(parameterCount + 1)
        var spanStart = timeline == nil ? 0 : Timeline.now()
        forward(batchSize: batchSize, dropout: dropout)
        if let timeline {
            timeline.record(spanNames!.forwardPass, from: spanStart)
            spanStart = Timeline.now()
        }
        var dy = scratch.0.baseAddress
        var spare = scratch.1.baseAddress
        let last = layers.count - 1
        var summary = LossSummary()
        for group in 0..<groupCount {
            let first = group * rows
            let part = softmaxCrossEntropy(
                logits: outputs[last] + first * classCount, labels: labels + first, batchSize: rows,
                classCount: classCount, gradient: dy + first * classCount, gradientScale: gradientScale)
            groups.target(group, lossSlot)[parameterCount] = Float(part.lossSum) * gradientScale  // the loss slot
            summary.lossSum += part.lossSum
            summary.correctCount += part.correctCount
        }
        if let timeline { timeline.record(spanNames!.loss, from: spanStart) }
        try observer(.lossComputed(summary))
        if sinking { try observer(.tileComputed(lossSlot)) }
        let backwardStart = timeline == nil ? 0 : Timeline.now()

        let p = parameters.baseAddress
        /// A linear layer's bias and weight tiles, every group's, from `dy` (its output gradient)
        /// and `x` (its input).
        func linearTiles(_ t: LinearTiles) throws {
            let biasTile = t.bias..<(t.bias + t.outputCount)
            for group in 0..<groupCount {
                denseBiasGradient(
                    outputGradient: t.dy + group * rows * t.outputCount, biasGradient: groups.target(group, biasTile) + t.bias,
                    batchSize: rows, outputCount: t.outputCount)
            }
            if sinking { try observer(.tileComputed(biasTile)) }
            let blockRows = linearBlockRows(outputs: t.outputCount, inputs: t.inputCount)
            var upper = t.outputCount
            while upper > 0 {
                let lower = max(0, upper - blockRows)
                let tile = (t.weight + lower * t.inputCount)..<(t.weight + upper * t.inputCount)
                for group in 0..<groupCount {
                    denseWeightGradient(
                        outputGradient: t.dy + group * rows * t.outputCount, input: t.x + group * rows * t.inputCount,
                        weightGradient: groups.target(group, tile) + t.weight, batchSize: rows, inputCount: t.inputCount,
                        outputCount: t.outputCount, outputRows: lower..<upper)
                }
                if sinking { try observer(.tileComputed(tile)) }
                try observer(.gradientsReady(from: t.weight + lower * t.inputCount))
                upper = lower
                if upper > 0 { try observer(.betweenKernels) }
            }
        }
        // With a sink, a linear layer that passes a gradient down leaves its tiles here until the
        // next linear layer below has noted its bounds and started their agreement: the tiles'
        // GEMMs then hide that agreement (the first layer has no input gradient to hide it
        // behind). Its output gradient stays in `spare` until then: only in-place layers
        // (activations, dropout, flatten) may run in between; any other layer takes the tiles first.
        var deferred: LinearTiles?
        func takeDeferredTiles() throws {
            guard let tiles = deferred else { return }
            deferred = nil
            try linearTiles(tiles)
        }
        for index in stride(from: last, through: 0, by: -1) where !absorbed[index] {
            let layerStart = timeline == nil ? 0 : Timeline.now()
            defer { if let timeline, let name = spanNames!.backward[index] { timeline.record(name, from: layerStart) } }
            let layer = layers[index]
            let x = index == 0 ? input.baseAddress : outputs[index - 1]
            let inputCount = layer.input.elementCount, outputCount = layer.output.elementCount
            let needsInput = needsInputGradient[index]
            switch layer.spec {
            case .relu, .gelu, .dropout, .flatten, .linear: break
            case .conv2d, .maxPool2d, .avgPool2d: try takeDeferredTiles()
            }
            switch layer.spec {
            case .linear:
                let weight = weightOffsets[index]!, bias = biasOffsets[index]!
                let tiles = LinearTiles(
                    dy: dy, x: x, weight: weight, bias: bias, inputCount: inputCount, outputCount: outputCount)
                guard let sink = groups.sink else {
                    try linearTiles(tiles)
                    guard needsInput else { break }
                    try observer(.betweenKernels)
                    denseInputGradient(
                        outputGradient: dy, weights: p + weight, inputGradient: spare, reluOutput: nil, batchSize: batchSize,
                        inputCount: inputCount, outputCount: outputCount)
                    try observer(.betweenKernels)
                    swap(&dy, &spare)
                    break
                }
                noteLinearBounds(
                    sink: sink, outputGradient: dy, input: x, groups: groupCount, rows: rows, inputCount: inputCount,
                    outputCount: outputCount, weight: weight, bias: bias)
                try observer(.boundsNoted(weight..<(bias + outputCount)))
                // The layer above's tiles (deferred), then this layer's input gradient (into
                // `spare`, which held the layer above's output gradient): the bounds' agreement
                // (nonblocking) completes behind those GEMMs, before this layer's first tile needs
                // it, so a rank that runs late does not hold the others here. The same bits in
                // any order.
                try takeDeferredTiles()
                guard needsInput else {
                    try linearTiles(tiles)
                    break
                }
                denseInputGradient(
                    outputGradient: dy, weights: p + weight, inputGradient: spare, reluOutput: nil,
                    batchSize: batchSize, inputCount: inputCount, outputCount: outputCount)
                try observer(.betweenKernels)
                deferred = tiles
                swap(&dy, &spare)
            case .conv2d:
                let (block, outputLayer) = blocks[index]!
                let argmax = poolings[outputLayer]?.argmax?.baseAddress
                let outputSize = block.outputSize
                let weight = weightOffsets[index]!, bias = biasOffsets[index]!
                let tile = weight..<(bias + layer.weightShape![0])
                for group in 0..<groupCount {
                    let first = group * rows
                    let target = groups.target(group, tile)
                    try block.backward(
                        outputGradient: dy + first * outputSize, output: outputs[outputLayer] + first * outputSize,
                        argmax: argmax.map { UnsafePointer($0 + first * outputSize) }, input: x + first * inputCount,
                        weights: p + weight, weightGradient: target + weight, biasGradient: target + bias,
                        inputGradient: needsInput ? spare + first * inputCount : nil,
                        scratch: .init(blockScratch.baseAddress, for: block), batchSize: rows
                    ) { try observer(.betweenKernels) }
                }
                if sinking { try observer(.tileComputed(tile)) }
                try observer(.gradientsReady(from: weight))
                if needsInput { swap(&dy, &spare) }
            case .maxPool2d:
                guard needsInput else { break }
                let pooling = poolings[index]!
                maxPoolBackward(
                    outputGradient: dy, argmax: pooling.argmax!.baseAddress!, inputGradient: spare,
                    planes: batchSize * channels(layer.input), geometry: pooling.geometry,
                    reluOutput: index > 0 && reluInPoolBackward[index - 1] ? UnsafePointer(outputs[index]) : nil)
                swap(&dy, &spare)
            case .avgPool2d:
                guard needsInput else { break }
                averagePoolBackward(
                    outputGradient: dy, inputGradient: spare, planes: batchSize * channels(layer.input),
                    geometry: poolings[index]!.geometry)
                swap(&dy, &spare)
            case .flatten:
                break
            case .relu:
                if needsInput && !reluInPoolBackward[index] {
                    reluBackward(gradient: dy, output: outputs[index], count: batchSize * outputCount)
                }
            case .gelu:
                if needsInput { GELU.backward(outputGradient: dy, input: x, inputGradient: dy, count: batchSize * outputCount) }
            case .dropout:
                if needsInput {
                    Dropout.backward(outputGradient: dy, mask: dropoutMasks[index]!.baseAddress, inputGradient: dy, count: batchSize * outputCount)
                }
            }
        }
        try takeDeferredTiles()
        if let timeline { timeline.record(spanNames!.backwardPass, from: backwardStart) }
        return summary
    }

    /// What `computeGradients(groups:…)` needs to compute a linear layer's parameter gradients.
    private struct LinearTiles {
        /// The layer's output gradient (all rows) and input.
        let dy: UnsafeMutablePointer<Float>
        let x: UnsafeMutablePointer<Float>
        let weight: Int, bias: Int, inputCount: Int, outputCount: Int
    }
}
