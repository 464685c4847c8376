import Determinism
import Kernels
@testable import Models
import TestSupport
import XCTest

/// The layer stack: the `mlp` preset computes the MLP's very bits; any stack's gradient matches
/// central differences.
final class LayerStackTests: XCTestCase {
    private func stack(_ text: String, input: TensorShape, classes: Int, batch: Int) throws -> LayerStack {
        let model = try ModelDescription.parse(text)
        return LayerStack(model: model, layers: try model.resolve(input: input, classes: classes), maximumBatchSize: batch)
    }

    private func fill(_ buffer: FloatBuffer, count: Int, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for i in 0..<count { buffer[i] = Float(generator.nextGaussian()) }
    }

    /// `mlp` preset vs `MLP`: the same initial parameters, the same loss, gradients, ready points
    /// and evaluation, bit for bit, on the default model's shapes and on a small one.
    func testTheMLPPresetComputesTheMLPsBits() throws {
        for (sizes, batch) in [([784, 512, 256, 10], 32), ([20, 16, 12, 5], 7)] {
            let layout = ParameterLayout(layerSizes: sizes)
            let mlp = MLP(layout: layout, maximumBatchSize: batch)
            let model = ModelDescription.mlp(hidden: Array(sizes.dropFirst().dropLast()), classes: sizes.last!)
            let stack = LayerStack(
                model: model, layers: try model.resolve(input: .vector(features: sizes[0]), classes: sizes.last!),
                maximumBatchSize: batch)
            mlp.initialize(seed: 3)
            stack.initialize(seed: 3)
            XCTAssertTrue(stack.parameters.isBitwiseEqual(to: mlp.parameters), "\(sizes): initial parameters")
            XCTAssertEqual(stack.tensors.map(\.range), layout.tensors.map(\.range))
            XCTAssertEqual(stack.tensors.map(\.shape), layout.tensors.map(\.shape))
            XCTAssertEqual(stack.gradientReadyPoints, mlp.gradientReadyPoints)
            fill(mlp.input, count: batch * sizes[0], seed: 9)
            fill(stack.input, count: batch * sizes[0], seed: 9)
            let labels = (0..<batch).map { Int32($0 % sizes.last!) }
            let samples = (0..<batch).map { Int32($0) }
            var mlpEvents: [String] = [], stackEvents: [String] = []
            let a = labels.withUnsafeBufferPointer {
                mlp.computeGradients(batchSize: batch, labels: $0.baseAddress!, gradientScale: 1 / 128) { mlpEvents.append("\($0)") }
            }
            let b = labels.withUnsafeBufferPointer { labels in
                samples.withUnsafeBufferPointer {
                    stack.computeGradients(
                        batchSize: batch, labels: labels.baseAddress!, gradientScale: 1 / 128,
                        dropout: .init(seed: 0, step: 0, samples: $0)) { stackEvents.append("\($0)") }
                }
            }
            XCTAssertEqual(a, b)
            XCTAssertEqual(stackEvents, mlpEvents)
            XCTAssertTrue(stack.gradientBuffer.storage.isBitwiseEqual(to: mlp.gradientBuffer.storage), "\(sizes): gradients and loss")
            let evaluated = labels.withUnsafeBufferPointer { (mlp.evaluate(batchSize: batch, labels: $0.baseAddress!), stack.evaluate(batchSize: batch, labels: $0.baseAddress!)) }
            XCTAssertEqual(evaluated.0, evaluated.1)
        }
    }

