import Determinism
import Kernels
import TestSupport
import XCTest

/// Pooling, GELU and dropout against their definitions, and their backward passes against
/// central differences.
final class PoolingTests: XCTestCase {
    private func random(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(generator.nextGaussian()) }
    }

    static let geometries = [
        PoolingGeometry(inputHeight: 13, inputWidth: 11, window: 2, stride: 2),
        PoolingGeometry(inputHeight: 7, inputWidth: 7, window: 3, stride: 2),  // overlapping windows
        PoolingGeometry(inputHeight: 7, inputWidth: 7, window: 3, stride: 3),  // floor: the last row is dropped
        PoolingGeometry(inputHeight: 6, inputWidth: 5, window: 1, stride: 1),
        PoolingGeometry(inputHeight: 6, inputWidth: 37, window: 2, stride: 2),  // 2×2: groups of eight, then an overlapping one
        PoolingGeometry(inputHeight: 4, inputWidth: 14, window: 2, stride: 2),  // 2×2: seven outputs a row, two groups of four
        PoolingGeometry(inputHeight: 4, inputWidth: 9, window: 2, stride: 2),  // 2×2: four outputs a row
    ]

    func testMaxAndAveragePoolingMatchTheDefinition() {
        for (index, g) in Self.geometries.enumerated() {
            let planes = 3
            let x = random(planes * g.inputPlaneSize, seed: UInt64(index))
            var maximum = [Float](repeating: .nan, count: planes * g.outputPlaneSize)
            var average = maximum
            var argmax = [Int32](repeating: -1, count: maximum.count)
            maxPoolForward(input: x, output: &maximum, argmax: &argmax, planes: planes, geometry: g)
            averagePoolForward(input: x, output: &average, planes: planes, geometry: g)
            let xd = x.map(Double.init)
            XCTAssertEqual(maximum.map(Double.init), ReferenceKernels.pool(xd, planes: planes, geometry: g, average: false), "\(g)")
            assertAllClose(average.map(Double.init), ReferenceKernels.pool(xd, planes: planes, geometry: g, average: true),
                           relative: 1e-6, absolute: 1e-6, "\(g)")
        }
        XCTAssertEqual([Self.geometries[2].outputHeight, Self.geometries[0].outputWidth], [2, 5])
    }

    func testPoolingGradientsMatchCentralDifferences() {
        for (index, g) in Self.geometries.enumerated() {
            let planes = 2
            let x = random(planes * g.inputPlaneSize, seed: 50 + UInt64(index))  // distinct values: no ties
            let r = random(planes * g.outputPlaneSize, seed: 60 + UInt64(index))
            var y = [Float](repeating: 0, count: r.count), argmax = [Int32](repeating: 0, count: r.count)
            var dxMax = [Float](repeating: .nan, count: x.count), dxAverage = dxMax
            maxPoolForward(input: x, output: &y, argmax: &argmax, planes: planes, geometry: g)
            maxPoolBackward(outputGradient: r, argmax: argmax, inputGradient: &dxMax, planes: planes, geometry: g)
            averagePoolBackward(outputGradient: r, inputGradient: &dxAverage, planes: planes, geometry: g)
            let rd = r.map(Double.init)
            for (average, analytic) in [(false, dxMax), (true, dxAverage)] {
                let numeric = centralDifferences(x.map(Double.init)) {
                    weightedSum(ReferenceKernels.pool($0, planes: planes, geometry: g, average: average), rd)
                }
                XCTAssertLessThan(gradientError(analytic.map(Double.init), numeric), 1e-5, "\(g) average \(average)")
            }
            // The check catches a max-pooling gradient sent to the window's first element instead.
            var wrong = [Float](repeating: 0, count: x.count)
            for plane in 0..<planes {
                for row in 0..<g.outputHeight {
                    for column in 0..<g.outputWidth where g.window > 1 {
                        wrong[plane * g.inputPlaneSize + row * g.stride * g.inputWidth + column * g.stride]
                            += r[plane * g.outputPlaneSize + row * g.outputWidth + column]
                    }
                }
            }
            if g.window > 1 {
                let numeric = centralDifferences(x.map(Double.init)) {
                    weightedSum(ReferenceKernels.pool($0, planes: planes, geometry: g, average: false), rd)
                }
                XCTAssertGreaterThan(gradientError(wrong.map(Double.init), numeric), 1e-2, "\(g)")
            }
        }
    }

    /// The ReLU's derivative applied inside max pooling's backward pass equals the ReLU's own
    /// backward pass after it (pooling a ReLU's output, with zeros, negatives clipped to 0 and NaN).
    func testMaxPoolBackwardWithTheReLUFusedEqualsBoth() {
        for g in Self.geometries {
            let planes = 2
            var x = random(planes * g.inputPlaneSize, seed: 77)
            x[3] = .nan
            var relu = x
            reluForward(input: x, output: &relu, count: x.count)
            var y = [Float](repeating: 0, count: planes * g.outputPlaneSize), argmax = [Int32](repeating: 0, count: y.count)
            maxPoolForward(input: relu, output: &y, argmax: &argmax, planes: planes, geometry: g)
            let dy = random(y.count, seed: 78)
            var separate = [Float](repeating: .nan, count: x.count), fused = separate
            maxPoolBackward(outputGradient: dy, argmax: argmax, inputGradient: &separate, planes: planes, geometry: g)
            reluBackward(gradient: &separate, output: relu, count: x.count)
            maxPoolBackward(outputGradient: dy, argmax: argmax, inputGradient: &fused, planes: planes, geometry: g, reluOutput: y)
            XCTAssertEqual(fused.map(\.bitPattern), separate.map(\.bitPattern), "\(g)")
        }
    }

    func testMaxPoolingPropagatesNaN() {
        let g = PoolingGeometry(inputHeight: 2, inputWidth: 2, window: 2, stride: 2)
        var y: [Float] = [0], argmax: [Int32] = [0]
        maxPoolForward(input: [1, .nan, 3, 2], output: &y, argmax: &argmax, planes: 1, geometry: g)
        XCTAssertTrue(y[0].isNaN)
        XCTAssertEqual(argmax, [1])
        // Inside a group of eight windows (the vector path): the NaN window gives its first NaN,
        // the others their maxima; ties keep the first of the window's row order.
        let wide = PoolingGeometry(inputHeight: 2, inputWidth: 16, window: 2, stride: 2)
        var x = [Float](repeating: 1, count: 32)
        x[5] = .nan   // window 2 (columns 4, 5), top row
        x[16 + 4] = .nan
        x[16 + 9] = 7  // window 4, bottom right
        var out = [Float](repeating: 0, count: 8), indices = [Int32](repeating: -1, count: 8)
        maxPoolForward(input: x, output: &out, argmax: &indices, planes: 1, geometry: wide)
        XCTAssertTrue(out[2].isNaN)
        XCTAssertEqual(indices[2], 5)
        XCTAssertEqual(out[4], 7)
        XCTAssertEqual(indices[4], 25)
        XCTAssertEqual(indices[0], 0, "a tie keeps the window's first element")
        x[5] = 1
        x[16 + 4] = 1
        maxPoolForward(input: x, output: &out, argmax: &indices, planes: 1, geometry: wide)
        XCTAssertEqual(out, [1, 1, 1, 1, 7, 1, 1, 1])
        XCTAssertEqual(indices, [0, 2, 4, 6, 25, 10, 12, 14])
    }
}

