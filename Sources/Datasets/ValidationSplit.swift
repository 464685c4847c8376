import Determinism

/// Holding out part of the training data for validation (`--validation-split F`).
///
/// The held-out samples are a seeded choice: a Fisher–Yates shuffle of `0..<count` by
/// `SeededGenerator(seed:stream:)` with the run's seed and the stream `streamTag`, whose first
/// `round(F · count)` indices (at least 1, and at least 1 left for training) are held out.
/// Both parts keep the original order. The same seed gives the same split on every rank and at
/// every world size.
public enum ValidationSplit {
    /// The generator stream of the split ("VALSPLIT" in ASCII), apart from the weights' and the
    /// data order's.
    public static let streamTag: UInt64 = 0x56414C53504C4954

    /// The training and validation indices of `count` samples.
    /// - Precondition: `fraction` strictly between 0 and 1, `count ≥ 2`.
    public static func indices(count: Int, fraction: Double, seed: UInt64) -> (training: [Int], validation: [Int]) {
        precondition(fraction > 0 && fraction < 1 && count >= 2, "validation split \(fraction) of \(count) samples")
        let held = min(max(Int((fraction * Double(count)).rounded()), 1), count - 1)
        var order = Array(0..<count)
        var generator = SeededGenerator(seed: seed, stream: streamTag)
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, generator.nextIndex(below: i + 1))
        }
        let validation = order[..<held].sorted()
        let training = order[held...].sorted()
        return (training, validation)
    }
}
