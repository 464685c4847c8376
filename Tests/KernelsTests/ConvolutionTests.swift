import Determinism
import Kernels
import TestSupport
import XCTest

/// The im2col/GEMM convolution against the direct Double definition, on odd shapes, and its
/// backward against central differences.
final class ConvolutionTests: XCTestCase {
    /// Channels 1 and 3, inputs 13×11 and 7×7, kernels 1, 3, 5 and 2×3, stride 1 and 2,
    /// padding 0, 1, 2, batch 1 and 5, with 2 output channels.
    static var shapes: [(ConvolutionGeometry, batch: Int)] {
        var shapes: [(ConvolutionGeometry, Int)] = []
        for channels in [1, 3] {
            for (height, width) in [(13, 11), (7, 7)] {
                for (kh, kw) in [(1, 1), (3, 3), (5, 5), (2, 3)] {
                    for stride in [1, 2] {
                        for padding in [0, 1, 2] {
                            for batch in [1, 5] {
                                shapes.append((ConvolutionGeometry(
                                    inputChannels: channels, inputHeight: height, inputWidth: width, outputChannels: 2,
                                    kernelHeight: kh, kernelWidth: kw, stride: stride, padding: padding), batch))
                            }
                        }
                    }
                }
            }
        }
        return shapes
    }

