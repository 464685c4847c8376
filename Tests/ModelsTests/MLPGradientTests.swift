import Determinism
import Kernels
import Models
import TestSupport
import XCTest

/// Analytic gradients of a small MLP against central differences, and against a Double reference.
final class MLPGradientTests: XCTestCase {
    private let layout = ParameterLayout(layerSizes: [5, 7, 3])
    private let batchSize = 4
    private let labels: [Int32] = [0, 2, 1, 2]

    private func makeModel() -> MLP {
        let model = MLP(layout: layout, maximumBatchSize: batchSize)
        model.initialize(seed: 11)
        var generator = SeededGenerator(seed: 5)
        for i in 0..<(batchSize * layout.inputCount) { model.input[i] = Float(generator.nextGaussian()) }
        for i in layout.layers.flatMap({ Array($0.biasRange) }) { model.parameters[i] = Float(generator.nextGaussian()) * 0.1 }
        return model
    }

    /// Mean loss over the batch at the model's current parameters.
    private func meanLoss(_ model: MLP) -> Double {
        labels.withUnsafeBufferPointer { model.evaluate(batchSize: batchSize, labels: $0.baseAddress!).lossSum } / Double(batchSize)
    }

    /// Largest |numeric − analytic| / max(|numeric|, |analytic|, floor) over all parameters, with
    /// central differences of step h (the parameters are Float, so h cannot be tiny).
    private func maximumRelativeGradientError(_ model: MLP, analytic: [Float], h: Float = 1e-2) -> Double {
        var worst = 0.0
        for i in 0..<layout.parameterCount {
            let saved = model.parameters[i]
            model.parameters[i] = saved + h
            let plus = meanLoss(model)
            model.parameters[i] = saved - h
            let minus = meanLoss(model)
            model.parameters[i] = saved
            let numeric = (plus - minus) / (2 * Double(h))
            let difference = abs(numeric - Double(analytic[i]))
            worst = max(worst, difference / max(abs(numeric), abs(Double(analytic[i])), 1e-3))
        }
        return worst
    }

    private func analyticGradient(_ model: MLP) -> [Float] {
        _ = labels.withUnsafeBufferPointer {
            model.computeGradients(batchSize: batchSize, labels: $0.baseAddress!, gradientScale: 1 / Float(batchSize))
        }
        return model.gradients.array
    }

    func testAnalyticGradientMatchesCentralDifferences() {
        let model = makeModel()
        let analytic = analyticGradient(model)
        XCTAssertLessThan(maximumRelativeGradientError(model, analytic: analytic), 2e-3)
    }

    func testGradientCheckCatchesAWrongGradient() {
        let model = makeModel()
        var analytic = analyticGradient(model)
        // One wrong element (the largest bias gradient, 10% off) must fail the same check.
        let biasIndex = layout.layers[0].biasRange.max { abs(analytic[$0]) < abs(analytic[$1]) }!
        analytic[biasIndex] *= 1.1
        XCTAssertGreaterThan(maximumRelativeGradientError(model, analytic: analytic), 2e-3)
    }

    func testGradientsMatchDoubleReference() {
        let model = makeModel()
        let analytic = analyticGradient(model)
        // Forward and backward with the naive Double kernels.
        let p = model.parameters.array.map(Double.init)
        var activations = [Array(model.input.array.prefix(batchSize * layout.inputCount)).map(Double.init)]
        for (index, layer) in layout.layers.enumerated() {
            activations.append(ReferenceKernels.denseForward(
                input: activations.last!, weights: Array(p[layer.weightRange]), bias: Array(p[layer.biasRange]),
                batchSize: batchSize, inputCount: layer.inputCount, outputCount: layer.outputCount,
                relu: index < layout.layers.count - 1))
        }
        var dz = ReferenceKernels.softmaxCrossEntropy(
            logits: activations.last!, labels: labels.map(Int.init), classCount: layout.outputCount,
            gradientScale: 1 / Double(batchSize)).gradient
        var expected = [Double](repeating: 0, count: layout.parameterCount)
        for index in stride(from: layout.layers.count - 1, through: 0, by: -1) {
            let layer = layout.layers[index]
            let backward = ReferenceKernels.denseBackward(
                outputGradient: dz, input: activations[index], weights: Array(p[layer.weightRange]),
                batchSize: batchSize, inputCount: layer.inputCount, outputCount: layer.outputCount)
            expected.replaceSubrange(layer.weightRange, with: backward.weightGradient)
            expected.replaceSubrange(layer.biasRange, with: backward.biasGradient)
            dz = zip(backward.inputGradient, activations[index]).map { $1 > 0 ? $0 : 0 }
        }
        assertAllClose(analytic.map(Double.init), expected, relative: 1e-5, absolute: 1e-7)
    }

