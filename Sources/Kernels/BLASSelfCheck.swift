import Determinism

/// Checks the running OpenBLAS kernel against the naive reference on the model's own GEMM shapes
/// (and odd ones), so a mis-detected or broken kernel is caught before training trusts it.
public enum BLASSelfCheck {
    /// One GEMM shape checked: `C[m, n] = op(A)[m, k] · op(B)[k, n]`.
    public struct Result: Sendable, Codable, Equatable {
        public let m: Int, n: Int, k: Int
        public let transposeA: Bool, transposeB: Bool
        /// max |fast − reference| / max(1, max |reference|).
        public let maximumError: Double
    }

    /// The shapes the MLP runs for layer widths `layerSizes` at `batchSize` rows (forward,
    /// weight gradient and input gradient of every layer), plus degenerate and odd shapes.
    public static func shapes(layerSizes: [Int], batchSize: Int) -> [(m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool)] {
        var shapes: [(Int, Int, Int, Bool, Bool)] = [(1, 1, 1, false, false), (3, 5, 7, false, true), (7, 3, 5, true, false), (1, 13, 4, false, false)]
        for (input, output) in zip(layerSizes, layerSizes.dropFirst()) {
            shapes.append((batchSize, output, input, false, true))   // forward: X · Wᵀ
            shapes.append((output, input, batchSize, true, false))   // dW = dZᵀ · X
            shapes.append((batchSize, input, output, false, false))  // dX = dZ · W
        }
        return shapes.map { (m: $0.0, n: $0.1, k: $0.2, transposeA: $0.3, transposeB: $0.4) }
    }

    /// Runs every shape with random inputs from `seed` and returns the errors.
    public static func run(layerSizes: [Int], batchSize: Int, seed: UInt64 = 1) -> [Result] {
        var generator = SeededGenerator(seed: seed)
        return shapes(layerSizes: layerSizes, batchSize: batchSize).map { shape in
            let (m, n, k) = (shape.m, shape.n, shape.k)
            let a = (0..<(m * k)).map { _ in Float(generator.nextGaussian()) }
            let b = (0..<(k * n)).map { _ in Float(generator.nextGaussian()) }
            var c = [Float](repeating: .nan, count: m * n)
            sgemm(transposeA: shape.transposeA, transposeB: shape.transposeB, m: m, n: n, k: k, alpha: 1,
                  a: a, lda: shape.transposeA ? m : k, b: b, ldb: shape.transposeB ? k : n, beta: 0, c: &c, ldc: n)
            let opA = shape.transposeA
                ? ReferenceKernels.transpose(a.map(Double.init), rows: k, columns: m) : a.map(Double.init)
            let opB = shape.transposeB
                ? ReferenceKernels.transpose(b.map(Double.init), rows: n, columns: k) : b.map(Double.init)
            let reference = ReferenceKernels.matmul(opA, opB, m: m, n: n, k: k)
            let scale = max(1, reference.map(abs).max() ?? 1)
            let error = zip(c, reference).map { abs(Double($0) - $1) }.max() ?? 0
            return Result(m: m, n: n, k: k, transposeA: shape.transposeA, transposeB: shape.transposeB,
                          maximumError: error.isNaN ? .infinity : error / scale)
        }
    }
}