final class ActivationTests: XCTestCase {
    /// GELU (tanh) against the Double formula, and its derivative against central differences of it.
    func testGELUAndItsDerivative() {
        let x: [Float] = [-6, -3, -1.5, -0.5, -1e-3, 0, 1e-3, 0.25, 1, 2.5, 6]
        var y = [Float](repeating: .nan, count: x.count), dx = y
        GELU.forward(input: x, output: &y, count: x.count)
        assertAllClose(y.map(Double.init), x.map { ReferenceKernels.gelu(Double($0)) }, relative: 1e-6, absolute: 1e-7)
        let ones = [Float](repeating: 1, count: x.count)
        GELU.backward(outputGradient: ones, input: x, inputGradient: &dx, count: x.count)
        let numeric = x.map { v in
            (ReferenceKernels.gelu(Double(v) + 1e-6) - ReferenceKernels.gelu(Double(v) - 1e-6)) / 2e-6
        }
        XCTAssertLessThan(gradientError(dx.map(Double.init), numeric), 1e-5)
        // PyTorch: torch.nn.functional.gelu(torch.tensor([1.0]), approximate="tanh") = 0.8411920070648193.
        XCTAssertEqual(Double(y[8]), 0.8411920070648193, accuracy: 1e-7)
        // A derivative without the cubic term's factor 3 fails the same check.
        let wrong = x.map { v -> Double in
            let t = tanh(0.7978845608028654 * (Double(v) + 0.044715 * Double(v * v * v)))
            return 0.5 * (1 + t) + 0.5 * Double(v) * (1 - t * t) * 0.7978845608028654 * (1 + 0.044715 * Double(v * v))
        }
        XCTAssertGreaterThan(gradientError(wrong, numeric), 1e-3)
    }