    /// The offsets `computeGradients` reports as final, in order, and how many progress points
    /// it offers between kernels; checks the loss is reported before any gradient.
    private func backwardEvents(_ model: MLP) -> (ready: [Int], between: Int) {
        var ready: [Int] = []
        var between = 0
        _ = labels.withUnsafeBufferPointer {
            model.computeGradients(batchSize: batchSize, labels: $0.baseAddress!, gradientScale: 1) { event in
                switch event {
                case .lossComputed: XCTAssertTrue(ready.isEmpty, "the loss comes before any gradient")
                case .gradientsReady(let from): ready.append(from)
                case .betweenKernels: between += 1
                case .tileComputed, .boundsNoted: XCTFail("\(event) without a sink")
                }
            }
        }
        return (ready, between)
    }

    func testObserverSeesGradientsFinishFromTheEndDown() {
        let model = makeModel()
        let (ready, between) = backwardEvents(model)
        // Layout [5, 7, 3]: layer 0 at 0..<42 (weight 35, bias 7), layer 1 from 42.
        XCTAssertEqual(ready, [42, 0])
        XCTAssertEqual(model.gradientReadyPoints, ready)
        XCTAssertEqual(between, 2)
    }

    func testWeightGradientBlocksAreReportedLastRowsFirst() {
        let model = makeModel()
        model.gradientBlockElements = 10  // layer 0: 35 elements → 4 blocks of 2 rows (7 rows); layer 1: 21 → 3 blocks of 1 row
        let (ready, between) = backwardEvents(model)
        // Layer 1 weight at 42..<63 (rows of 7): rows 2, 1, 0; layer 0 weight at 0..<35 (rows of 5):
        // rows 5..<7, 3..<5, 1..<3, 0..<1.
        XCTAssertEqual(ready, [56, 49, 42, 25, 15, 5, 0])
        XCTAssertEqual(model.gradientReadyPoints, ready)
        XCTAssertEqual(between, 2 + 2 + 3)
    }

    /// Blocked weight gradients are bitwise the unblocked ones, on the real model's shapes (so the
    /// block size, which overlapped reduction relies on, never changes a result).
    func testBlockedGradientsAreBitwiseTheUnblockedOnes() {
        let layout = ParameterLayout(layerSizes: [784, 512, 256, 10])
        let batch = 64
        let whole = MLP(layout: layout, maximumBatchSize: batch), blocked = MLP(layout: layout, maximumBatchSize: batch)
        whole.gradientBlockElements = layout.parameterCount
        blocked.gradientBlockElements = 20_000
        var generator = SeededGenerator(seed: 9)
        whole.initialize(seed: 1)
        blocked.initialize(seed: 1)
        for i in 0..<(batch * layout.inputCount) {
            let pixel = Float(generator.next() % 256) / 255
            whole.input[i] = pixel
            blocked.input[i] = pixel
        }
        let labels = (0..<batch).map { Int32($0 % 10) }
        _ = labels.withUnsafeBufferPointer { whole.computeGradients(batchSize: batch, labels: $0.baseAddress!, gradientScale: 1) }
        _ = labels.withUnsafeBufferPointer { blocked.computeGradients(batchSize: batch, labels: $0.baseAddress!, gradientScale: 1) }
        XCTAssertTrue(whole.gradients.isBitwiseEqual(to: blocked.gradients))
        // And the check can fail: one flipped bit is seen.
        blocked.gradients[123] = blocked.gradients[123].nextUp
        XCTAssertFalse(whole.gradients.isBitwiseEqual(to: blocked.gradients))
    }

    func testHeInitialisationIsDeterministicAndScaled() {
        let big = ParameterLayout(layerSizes: [784, 512, 10])
        let a = MLP(layout: big, maximumBatchSize: 1), b = MLP(layout: big, maximumBatchSize: 1)
        a.initialize(seed: 3)
        b.initialize(seed: 3)
        XCTAssertTrue(a.parameters.isBitwiseEqual(to: b.parameters))
        b.initialize(seed: 4)
        XCTAssertFalse(a.parameters.isBitwiseEqual(to: b.parameters))
        // Weights of layer 0: N(0, 2/784), so the sample variance is 0.002551 within a few standard
        // errors (401,408 samples: relative standard error sqrt(2/n) = 0.22%).
        let w = a.parameters.array[big.layers[0].weightRange].map(Double.init)
        let variance = w.map { $0 * $0 }.reduce(0, +) / Double(w.count)
        assertClose(variance, 2.0 / 784, relative: 0.01)
        XCTAssertTrue(a.parameters.array[big.layers[0].biasRange].allSatisfy { $0 == 0 })
    }
}
