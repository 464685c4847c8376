import Determinism
import Kernels
import TestSupport
import XCTest

/// The BLAS-backed kernels against the naive `ReferenceKernels` (Double triple loops).
final class DenseLayerTests: XCTestCase {
    private var generator = SeededGenerator(seed: 2024)

    private func randomArray(_ count: Int) -> [Float] {
        (0..<count).map { _ in Float(generator.nextGaussian()) }
    }

    /// The first element where `fast` and `reference` differ by more than `tolerance` × the
    /// reference's largest magnitude (at least 1), or nil: the check `assertMatches` makes.
    private func mismatch(_ fast: [Float], _ reference: [Double], tolerance: Double = 1e-5) -> String? {
        guard fast.count == reference.count else { return "\(fast.count) elements, reference \(reference.count)" }
        let scale = max(1, reference.map(abs).max() ?? 1)
        for (index, (f, r)) in zip(fast, reference).enumerated() where !(abs(Double(f) - r) <= tolerance * scale) {
            return "element \(index): fast \(f), reference \(r)"
        }
        return nil
    }

    private func assertMatches(_ fast: [Float], _ reference: [Double], tolerance: Double = 1e-5,
                               file: StaticString = #filePath, line: UInt = #line) {
        if let mismatch = mismatch(fast, reference, tolerance: tolerance) { XCTFail(mismatch, file: file, line: line) }
    }

    /// (batch, in, out) shapes including the degenerate and odd ones the issue names.
    private let shapes = [(1, 1, 1), (3, 5, 7), (1, 13, 4), (7, 3, 5), (4, 5, 7), (33, 65, 17)]

    func testSgemmAllTransposeCombinationsMatchTripleLoop() {
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (1, 9, 4), (17, 1, 3)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = randomArray(m * k), b = randomArray(k * n)
                    var c = [Float](repeating: 0, count: m * n)
                    sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                          a: a, lda: transposeA ? m : k, b: b, ldb: transposeB ? k : n, beta: 0, c: &c, ldc: n)
                    let opA = transposeA ? ReferenceKernels.transpose(a.map(Double.init), rows: k, columns: m) : a.map(Double.init)
                    let opB = transposeB ? ReferenceKernels.transpose(b.map(Double.init), rows: n, columns: k) : b.map(Double.init)
                    assertMatches(c, ReferenceKernels.matmul(opA, opB, m: m, n: n, k: k))
                }
            }
        }
    }

    func testDenseForwardMatchesReference() {
        for (batch, inputs, outputs) in shapes {
            for relu in [false, true] {
                let x = randomArray(batch * inputs), w = randomArray(outputs * inputs), b = randomArray(outputs)
                var z = [Float](repeating: .nan, count: batch * outputs)
                denseForward(input: x, weights: w, bias: b, output: &z, batchSize: batch, inputCount: inputs,
                             outputCount: outputs, activation: relu ? .relu : .identity)
                let reference = ReferenceKernels.denseForward(
                    input: x.map(Double.init), weights: w.map(Double.init), bias: b.map(Double.init),
                    batchSize: batch, inputCount: inputs, outputCount: outputs, relu: relu)
                assertMatches(z, reference)
            }
        }
    }

    func testDenseBackwardMatchesReference() {
        for (batch, inputs, outputs) in shapes {
            let x = randomArray(batch * inputs).map { max($0, 0) }  // post-ReLU input: some exact zeros
            let w = randomArray(outputs * inputs), dz = randomArray(batch * outputs)
            var dw = [Float](repeating: .nan, count: outputs * inputs)
            var db = [Float](repeating: .nan, count: outputs)
            var dx = [Float](repeating: .nan, count: batch * inputs)
            denseWeightGradient(outputGradient: dz, input: x, weightGradient: &dw, batchSize: batch, inputCount: inputs,
                                outputCount: outputs, outputRows: 0..<outputs)
            denseBiasGradient(outputGradient: dz, biasGradient: &db, batchSize: batch, outputCount: outputs)
            denseInputGradient(outputGradient: dz, weights: w, inputGradient: &dx, reluOutput: x,
                               batchSize: batch, inputCount: inputs, outputCount: outputs)
            let reference = ReferenceKernels.denseBackward(
                outputGradient: dz.map(Double.init), input: x.map(Double.init), weights: w.map(Double.init),
                batchSize: batch, inputCount: inputs, outputCount: outputs)
            assertMatches(dw, reference.weightGradient)
            assertMatches(db, reference.biasGradient)
            let maskedReference = zip(reference.inputGradient, x).map { $1 > 0 ? $0 : 0 }
            assertMatches(dx, maskedReference)
        }
    }

    func testReLUPropagatesNaN() {
        let x: [Float] = [1], w: [Float] = [.nan], b: [Float] = [0]
        var z: [Float] = [0]
        denseForward(input: x, weights: w, bias: b, output: &z, batchSize: 1, inputCount: 1, outputCount: 1, activation: .relu)
        XCTAssertTrue(z[0].isNaN)
    }

    func testComparisonFailsOnAWrongKernel() {
        // The checker itself must be able to fail: a deliberately wrong result, a NaN and a
        // missing element are reported; the right result is not.
        let reference: [Double] = [1, 2, 3]
        XCTAssertEqual(mismatch([1, 2, 3.001], reference), "element 2: fast 3.001, reference 3.0")
        XCTAssertNotNil(mismatch([1, .nan, 3], reference))
        XCTAssertNotNil(mismatch([1, 2], reference))
        XCTAssertNil(mismatch([1, 2, 3], reference))
    }
}
