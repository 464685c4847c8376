import Determinism
import Kernels
import TestSupport
import XCTest

/// `ConvolutionBlock` with its ReLU and max pooling fused in: the same bits as the layers run
/// one after the other, the direct definition's values, and central differences.
final class ConvolutionBlockTests: XCTestCase {
    private func random(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(generator.nextGaussian()) }
    }

    /// Odd shapes: 1 and 3 channels, 2×2 windows (even and odd planes) and overlapping 3×3/2.
    static let cases: [(ConvolutionGeometry, window: Int, stride: Int)] = [
        (ConvolutionGeometry(inputChannels: 1, inputHeight: 13, inputWidth: 11, outputChannels: 4, kernelHeight: 3,
                             kernelWidth: 3, stride: 1, padding: 1), 2, 2),
        (ConvolutionGeometry(inputChannels: 3, inputHeight: 7, inputWidth: 7, outputChannels: 2, kernelHeight: 2,
                             kernelWidth: 3, stride: 1, padding: 2), 3, 2),
        (ConvolutionGeometry(inputChannels: 3, inputHeight: 12, inputWidth: 36, outputChannels: 3, kernelHeight: 5,
                             kernelWidth: 5, stride: 1, padding: 2), 2, 2),
        (ConvolutionGeometry(inputChannels: 2, inputHeight: 9, inputWidth: 10, outputChannels: 2, kernelHeight: 3,
                             kernelWidth: 3, stride: 2, padding: 0), 2, 2),
    ]

    private struct Result: Equatable {
        var y: [Float], dw: [Float], db: [Float], dx: [Float]
    }

    /// The fused block: forward, then backward for `dy` (on the pooled output).
    private func fused(_ block: ConvolutionBlock, batch: Int, x: [Float], w: [Float], b: [Float], dy: [Float]) -> Result {
        let g = block.convolution
        var y = [Float](repeating: .nan, count: batch * block.outputSize)
        var argmax = [Int32](repeating: -1, count: y.count)
        var result = Result(y: [], dw: .init(repeating: .nan, count: g.weightCount), db: .init(repeating: .nan, count: g.outputChannels),
                            dx: .init(repeating: .nan, count: batch * g.inputSize))
        var scratch = [Float](repeating: .nan, count: block.scratchSize)
        scratch.withUnsafeMutableBufferPointer { scratch in
            let buffers = ConvolutionBlock.Scratch(scratch.baseAddress!, for: block)
            block.forward(input: x, weights: w, bias: b, output: &y, argmax: &argmax, scratch: buffers, batchSize: batch)
            block.backward(
                outputGradient: dy, output: y, argmax: argmax, input: x, weights: w, weightGradient: &result.dw,
                biasGradient: &result.db, inputGradient: &result.dx, scratch: buffers, batchSize: batch, between: {})
        }
        result.y = y
        return result
    }

    /// The same layers one after the other: the convolution with its ReLU for the whole batch,
    /// then `maxPoolForward`, and backward `maxPoolBackward(reluOutput:)` then the convolution's.
    private func unfused(_ block: ConvolutionBlock, batch: Int, x: [Float], w: [Float], b: [Float], dy: [Float]) -> Result {
        let g = block.convolution, pooling = block.pooling!
        let convolution = ConvolutionBlock(convolution: g, relu: true, pooling: nil)
        var planes = [Float](repeating: .nan, count: batch * g.outputSize)
        var y = [Float](repeating: .nan, count: batch * block.outputSize)
        var argmax = [Int32](repeating: -1, count: y.count)
        var planeGradient = [Float](repeating: .nan, count: planes.count)
        var result = Result(y: [], dw: .init(repeating: .nan, count: g.weightCount), db: .init(repeating: .nan, count: g.outputChannels),
                            dx: .init(repeating: .nan, count: batch * g.inputSize))
        var scratch = [Float](repeating: .nan, count: convolution.scratchSize)
        scratch.withUnsafeMutableBufferPointer { scratch in
            let buffers = ConvolutionBlock.Scratch(scratch.baseAddress!, for: convolution)
            convolution.forward(input: x, weights: w, bias: b, output: &planes, argmax: nil, scratch: buffers, batchSize: batch)
            maxPoolForward(input: planes, output: &y, argmax: &argmax, planes: batch * g.outputChannels, geometry: pooling)
            maxPoolBackward(outputGradient: dy, argmax: argmax, inputGradient: &planeGradient, planes: batch * g.outputChannels,
                            geometry: pooling, reluOutput: y)
            convolution.backward(
                outputGradient: planeGradient, output: planes, argmax: nil, input: x, weights: w, weightGradient: &result.dw,
                biasGradient: &result.db, inputGradient: &result.dx, scratch: buffers, batchSize: batch, between: {})
        }
        result.y = y
        return result
    }

    func testFusingChangesNoBitAndMatchesTheDirectDefinition() {
        for (index, (g, window, stride)) in Self.cases.enumerated() {
            let pooling = PoolingGeometry(inputHeight: g.outputHeight, inputWidth: g.outputWidth, window: window, stride: stride)
            let block = ConvolutionBlock(convolution: g, relu: true, pooling: pooling)
            let batch = 3
            let seed = UInt64(index) * 10
            let x = random(batch * g.inputSize, seed: seed), w = random(g.weightCount, seed: seed + 1)
            // Biases around −1, so that the ReLU clips whole windows.
            let b = random(g.outputChannels, seed: seed + 2).map { $0 - 1 }, dy = random(batch * block.outputSize, seed: seed + 3)
            let result = fused(block, batch: batch, x: x, w: w, b: b, dy: dy)
            XCTAssertEqual(result, unfused(block, batch: batch, x: x, w: w, b: b, dy: dy), "\(g), pooling \(window)/\(stride)")
            XCTAssertGreaterThan(result.y.filter { $0 == 0 }.count, 0, "the ReLU clipped some pooled values")

            let convolution = ReferenceKernels.convolutionForward(
                input: x.map(Double.init), weights: w.map(Double.init), bias: b.map(Double.init), batchSize: batch, geometry: g)
            let reference = ReferenceKernels.pool(convolution.map { max(0, $0) }, planes: batch * g.outputChannels,
                                                  geometry: pooling, average: false)
            assertAllClose(result.y.map(Double.init), reference, relative: 1e-4, absolute: 1e-4, "\(g)")
        }
    }

    /// dW, db and dX of L = Σ r ⊙ pool(relu(conv(X))) against central differences of the direct
    /// definition; a backward that forgets the ReLU's derivative fails the same check.
    func testBackwardMatchesCentralDifferencesAndTheCheckCatchesAMissingReLU() {
        let (g, window, stride) = Self.cases[1]
        let pooling = PoolingGeometry(inputHeight: g.outputHeight, inputWidth: g.outputWidth, window: window, stride: stride)
        let block = ConvolutionBlock(convolution: g, relu: true, pooling: pooling)
        let batch = 2
        let x = random(batch * g.inputSize, seed: 71), w = random(g.weightCount, seed: 72), b = random(g.outputChannels, seed: 73)
        let r = random(batch * block.outputSize, seed: 74)
        let result = fused(block, batch: batch, x: x, w: w, b: b, dy: r)
        let (xd, wd, bd, rd) = (x.map(Double.init), w.map(Double.init), b.map(Double.init), r.map(Double.init))
        func loss(x: [Double], w: [Double], b: [Double]) -> Double {
            let planes = ReferenceKernels.convolutionForward(input: x, weights: w, bias: b, batchSize: batch, geometry: g)
            return weightedSum(ReferenceKernels.pool(planes.map { max(0, $0) }, planes: batch * g.outputChannels,
                                                     geometry: pooling, average: false), rd)
        }
        let numericW = centralDifferences(wd) { loss(x: xd, w: $0, b: bd) }
        XCTAssertLessThan(gradientError(result.dw.map(Double.init), numericW), 1e-3)
        XCTAssertLessThan(gradientError(result.db.map(Double.init), centralDifferences(bd) { loss(x: xd, w: wd, b: $0) }), 1e-3)
        XCTAssertLessThan(gradientError(result.dx.map(Double.init), centralDifferences(xd) { loss(x: $0, w: wd, b: bd) }), 1e-3)
        // Without the ReLU's derivative (a block without ReLU, fed the same gradient).
        let noReLU = ConvolutionBlock(convolution: g, relu: false, pooling: pooling)
        let wrong = fused(noReLU, batch: batch, x: x, w: w, b: b, dy: r)
        XCTAssertGreaterThan(gradientError(wrong.dw.map(Double.init), numericW), 1e-2)
    }
}