    /// Every layer type in one stack, its gradient against central differences of its own loss
    /// (dropout's mask is fixed by seed, step and samples, so the loss is a function of the
    /// parameters); the same check rejects the gradient with one layer's weight gradient halved.
    func testAStackOfEveryLayerMatchesCentralDifferences() throws {
        let batch = 3
        let stack = try self.stack(
            "conv2d(3,3,padding=1) relu maxpool2d(2) conv2d(4,2x3,stride=2,padding=1) gelu avgpool2d(2,stride=1) flatten dropout(0.3) linear(6) relu linear(4)",
            input: .image(channels: 2, height: 9, width: 8), classes: 4, batch: batch)
        stack.initialize(seed: 5)
        for i in 0..<stack.parameterCount where stack.tensors.contains(where: { $0.name.hasSuffix("bias") && $0.range.contains(i) }) {
            stack.parameters[i] = 0.05 * Float(i % 7) - 0.1
        }
        fill(stack.input, count: batch * 2 * 9 * 8, seed: 4)
        let labels: [Int32] = [0, 3, 1], samples: [Int32] = [11, 2, 40]
        func loss() -> Double {
            labels.withUnsafeBufferPointer { labels in
                samples.withUnsafeBufferPointer {
                    stack.computeGradients(
                        batchSize: batch, labels: labels.baseAddress!, gradientScale: 1, dropout: .init(seed: 8, step: 3, samples: $0)
                    ) { _ in }.lossSum
                }
            }
        }
        _ = loss()
        let analytic = stack.gradients.array.map(Double.init)
        XCTAssertEqual(Double(stack.gradientBuffer.loss), loss(), accuracy: 1e-4, "the loss slot holds the scaled loss")
        // Central differences with h = 1e-3 (Float forward passes: errors below 5e-4 absolute are
        // rounding, hence the floor of 5e-2 under the relative error). A parameter whose one-sided
        // slopes differ by more than 1% sits near a kink (ReLU at 0, a max-pooling tie), where the
        // loss is not differentiable: it is left out, and the test bounds how many are.
        let base = loss()
        var numeric: [Double] = [], kinks: Set<Int> = []
        for i in 0..<stack.parameterCount {
            let saved = stack.parameters[i]
            stack.parameters[i] = saved + 1e-3
            let plus = loss()
            stack.parameters[i] = saved - 1e-3
            let minus = loss()
            stack.parameters[i] = saved
            let right = (plus - base) / 1e-3, left = (base - minus) / 1e-3
            if abs(right - left) > 0.01 * max(abs(right), abs(left), 1e-1) { kinks.insert(i) }
            numeric.append((plus - minus) / 2e-3)
        }
        func worstError(_ gradient: [Double]) -> Double {
            gradient.indices.filter { !kinks.contains($0) }.map { abs(gradient[$0] - numeric[$0]) / max(abs(numeric[$0]), 5e-2) }.max()!
        }
        XCTAssertLessThan(kinks.count, stack.parameterCount / 20, "kinks: \(kinks.sorted())")
        XCTAssertLessThan(worstError(analytic), 1e-2)
        var wrong = analytic
        for i in stack.tensors.first(where: { $0.name == "3.weight" })!.range { wrong[i] /= 2 }
        XCTAssertGreaterThan(worstError(wrong), 0.1)
        XCTAssertEqual(stack.tensors.map(\.name), ["0.weight", "0.bias", "3.weight", "3.bias", "8.weight", "8.bias", "10.weight", "10.bias"])
    }

    /// Evaluation skips dropout; training applies it; a convolution evaluated one sample at a
    /// time gives what training's batched forward gives.
    func testEvaluationAndTrainingForwardAgreeWithoutDropout() throws {
        let batch = 4
        let stack = try self.stack("conv2d(5,3) relu maxpool2d(2) flatten linear(3)", input: .image(channels: 1, height: 8, width: 8), classes: 3, batch: batch)
        stack.initialize(seed: 1)
        fill(stack.input, count: batch * 64, seed: 2)
        let labels: [Int32] = [0, 1, 2, 0], samples: [Int32] = [0, 1, 2, 3]
        let evaluated = labels.withUnsafeBufferPointer { stack.evaluate(batchSize: batch, labels: $0.baseAddress!) }
        let trained = labels.withUnsafeBufferPointer { labels in
            samples.withUnsafeBufferPointer {
                stack.computeGradients(batchSize: batch, labels: labels.baseAddress!, gradientScale: 1, dropout: .init(seed: 0, step: 0, samples: $0)) { _ in }
            }
        }
        XCTAssertEqual(evaluated, trained)
    }
}

/// `computeGradients(groups:)`: all rows through forward and backward at once, each group's
/// parameter gradients apart, the same bits as each group run alone (what the
/// world-size-invariant mode relies on to run a rank's micro-batches together).
final class GroupedGradientTests: XCTestCase {
    private struct Case {
        let text: String
        let input: TensorShape
        let classes: Int
        let rows: Int
        let groups: Int
    }

    private let cases = [
        Case(text: "linear(512) relu linear(256) relu linear(10)", input: .vector(features: 784), classes: 10, rows: 16, groups: 4),
        Case(text: "linear(9) gelu dropout(0.4) linear(5)", input: .vector(features: 13), classes: 5, rows: 3, groups: 5),
        Case(text: "conv2d(3,3,padding=1) relu maxpool2d(2) conv2d(4,2x3,stride=2,padding=1) gelu avgpool2d(2,stride=1) flatten dropout(0.3) linear(6) relu linear(4)",
             input: .image(channels: 2, height: 9, width: 8), classes: 4, rows: 2, groups: 3),
    ]

