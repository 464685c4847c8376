import Determinism
import Kernels
import TestSupport
import XCTest

/// The AVX-512 kernels of `CVectorKernels` give the bits of the Swift loops they replace
/// (`VectorKernels.enabled` switched off and on around the same call), on odd shapes and on the
/// values where bits are easy to lose: −0, NaN, ties, a ReLU that clips whole windows. And the
/// tap-by-tap input gradient of `ConvolutionBlock` gives the bits of `col2im(Wᵀ · dY)`.
final class VectorKernelsTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(VectorKernels.available, "this CPU has no AVX-512F: only the Swift loops run here")
    }

    override func tearDown() {
        VectorKernels.enabled = VectorKernels.available
    }

    /// Gaussians with −0, exact ties and (when asked) NaN sprinkled in.
    private func values(_ count: Int, seed: UInt64, nan: Bool = false) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { index in
            switch index % 23 {
            case 5: return -0.0
            case 11: return 0.5  // ties with the next case
            case 12: return 0.5
            case 3 where nan: return .nan
            default: return Float(generator.nextGaussian())
            }
        }
    }

    /// `body` once with the Swift loops and once with the vector kernels.
    private func both<T>(_ body: () -> T) -> (swift: T, vector: T) {
        VectorKernels.enabled = false
        let swift = body()
        VectorKernels.enabled = true
        return (swift, body())
    }

    /// Bit patterns, so that −0 ≠ +0 and NaN = NaN.
    private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    static let convolutions = [
        ConvolutionGeometry(inputChannels: 1, inputHeight: 13, inputWidth: 11, outputChannels: 4, kernelHeight: 3,
                            kernelWidth: 3, stride: 1, padding: 1),
        ConvolutionGeometry(inputChannels: 3, inputHeight: 7, inputWidth: 7, outputChannels: 2, kernelHeight: 2,
                            kernelWidth: 3, stride: 1, padding: 2),
        ConvolutionGeometry(inputChannels: 2, inputHeight: 5, inputWidth: 37, outputChannels: 3, kernelHeight: 5,
                            kernelWidth: 1, stride: 1, padding: 0),  // rows of 37: two whole vectors and a tail
        ConvolutionGeometry(inputChannels: 32, inputHeight: 14, inputWidth: 14, outputChannels: 64, kernelHeight: 3,
                            kernelWidth: 3, stride: 1, padding: 1),  // the cnn preset's second convolution
        ConvolutionGeometry(inputChannels: 1, inputHeight: 28, inputWidth: 28, outputChannels: 32, kernelHeight: 3,
                            kernelWidth: 3, stride: 1, padding: 1),  // the first: a border lane in both vectors of a row
        ConvolutionGeometry(inputChannels: 2, inputHeight: 3, inputWidth: 5, outputChannels: 2, kernelHeight: 3,
                            kernelWidth: 3, stride: 1, padding: 19),  // whole vectors of border, offsets below −16
        ConvolutionGeometry(inputChannels: 1, inputHeight: 4, inputWidth: 150, outputChannels: 2, kernelHeight: 2,
                            kernelWidth: 5, stride: 1, padding: 2),  // rows of 150: more than 8 vectors
    ]

    func testIm2colAndCol2imGiveTheSwiftLoopsBits() {
        for (index, g) in Self.convolutions.enumerated() {
            let x = values(g.inputSize, seed: UInt64(index), nan: true)
            let patches = values(g.patchSize * g.patchCount, seed: 100 + UInt64(index), nan: true)
            let (swift, vector) = both { () -> (columns: [Float], gradient: [Float]) in
                var columns = [Float](repeating: 7, count: g.columnsSize), padded = [Float](repeating: 7, count: g.paddedInputSize)
                var gradient = [Float](repeating: 7, count: g.inputSize), source = patches + [Float](repeating: 0, count: 16)
                im2col(input: x, columns: &columns, padded: &padded, geometry: g)
                col2im(columns: &source, inputGradient: &gradient, padded: &padded, geometry: g)
                return (Array(columns.prefix(g.patchSize * g.patchCount)), gradient)
            }
            XCTAssertEqual(bits(vector.columns), bits(swift.columns), "im2col \(g)")
            XCTAssertEqual(bits(vector.gradient), bits(swift.gradient), "col2im \(g)")
            XCTAssertTrue(swift.columns.contains { $0 == 0 && $0.sign == .minus }, "−0 reached the patches")
        }
    }

    static let poolings = [
        PoolingGeometry(inputHeight: 13, inputWidth: 11, window: 2, stride: 2),  // odd: a row and a column no window reads
        PoolingGeometry(inputHeight: 28, inputWidth: 28, window: 2, stride: 2),
        PoolingGeometry(inputHeight: 4, inputWidth: 70, window: 2, stride: 2),  // 35 outputs a row: two vectors and a tail
        PoolingGeometry(inputHeight: 2, inputWidth: 2, window: 2, stride: 2),
    ]

    func testMaxPoolingGivesTheSwiftLoopsBitsWithBiasReLUAndNaN() {
        for (index, g) in Self.poolings.enumerated() {
            let planes = 3
            let x = values(planes * g.inputPlaneSize, seed: 200 + UInt64(index), nan: true)
            let bias: [Float] = [-0.75, 0.0, 0.25]
            let dy = values(planes * g.outputPlaneSize, seed: 300 + UInt64(index))
            for (withBias, relu) in [(false, false), (true, false), (true, true), (false, true)] {
                let (swift, vector) = both { () -> (y: [Float], argmax: [Int32], dx: [Float]) in
                    var y = [Float](repeating: 7, count: planes * g.outputPlaneSize), argmax = [Int32](repeating: -1, count: y.count)
                    var dx = [Float](repeating: 7, count: x.count)
                    if withBias {
                        maxPoolForward(input: x, output: &y, argmax: &argmax, planes: planes, geometry: g, bias: bias, relu: relu)
                    } else {
                        maxPoolForward(input: x, output: &y, argmax: &argmax, planes: planes, geometry: g, relu: relu)
                    }
                    maxPoolBackward(outputGradient: dy, argmax: argmax, inputGradient: &dx, planes: planes, geometry: g,
                                    reluOutput: relu ? y : nil)
                    return (y, argmax, dx)
                }
                let label = "\(g) bias \(withBias) relu \(relu)"
                XCTAssertEqual(bits(vector.y), bits(swift.y), label)
                XCTAssertEqual(vector.argmax, swift.argmax, label)
                XCTAssertEqual(bits(vector.dx), bits(swift.dx), label)
                XCTAssertTrue(swift.y.contains { $0.isNaN }, "a NaN reached the output: \(label)")
            }
        }
    }

    /// The tap-by-tap input gradient against `col2im(Wᵀ · dY)`: the same bits (the taps are added
    /// in `col2im`'s order and each GEMM sums over the output channels as the single one does).
    func testTheInputGradientByTapGivesCol2imsBits() {
        for (index, g) in Self.convolutions.enumerated() {
            let batch = 2
            let x = values(batch * g.inputSize, seed: 400 + UInt64(index)), w = values(g.weightCount, seed: 500 + UInt64(index))
            let dy = values(batch * g.outputSize, seed: 700 + UInt64(index))
            func inputGradient(byTap: Bool) -> [Float] {
                let block = ConvolutionBlock(convolution: g, relu: false, pooling: nil, inputGradientByTap: byTap)
                var dw = [Float](repeating: 7, count: g.weightCount), db = [Float](repeating: 7, count: g.outputChannels)
                var dx = [Float](repeating: 7, count: batch * g.inputSize)
                var scratch = [Float](repeating: .nan, count: block.scratchSize)
                scratch.withUnsafeMutableBufferPointer { scratch in
                    block.backward(
                        outputGradient: dy, output: dy, argmax: nil, input: x, weights: w, weightGradient: &dw,
                        biasGradient: &db, inputGradient: &dx, scratch: ConvolutionBlock.Scratch(scratch.baseAddress!, for: block),
                        batchSize: batch, between: {})
                }
                return dx
            }
            for enabled in [false, true] {  // the tap path's own copies, in Swift and in C
                VectorKernels.enabled = enabled
                XCTAssertEqual(bits(inputGradient(byTap: true)), bits(inputGradient(byTap: false)), "\(g) vector \(enabled)")
            }
        }
    }
}
