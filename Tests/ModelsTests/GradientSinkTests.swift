import Determinism
import Foundation
import Kernels
@testable import Models
import XCTest

/// Grouped backward into a sink (`GroupedGradientSink`, the world-size-invariant mode's path):
/// the same gradients as into vectors, tile by tile in `gradientTiles`' order, and every linear
/// layer's bounds noted before its tiles and holding for every element.
final class GradientSinkTests: XCTestCase {
    /// Records what backward hands it: full vectors per group, and the bound noted per element.
    private final class RecordingSink: GroupedGradientSink {
        let vectors: [FloatBuffer]
        var bounds: [Double]
        init(groups: Int, count: Int) {
            vectors = (0..<groups).map { _ in FloatBuffer(count: count) }
            bounds = Array(repeating: -1, count: count)
        }
        func target(group: Int, elements: Range<Int>) -> UnsafeMutablePointer<Float> { vectors[group].baseAddress }
        func noteBounds(elements: Range<Int>, rowLength: Int, rowBounds: UnsafePointer<Double>) {
            for i in elements {
                let bound = rowBounds[(i - elements.lowerBound) / rowLength]
                bounds[i] = bound.isNaN || bounds[i].isNaN ? .nan : max(bounds[i], bound)
            }
        }
    }

    /// `a..<b` as printed by a `Range<Int>`.
    private static func range(_ text: Substring) -> Range<Int> {
        let bounds = text.split(separator: ".").compactMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: "<"))) }
        return bounds[0]..<bounds[1]
    }

    /// A NaN or an infinity in a linear layer's input makes its weight bounds NaN or infinite
    /// (so the exact sum marks those blocks as not finite), even where a maximum would skip it.
    func testANonFiniteInputMakesTheBoundsNonFinite() throws {
        let model = try ModelDescription.parse("linear(8) relu linear(10)")
        let stack = LayerStack(model: model, layers: try model.resolve(input: .vector(features: 6), classes: 10), maximumBatchSize: 4)
        stack.initialize(seed: 5)
        for (poison, expectNaN) in [(Float.nan, true), (Float.infinity, false)] {
            for i in 0..<24 { stack.input[i] = Float(i % 5) - 2 }
            stack.input[13] = poison  // group 1 (rows 2 and 3), row 2
            let sink = RecordingSink(groups: 2, count: stack.parameterCount + 1)
            let labels: [Int32] = [1, 2, 3, 4], samples: [Int32] = [0, 1, 2, 3]
            labels.withUnsafeBufferPointer { labels in
                samples.withUnsafeBufferPointer { samples in
                    _ = stack.computeGradients(
                        batchSize: 4, labels: labels.baseAddress!, gradientScale: 1,
                        dropout: .init(seed: 1, step: 1, samples: samples), groups: .init(rows: 2, count: 2, sink: sink)) { _ in }
                }
            }
            let firstWeight = 0..<48
            XCTAssertTrue(firstWeight.allSatisfy { expectNaN ? sink.bounds[$0].isNaN : !sink.bounds[$0].isFinite },
                          "\(poison): \(sink.bounds[0..<48])")
        }
    }

    func testTheSinkGetsTheVectorsBitsTileByTileWithBoundsThatHold() throws {
        for text in ["linear(40) relu linear(24) gelu linear(10)", "conv2d(3,3,padding=1) relu maxpool2d(2) flatten linear(10)"] {
            let model = try ModelDescription.parse(text)
            let input: TensorShape = text.hasPrefix("conv") ? .image(channels: 1, height: 6, width: 6) : .vector(features: 30)
            let stack = LayerStack(
                model: model, layers: try model.resolve(input: input, classes: 10), maximumBatchSize: 12,
                gradientBlockElements: 100)
            stack.initialize(seed: 5)
            var generator = SeededGenerator(seed: 8)
            for i in 0..<(12 * input.elementCount) { stack.input[i] = Float(generator.nextGaussian()) }
            let labels = (0..<12).map { Int32($0 % 10) }, samples = (0..<12).map { Int32($0) }
            let count = stack.parameterCount + 1
            // Into vectors, the reference.
            let vectors = (0..<3).map { _ in FloatBuffer(count: count) }
            withExtendedLifetime(vectors) {
                vectors.map(\.baseAddress).withUnsafeBufferPointer { targets in
                    labels.withUnsafeBufferPointer { labels in
                        samples.withUnsafeBufferPointer { samples in
                            _ = stack.computeGradients(
                                batchSize: 12, labels: labels.baseAddress!, gradientScale: 0.5,
                                dropout: .init(seed: 1, step: 1, samples: samples), groups: .init(rows: 4, targets: targets)) { _ in }
                        }
                    }
                }
            }
            // Into the sink.
            let sink = RecordingSink(groups: 3, count: count)
            var events: [String] = []
            labels.withUnsafeBufferPointer { labels in
                samples.withUnsafeBufferPointer { samples in
                    _ = stack.computeGradients(
                        batchSize: 12, labels: labels.baseAddress!, gradientScale: 0.5,
                        dropout: .init(seed: 1, step: 1, samples: samples), groups: .init(rows: 4, count: 3, sink: sink)
                    ) { event in
                        switch event {
                        case .tileComputed(let tile):
                            events.append("tile \(tile)")
                            for i in tile where tile.lowerBound < stack.parameterCount && sink.bounds[i] >= 0 {
                                for group in 0..<3 {
                                    // What the sum relies on: the computed value within one binade of the bound.
                                    let value = Double(sink.vectors[group][i].magnitude)
                                    XCTAssertLessThan(value, 2 * sink.bounds[i], "\(text): element \(i), group \(group)")
                                }
                            }
                        case .boundsNoted(let elements):
                            events.append("bounds \(elements)")
                            XCTAssertTrue(elements.allSatisfy { sink.bounds[$0] >= 0 }, "\(text): every element bounded")
                        default: break
                        }
                    }
                }
            }
            for group in 0..<3 {
                XCTAssertEqual(sink.vectors[group].array.map(\.bitPattern), vectors[group].array.map(\.bitPattern),
                               "\(text): group \(group), the same bits as into vectors")
            }
            // The order: the loss slot, then each layer's tiles from the end down; a linear
            // layer's bounds before any of its tiles; and a linear layer that passes its gradient
            // to another (only in-place layers between) holds its tiles back until that one's
            // bounds are noted, so that they hide its agreement.
            let tiles = events.filter { $0.hasPrefix("tile") }
            XCTAssertEqual(tiles, ["tile \(stack.parameterCount..<(stack.parameterCount + 1))"] + stack.gradientTiles.map { "tile \($0)" })
            let noted = events.indices.filter { events[$0].hasPrefix("bounds") }.map { index in
                let range = Self.range(events[index].dropFirst("bounds ".count))
                let own = events.indices.filter {
                    events[$0].hasPrefix("tile") && range.contains(Self.range(events[$0].dropFirst("tile ".count)).lowerBound)
                }
                return (index: index, own: own)
            }
            for (index, own) in noted {
                XCTAssertFalse(own.isEmpty, "\(text): \(events[index]) has tiles")
                XCTAssertTrue(own.allSatisfy { $0 > index }, "\(text): \(events[index]) comes before its tiles")
            }
            if !text.hasPrefix("conv") {
                for (upper, lower) in zip(noted, noted.dropFirst()) {
                    XCTAssertGreaterThan(upper.own.min()!, lower.index, "\(text): \(events[upper.index])'s tiles wait for \(events[lower.index])")
                }
            }
            // Every linear element is bounded, and the bounds are not vacuous: some element
            // reaches an eighth of its bound.
            let linear = stack.gradientTiles.filter { sink.bounds[$0.lowerBound] >= 0 }
            XCTAssertFalse(linear.isEmpty)
            let tightest = linear.flatMap { $0 }.map { i in (0..<3).map { Double(sink.vectors[$0][i].magnitude) }.max()! / sink.bounds[i] }.max()!
            XCTAssertGreaterThan(tightest, 0.125, "\(text): the bounds are tight enough to keep precision")
        }
    }
}
