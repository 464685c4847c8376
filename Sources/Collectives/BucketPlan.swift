/// How the reduction buffer `[parameterCount + trailing slots]` is cut into buckets, each reduced
/// by its own nonblocking allreduce.
///
/// Backward finishes the gradients from the end of the buffer downwards, one segment at a time
/// (`MLP.gradientReadyPoints`: the last layer, then each weight-gradient block). A bucket is a run
/// of whole consecutive segments, from the top: it closes when the next segment would take it
/// past `bucketElementCount` (a single larger segment is a bucket of its own). The first bucket
/// ends at the end of the buffer and so carries the trailing slots (the step's loss).
///
/// The plan depends only on the layout, the block size and the bucket size, never on timing:
/// overlapped and non-overlapped steps reduce exactly the same buckets with the same calls, so
/// their results are bitwise identical at any world size.
public struct BucketPlan: Equatable, Sendable {
    /// Element ranges of the buffer, in the order they are started (highest first); together
    /// they cover `0..<bufferCount` without gaps.
    public let buckets: [Range<Int>]

    /// - Parameters:
    ///   - readyPoints: the `from` of each `.gradientsReady` event in order: strictly decreasing,
    ///     ending with 0.
    ///   - bufferCount: the buffer's element count (gradients and trailing slots).
    ///   - bucketElementCount: the largest bucket made of several segments, in elements (> 0).
    public init(readyPoints: [Int], bufferCount: Int, bucketElementCount: Int) {
        precondition(bucketElementCount > 0, "bucket of \(bucketElementCount) elements")
        precondition(readyPoints.last == 0 && zip(readyPoints, readyPoints.dropFirst()).allSatisfy { $0 > $1 }
                     && (readyPoints.first ?? 0) < bufferCount,
                     "ready points \(readyPoints) must decrease to 0 below \(bufferCount)")
        var buckets: [Range<Int>] = []
        var upper = bufferCount
        var lower = bufferCount
        for point in readyPoints {
            if lower < upper && upper - point > bucketElementCount {
                buckets.append(lower..<upper)
                upper = lower
            }
            lower = point
        }
        buckets.append(lower..<upper)
        self.buckets = buckets
    }

    /// The index of the last bucket that lies entirely in `from..<bufferCount` plus one: the
    /// number of buckets that can start once the gradients from `from` up are final.
    @inline(__always)
    func startableCount(from: Int, after started: Int) -> Int {
        var count = started
        while count < buckets.count && buckets[count].lowerBound >= from { count += 1 }
        return count
    }
}
