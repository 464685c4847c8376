#if canImport(Glibc)
import Glibc
#endif

/// Totals over a batch from `softmaxCrossEntropy`.
public struct LossSummary: Sendable, Equatable {
    /// Σ over rows of −log softmax(z)[label], accumulated in Double.
    public var lossSum: Double
    /// Rows whose largest logit (first index on ties) is the label.
    public var correctCount: Int

    public init(lossSum: Double = 0, correctCount: Int = 0) {
        self.lossSum = lossSum
        self.correctCount = correctCount
    }
}

/// Softmax cross-entropy over logits `[B, C]` with integer labels `[B]`, fused with its gradient.
///
/// Numerically stable: per row `m = max z`, `s = Σ exp(z − m)`, `loss = (m − z[y]) + log s`.
/// When `gradient` is given (it may alias `logits`), writes
/// `gradient[r, j] = scale · (exp(z_j − m)/s − [j = y])`: with `scale = 1 / global batch` the
/// ranks' gradients sum to the gradient of the global batch's mean loss.
/// Labels must lie in `0..<classCount` (checked when the dataset is loaded).
@inline(__always)
public func softmaxCrossEntropy(
    logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batchSize: Int, classCount: Int,
    gradient: UnsafeMutablePointer<Float>?, gradientScale: Float
) -> LossSummary {
    var summary = LossSummary()
    for r in 0..<batchSize {
        let z = logits + r * classCount
        let label = Int(labels[r])
        var maxIndex = 0
        var maxValue = z[0]
        for j in 1..<classCount where z[j] > maxValue {
            maxValue = z[j]
            maxIndex = j
        }
        var sum: Float = 0
        for j in 0..<classCount { sum += expf(z[j] - maxValue) }
        summary.lossSum += Double(maxValue - z[label]) + Double(logf(sum))  // m − z[y] first: exact when close
        if maxIndex == label { summary.correctCount += 1 }
        if let gradient {
            let g = gradient + r * classCount
            let inverseSum = gradientScale / sum
            for j in 0..<classCount { g[j] = expf(z[j] - maxValue) * inverseSum }
            g[label] -= gradientScale
        }
    }
    return summary
}
