/// Summary numbers of a tensor's values, for `lockstep checkpoint inspect`.
public struct CheckpointTensorSummary: Sendable, Equatable {
    /// The smallest and largest finite value; nil when there is none.
    public let minimum: Float?
    public let maximum: Float?
    /// The mean of the finite values, accumulated in `Double`; nil when there is none.
    public let mean: Double?
    /// How many values are NaN or infinite.
    public let nonFiniteCount: Int

    public init(_ values: [Float]) {
        var minimum = Float.infinity
        var maximum = -Float.infinity
        var sum = 0.0
        var finiteCount = 0
        for value in values where value.isFinite {
            minimum = Swift.min(minimum, value)
            maximum = Swift.max(maximum, value)
            sum += Double(value)
            finiteCount += 1
        }
        self.minimum = finiteCount > 0 ? minimum : nil
        self.maximum = finiteCount > 0 ? maximum : nil
        mean = finiteCount > 0 ? sum / Double(finiteCount) : nil
        nonFiniteCount = values.count - finiteCount
    }
}

extension CheckpointTensor {
    /// Minimum, maximum and mean of the finite values, and the count of the others.
    public var summary: CheckpointTensorSummary { CheckpointTensorSummary(values) }
}
