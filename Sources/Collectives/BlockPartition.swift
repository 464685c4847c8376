/// Splits `count` elements into `parts` contiguous blocks whose sizes differ by at most one
/// (the first `count % parts` blocks get one extra element).
///
/// Used for the reduce-scatter-allgather reduction and for sharding the test set.
public struct BlockPartition: Sendable, Equatable {
    public let count: Int
    public let parts: Int

    public init(count: Int, parts: Int) {
        precondition(count >= 0 && parts > 0, "BlockPartition(count: \(count), parts: \(parts))")
        self.count = count
        self.parts = parts
    }

    /// The element range of block `index`.
    public func range(of index: Int) -> Range<Int> {
        precondition(index >= 0 && index < parts, "block \(index) of \(parts)")
        let base = count / parts, extra = count % parts
        let start = index * base + Swift.min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }

    /// Block sizes, one per part.
    public var sizes: [Int] { (0..<parts).map { range(of: $0).count } }
}