    func testReLUForwardAndBackward() {
        let x: [Float] = [-2, -0.0, 0, 3, .nan]
        var y = [Float](repeating: 9, count: 5)
        reluForward(input: x, output: &y, count: 5)
        XCTAssertEqual(Array(y.prefix(4)), [0, -0.0, 0, 3])
        XCTAssertTrue(y[4].isNaN)
        var g: [Float] = [1, 1, 1, 1, 1]
        reluBackward(gradient: &g, output: y, count: 5)
        XCTAssertEqual(g, [0, 0, 0, 1, 0])
    }
}

final class DropoutTests: XCTestCase {
    private func mask(samples: [Int32], features: Int, p: Float, step: Int64 = 5, layer: Int = 2) -> [Float] {
        let x = [Float](repeating: 1, count: samples.count * features)
        var y = x, mask = x
        samples.withUnsafeBufferPointer {
            Dropout.forward(
                input: x, output: &y, mask: &mask, samples: $0, featuresPerSample: features, probability: p, seed: 42,
                step: step, layer: layer)
        }
        XCTAssertEqual(y, mask, "y = 1 · mask")
        return mask
    }

    /// A sample's mask depends on the sample, not on its row or on which rank holds it: the rows
    /// of one global batch dealt to 1, 2 or 3 ranks get the same masks.
    func testTheMaskOfASampleIsTheSameAtAnyWorldSize() {
        let batch: [Int32] = [17, 3, 59_999, 8, 1024, 77]
        let whole = mask(samples: batch, features: 40, p: 0.3)
        for ranks in [2, 3] {
            let share = batch.count / ranks
            let pieces = (0..<ranks).flatMap { rank in mask(samples: Array(batch[(rank * share)..<((rank + 1) * share)]), features: 40, p: 0.3) }
            XCTAssertEqual(pieces, whole, "\(ranks) ranks")
        }
        XCTAssertNotEqual(mask(samples: [17], features: 40, p: 0.3), mask(samples: [18], features: 40, p: 0.3))
        XCTAssertNotEqual(mask(samples: [17], features: 40, p: 0.3), mask(samples: [17], features: 40, p: 0.3, step: 6))
        XCTAssertNotEqual(mask(samples: [17], features: 40, p: 0.3), mask(samples: [17], features: 40, p: 0.3, layer: 3))
    }

    /// Inverted scaling: kept elements are 1/(1−p) exactly, dropped ones 0, and about p of them
    /// are dropped (100,000 draws: within 5 standard deviations).
    func testInvertedScalingAndTheDropRate() {
        let p: Float = 0.25
        let values = mask(samples: Array(0..<1000), features: 100, p: p)
        XCTAssertEqual(Set(values), [0, 1 / (1 - p)])
        let dropped = Double(values.filter { $0 == 0 }.count) / Double(values.count)
        let sigma = (0.25 * 0.75 / Double(values.count)).squareRoot()
        XCTAssertEqual(dropped, 0.25, accuracy: 5 * sigma)
        XCTAssertEqual(Set(mask(samples: [1, 2], features: 50, p: 0)), [1], "p = 0 keeps everything")
        var dx = [Float](repeating: .nan, count: 3)
        Dropout.backward(outputGradient: [2, 2, 2], mask: [0, 4 / 3, 0], inputGradient: &dx, count: 3)
        XCTAssertEqual(dx, [0, 8 / 3, 0])
    }

    func testKeyedRandomIsAPureFunctionOfItsKey() {
        // The five-word key dropout uses (no array) is the same as the general one.
        XCTAssertEqual(KeyedRandom(words: 1, 2, 3, 4, 5), KeyedRandom(words: [1, 2, 3, 4, 5]))
        XCTAssertNotEqual(KeyedRandom(words: 1, 2, 3, 4, 5), KeyedRandom(words: [1, 2, 3, 4]))
        XCTAssertEqual(KeyedRandom(1, 2, 3).bits(7), KeyedRandom(1, 2, 3).bits(7))
        XCTAssertNotEqual(KeyedRandom(1, 2, 3).bits(7), KeyedRandom(1, 3, 2).bits(7), "order matters")
        XCTAssertNotEqual(KeyedRandom(1, 2, 3).bits(7), KeyedRandom(1, 2, 3).bits(8))
        let u = (0..<10_000).map { KeyedRandom(9).unitFloat(UInt64($0)) }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(Double(u.reduce(0, +)) / 10_000, 0.5, accuracy: 0.015)  // σ of the mean ≈ 0.0029
    }
}