    private func random(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(generator.nextGaussian()) }
    }

    /// Runs the fast forward and backward (`ConvolutionBlock` without ReLU or pooling) on
    /// `geometry`; returns Y, dW, db, dX (as Double).
    private func fast(
        _ g: ConvolutionGeometry, batch: Int, x: [Float], w: [Float], b: [Float], dy: [Float]
    ) -> (y: [Double], dw: [Double], db: [Double], dx: [Double]) {
        let block = ConvolutionBlock(convolution: g, relu: false, pooling: nil)
        var y = [Float](repeating: .nan, count: batch * g.outputSize)
        var dw = [Float](repeating: .nan, count: g.weightCount), db = [Float](repeating: .nan, count: g.outputChannels)
        var dx = [Float](repeating: .nan, count: batch * g.inputSize)
        var scratch = [Float](repeating: .nan, count: block.scratchSize)
        scratch.withUnsafeMutableBufferPointer { scratch in
            let buffers = ConvolutionBlock.Scratch(scratch.baseAddress!, for: block)
            block.forward(input: x, weights: w, bias: b, output: &y, argmax: nil, scratch: buffers, batchSize: batch)
            block.backward(
                outputGradient: dy, output: y, argmax: nil, input: x, weights: w, weightGradient: &dw, biasGradient: &db,
                inputGradient: &dx, scratch: buffers, batchSize: batch, between: {})
        }
        return (y.map(Double.init), dw.map(Double.init), db.map(Double.init), dx.map(Double.init))
    }

    func testForwardAndBackwardMatchTheDirectDefinitionOnEveryShape() {
        for (index, (g, batch)) in Self.shapes.enumerated() {
            let x = random(batch * g.inputSize, seed: UInt64(index)), w = random(g.weightCount, seed: 1000 + UInt64(index))
            let b = random(g.outputChannels, seed: 2000), dy = random(batch * g.outputSize, seed: 3000 + UInt64(index))
            let result = fast(g, batch: batch, x: x, w: w, b: b, dy: dy)
            let xd = x.map(Double.init), wd = w.map(Double.init)
            let reference = ReferenceKernels.convolutionForward(
                input: xd, weights: wd, bias: b.map(Double.init), batchSize: batch, geometry: g)
            let backward = ReferenceKernels.convolutionBackward(
                outputGradient: dy.map(Double.init), input: xd, weights: wd, batchSize: batch, geometry: g)
            let what = "\(g), batch \(batch)"
            assertAllClose(result.y, reference, relative: 1e-4, absolute: 1e-4, what)
            assertAllClose(result.dw, backward.weightGradient, relative: 1e-4, absolute: 1e-4, what)
            assertAllClose(result.db, backward.biasGradient, relative: 1e-4, absolute: 1e-4, what)
            assertAllClose(result.dx, backward.inputGradient, relative: 1e-4, absolute: 1e-4, what)
        }
    }

    /// The output size is PyTorch's ⌊(H + 2p − k) / s⌋ + 1 (`nn.Conv2d` documentation).
    func testOutputSizesArePyTorchs() {
        let g = ConvolutionGeometry(
            inputChannels: 1, inputHeight: 13, inputWidth: 11, outputChannels: 4, kernelHeight: 2, kernelWidth: 3,
            stride: 2, padding: 1)
        XCTAssertEqual([g.outputHeight, g.outputWidth], [7, 6])  // (13+2−2)/2+1 = 7, (11+2−3)/2+1 = 6
        XCTAssertEqual([g.patchSize, g.patchCount, g.weightCount], [6, 42, 24])
    }

    /// dL/dW, dL/db and dL/dX of L = Σ r ⊙ Y against central differences of the direct
    /// definition; and the same check rejects a backward that swaps the kernel's axes.
    func testBackwardMatchesCentralDifferencesAndTheCheckCatchesAWrongBackward() {
        let g = ConvolutionGeometry(
            inputChannels: 2, inputHeight: 6, inputWidth: 5, outputChannels: 3, kernelHeight: 3, kernelWidth: 2,
            stride: 2, padding: 1)
        let batch = 2
        let x = random(batch * g.inputSize, seed: 7), w = random(g.weightCount, seed: 8), b = random(3, seed: 9)
        let r = random(batch * g.outputSize, seed: 10)
        let result = fast(g, batch: batch, x: x, w: w, b: b, dy: r)
        let (xd, wd, bd, rd) = (x.map(Double.init), w.map(Double.init), b.map(Double.init), r.map(Double.init))
        func loss(x: [Double], w: [Double], b: [Double]) -> Double {
            weightedSum(ReferenceKernels.convolutionForward(input: x, weights: w, bias: b, batchSize: batch, geometry: g), rd)
        }
        let numericW = centralDifferences(wd) { loss(x: xd, w: $0, b: bd) }
        let numericB = centralDifferences(bd) { loss(x: xd, w: wd, b: $0) }
        let numericX = centralDifferences(xd) { loss(x: $0, w: wd, b: bd) }
        XCTAssertLessThan(gradientError(result.dw, numericW), 1e-4)
        XCTAssertLessThan(gradientError(result.db, numericB), 1e-4)
        XCTAssertLessThan(gradientError(result.dx, numericX), 1e-4)
        // A wrong backward: the weight gradient with each 3×2 kernel read as 2×3.
        var wrong = result.dw
        for o in 0..<g.outputChannels * g.inputChannels {
            let kernel = Array(result.dw[(o * 6)..<(o * 6 + 6)])
            for i in 0..<3 { for j in 0..<2 { wrong[o * 6 + j * 3 + i] = kernel[i * 2 + j] } }
        }
        XCTAssertGreaterThan(gradientError(wrong, numericW), 1e-2)
    }

    func testIm2colThenCol2imCountsEachInputPositionOncePerPatchThatReadsIt() {
        // With all-ones columns, col2im gives, at each input position, how many patches read it:
        // a 3×3 kernel, stride 1, padding 1 on 4×4: corners 4, edges 6, inside 9.
        let g = ConvolutionGeometry(
            inputChannels: 1, inputHeight: 4, inputWidth: 4, outputChannels: 1, kernelHeight: 3, kernelWidth: 3,
            stride: 1, padding: 1)
        let ones = [Float](repeating: 1, count: g.patchSize * g.patchCount) + [Float](repeating: .nan, count: ConvolutionGeometry.rowSlack)
        var counts = [Float](repeating: .nan, count: 16)
        var padded = [Float](repeating: .nan, count: g.paddedInputSize)
        col2im(columns: ones, inputGradient: &counts, padded: &padded, geometry: g)
        XCTAssertEqual(counts, [4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4])
    }
}
