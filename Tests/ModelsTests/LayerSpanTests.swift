import Determinism
import Kernels
import Tracing
import XCTest

@testable import Models

/// A `LayerStack` with a timeline: the spans it records, their names and nesting, and that
/// recording changes no bit of the gradients.
final class LayerSpanTests: XCTestCase {
    /// One training forward and backward of `text` on 3 random samples of 1×12×12, with or
    /// without a timeline; returns the gradient buffer's bits and the spans' names in order.
    private func run(_ text: String, timeline: Timeline?) throws -> (bits: [UInt32], names: [String], spans: [Timeline.Span]) {
        let model = try ModelDescription.parse(text)
        let stack = LayerStack(model: model, layers: try model.resolve(input: .image(channels: 1, height: 12, width: 12), classes: 4), maximumBatchSize: 3)
        stack.initialize(seed: 5)
        var generator = SeededGenerator(seed: 8)
        for i in 0..<(3 * 144) { stack.input[i] = Float(generator.nextGaussian()) }
        stack.timeline = timeline
        let labels: [Int32] = [0, 3, 1], samples: [Int32] = [4, 9, 2]
        _ = labels.withUnsafeBufferPointer { labels in
            samples.withUnsafeBufferPointer {
                stack.computeGradients(
                    batchSize: 3, labels: labels.baseAddress!, gradientScale: 1 / 3,
                    dropout: .init(seed: 1, step: 0, samples: $0)) { _ in }
            }
        }
        let bits = (0..<stack.gradientBuffer.storage.count).map { stack.gradientBuffer.storage[$0].bitPattern }
        let spans = timeline?.spans ?? []
        return (bits, spans.map { timeline!.names[Int($0.name)] }, spans)
    }

    func testEachLayerHasASpanInsideItsPassNamedByPositionAndText() throws {
        let text = "conv2d(4,3,padding=1) relu maxpool2d(2) conv2d(4,3) relu avgpool2d(2) flatten dropout(0.2) linear(8) relu linear(4)"
        let timeline = Timeline(capacity: 100)
        let traced = try run(text, timeline: timeline)
        XCTAssertEqual(traced.names, [
            "forward 0 conv2d(4,3,padding=1) + 1 relu + 2 maxpool2d(2)", "forward 3 conv2d(4,3) + 4 relu",
            "forward 5 avgpool2d(2)", "forward 7 dropout(0.2)", "forward 8 linear(8) + 9 relu", "forward 10 linear(4)",
            "forward", "loss",
            "backward 10 linear(4)", "backward 9 relu", "backward 8 linear(8)", "backward 7 dropout(0.2)",
            "backward 5 avgpool2d(2)", "backward 4 relu", "backward 3 conv2d(4,3)",
            "backward 0 conv2d(4,3,padding=1) + 1 relu + 2 maxpool2d(2)", "backward",
        ])
        let forward = traced.spans[traced.names.firstIndex(of: "forward")!]
        let backward = traced.spans[traced.names.firstIndex(of: "backward")!]
        for (name, span) in zip(traced.names, traced.spans) {
            XCTAssertLessThanOrEqual(span.start, span.end, name)
            if name.hasPrefix("forward ") { XCTAssertTrue(span.start >= forward.start && span.end <= forward.end, name) }
            if name.hasPrefix("backward ") { XCTAssertTrue(span.start >= backward.start && span.end <= backward.end, name) }
        }
        XCTAssertLessThanOrEqual(forward.end, backward.start)
    }

    func testRecordingChangesNoBit() throws {
        let text = "conv2d(4,3,padding=1) relu maxpool2d(2) flatten dropout(0.2) linear(8) gelu linear(4)"
        let plain = try run(text, timeline: nil), traced = try run(text, timeline: Timeline(capacity: 100))
        XCTAssertEqual(plain.bits, traced.bits)
        XCTAssertFalse(traced.names.isEmpty)
    }
}
