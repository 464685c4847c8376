#if canImport(Glibc)
import Glibc
#endif

/// Naive, obviously-correct reference kernels in `Double` beside the fast BLAS-backed ones.
/// Tests compare the fast kernels against these; nothing in training calls them.
/// Arrays are row-major; shapes as in `DenseLayer.swift` (X `[B, I]`, W `[O, I]`, Z `[B, O]`).
public enum ReferenceKernels {
    /// `C[m, n] = A[m, k] · B[k, n]` by the triple loop.
    public static func matmul(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int) -> [Double] {
        precondition(a.count == m * k && b.count == k * n, "matmul shapes \(a.count) \(b.count) m=\(m) n=\(n) k=\(k)")
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += a[i * k + p] * b[p * n + j] }
                c[i * n + j] = sum
            }
        }
        return c
    }

    /// The transpose of a `[rows, columns]` matrix.
    public static func transpose(_ a: [Double], rows: Int, columns: Int) -> [Double] {
        var t = [Double](repeating: 0, count: a.count)
        for r in 0..<rows { for c in 0..<columns { t[c * rows + r] = a[r * columns + c] } }
        return t
    }

    /// `Z = X · Wᵀ + b`, then ReLU when `relu`.
    public static func denseForward(
        input x: [Double], weights w: [Double], bias: [Double], batchSize: Int, inputCount: Int,
        outputCount: Int, relu: Bool
    ) -> [Double] {
        var z = matmul(x, transpose(w, rows: outputCount, columns: inputCount), m: batchSize, n: outputCount, k: inputCount)
        for r in 0..<batchSize {
            for c in 0..<outputCount {
                let v = z[r * outputCount + c] + bias[c]
                z[r * outputCount + c] = relu ? max(v, 0) : v
            }
        }
        return z
    }

    /// `(dW = dZᵀ · X, db = Σ_rows dZ, dX = dZ · W)`.
    public static func denseBackward(
        outputGradient dz: [Double], input x: [Double], weights w: [Double], batchSize: Int,
        inputCount: Int, outputCount: Int
    ) -> (weightGradient: [Double], biasGradient: [Double], inputGradient: [Double]) {
        let dw = matmul(transpose(dz, rows: batchSize, columns: outputCount), x, m: outputCount, n: inputCount, k: batchSize)
        var db = [Double](repeating: 0, count: outputCount)
        for r in 0..<batchSize { for c in 0..<outputCount { db[c] += dz[r * outputCount + c] } }
        let dx = matmul(dz, w, m: batchSize, n: inputCount, k: outputCount)
        return (dw, db, dx)
    }

    /// Per-row `−log softmax(z)[y]` summed, and the gradient `scale · (softmax − onehot)`.
    public static func softmaxCrossEntropy(
        logits: [Double], labels: [Int], classCount: Int, gradientScale: Double
    ) -> (lossSum: Double, correctCount: Int, gradient: [Double]) {
        var lossSum = 0.0, correct = 0
        var gradient = [Double](repeating: 0, count: logits.count)
        for (r, label) in labels.enumerated() {
            let row = Array(logits[(r * classCount)..<((r + 1) * classCount)])
            let m = row.max()!
            let s = row.map { exp($0 - m) }.reduce(0, +)
            lossSum += log(s) + m - row[label]
            if row.firstIndex(of: m) == label { correct += 1 }
            for j in 0..<classCount {
                gradient[r * classCount + j] = gradientScale * (exp(row[j] - m) / s - (j == label ? 1 : 0))
            }
        }
        return (lossSum, correct, gradient)
    }
}
