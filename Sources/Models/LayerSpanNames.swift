import Tracing

/// The timeline names of a `LayerStack`'s spans, registered once when a timeline is attached:
/// the passes (`forward`, `loss`, `backward`) and each layer's own span, named by its position
/// and text as in the layer list (`forward 0 conv2d(32,3,padding=1) + 1 relu + 2 maxpool2d(2)`
/// for a fused convolution block, `backward 3 linear(128)`). Layers that do no work of their own
/// in a pass (`flatten`, a ReLU applied by the linear layer before it, layers fused into a block)
/// have no span there.
struct LayerSpanNames {
    let forwardPass: Timeline.Name
    let loss: Timeline.Name
    let backwardPass: Timeline.Name
    /// Per layer: its forward span's name, or nil.
    let forward: [Timeline.Name?]
    /// Per layer: its backward span's name, or nil.
    let backward: [Timeline.Name?]

    /// - Parameters:
    ///   - blocks: per conv2d layer that runs as a block, the last layer the block covers.
    init(layers: [ResolvedLayer], absorbed: [Bool], appliesNextReLU: [Bool], blocks: [Int: Int], timeline: Timeline) {
        forwardPass = timeline.name("forward")
        loss = timeline.name("loss")
        backwardPass = timeline.name("backward")
        func label(_ index: Int) -> String { "\(index) \(layers[index].spec.description)" }
        var forward: [Timeline.Name?] = [], backward: [Timeline.Name?] = []
        for (index, layer) in layers.enumerated() {
            let own: Bool
            switch layer.spec {
            case .flatten: own = false
            case .relu: own = !(index > 0 && appliesNextReLU[index - 1])
            default: own = true
            }
            guard own, !absorbed[index] else {
                forward.append(nil)
                backward.append(nil)
                continue
            }
            var covered = blocks[index].map { Array(index...$0) } ?? [index]
            if appliesNextReLU[index], index + 1 < layers.count, !covered.contains(index + 1) { covered.append(index + 1) }
            forward.append(timeline.name("forward " + covered.map(label).joined(separator: " + ")))
            // Backward runs a block's layers together, and every other layer alone (a ReLU too).
            backward.append(timeline.name("backward " + (blocks[index].map { Array(index...$0) } ?? [index]).map(label).joined(separator: " + ")))
        }
        // A ReLU applied by its linear layer in forward still has its own backward pass.
        for (index, layer) in layers.enumerated() where backward[index] == nil && !absorbed[index] {
            if case .relu = layer.spec { backward[index] = timeline.name("backward \(label(index))") }
        }
        self.forward = forward
        self.backward = backward
    }
}