    func testEachGroupGetsTheBitsOfItsRowsAlone() throws {
        for item in cases {
            let model = try ModelDescription.parse(item.text)
            let batch = item.rows * item.groups
            let stack = LayerStack(
                model: model, layers: try model.resolve(input: item.input, classes: item.classes), maximumBatchSize: batch)
            stack.initialize(seed: 7)
            let features = item.input.elementCount
            var generator = SeededGenerator(seed: 21)
            let inputs = (0..<(batch * features)).map { _ in Float(generator.nextGaussian()) }
            let labels = (0..<batch).map { Int32(($0 * 7) % item.classes) }
            let samples = (0..<batch).map { Int32(100 + 3 * $0) }
            let vectors = (0..<item.groups).map { _ in FloatBuffer(count: stack.parameterCount + 1) }
            let targets = vectors.map(\.baseAddress)
            for i in 0..<inputs.count { stack.input[i] = inputs[i] }
            var events: [String] = []
            let together = targets.withUnsafeBufferPointer { targets in
                labels.withUnsafeBufferPointer { labels in
                    samples.withUnsafeBufferPointer {
                        stack.computeGradients(
                            batchSize: batch, labels: labels.baseAddress!, gradientScale: 1 / 64,
                            dropout: .init(seed: 5, step: 2, samples: $0), groups: .init(rows: item.rows, targets: targets)
                        ) { events.append("\($0)") }
                    }
                }
            }
            var lossSum = 0.0, correct = 0
            for group in 0..<item.groups {
                let first = group * item.rows
                for i in 0..<(item.rows * features) { stack.input[i] = inputs[first * features + i] }
                var aloneEvents: [String] = []
                let alone = labels.withUnsafeBufferPointer { labels in
                    samples.withUnsafeBufferPointer {
                        stack.computeGradients(
                            batchSize: item.rows, labels: labels.baseAddress! + first, gradientScale: 1 / 64,
                            dropout: .init(seed: 5, step: 2, samples: UnsafeBufferPointer(rebasing: $0[first...]))
                        ) { aloneEvents.append("\($0)") }
                    }
                }
                lossSum += alone.lossSum
                correct += alone.correctCount
                let expected = stack.gradientBuffer.storage.array
                let mismatch = (0...stack.parameterCount).first { vectors[group][$0].bitPattern != expected[$0].bitPattern }
                XCTAssertNil(mismatch, "\(item.text): group \(group) differs first at element \(mismatch ?? -1)")
                XCTAssertEqual(
                    events.filter { !$0.hasPrefix("lossComputed") }, aloneEvents.filter { !$0.hasPrefix("lossComputed") },
                    "\(item.text): the same ready points")
            }
            XCTAssertEqual(together.lossSum, lossSum, accuracy: 1e-9 * abs(lossSum), item.text)
            XCTAssertEqual(together.correctCount, correct, item.text)
            XCTAssertFalse(vectors[0].array.allSatisfy { $0 == 0 }, "\(item.text): gradients were written")
        }
    }

    /// The set-up check agrees, and fails when one bit of one group's result differs.
    func testTheSetUpCheckFindsOneFlippedBit() throws {
        let model = try ModelDescription.parse("linear(64) relu linear(10)")
        let stack = LayerStack(model: model, layers: try model.resolve(input: .vector(features: 50), classes: 10), maximumBatchSize: 12)
        stack.initialize(seed: 3)
        let before = stack.parameters.array
        let vectors = (0..<3).map { _ in FloatBuffer(count: stack.parameterCount + 1) }
        vectors.map(\.baseAddress).withUnsafeBufferPointer { targets in
            let groups = LayerStack.GradientGroups(rows: 4, targets: targets)
            XCTAssertTrue(stack.groupedGradientsMatch(groups: groups, seed: 9))
            XCTAssertFalse(stack.groupedGradientsMatch(groups: groups, seed: 9) { targets in
                targets[2][17] = Float(bitPattern: targets[2][17].bitPattern ^ 1)
            })
            XCTAssertEqual(stack.parameters.array, before, "the parameters are restored")
        }
    }
}
