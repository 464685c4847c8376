import Collectives
import Foundation

/// How evenly the ranks computed over an epoch: every rank's compute seconds (its training time
/// minus the time it waited for the others in the reduction) and the slowest of them against the
/// median. A rank on a slower or busier node makes every other rank wait for it at every step, so
/// the others' epoch times all look alike; their compute times name the culprit.
public struct ComputeBalance: Equatable, Sendable {
    /// The slowest rank is named in the epoch line when its compute exceeds the median by more
    /// than this fraction (0.15: 15 %).
    public static let notableExcess = 0.15

    /// Compute seconds per rank (index = rank).
    public let computeSeconds: [Double]
    /// The rank with the most compute (the lowest such rank on a tie).
    public let slowestRank: Int
    /// The median of `computeSeconds` (the mean of the two middle values for an even count).
    public let medianSeconds: Double
    /// `computeSeconds[slowestRank] / medianSeconds − 1` (0.42: 42 % above the median). At 2
    /// ranks the median is their mean, so a rank F times slower than the other shows
    /// (F − 1) / (F + 1): 1/3 for F = 2, always below 1.
    public let slowestExcess: Double

    /// From every rank's compute seconds; nil for fewer than two ranks or a zero median.
    public init?(computeSeconds: [Double]) {
        guard computeSeconds.count > 1 else { return nil }
        let sorted = computeSeconds.sorted(), middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        guard median > 0, median.isFinite else { return nil }
        let slowest = computeSeconds.indices.max { computeSeconds[$0] < computeSeconds[$1] || (computeSeconds[$0] == computeSeconds[$1] && $0 > $1) }!
        self.computeSeconds = computeSeconds
        slowestRank = slowest
        medianSeconds = median
        slowestExcess = computeSeconds[slowest] / median - 1
    }

    /// Gathers `seconds` from every rank. Collective.
    public static func gather(_ seconds: Double, communicator: Communicator) throws -> ComputeBalance? {
        let gathered = try communicator.allgather(fixed: withUnsafeBytes(of: seconds.bitPattern.littleEndian) { Array($0) })
        return ComputeBalance(computeSeconds: gathered.map { bytes in
            Double(bitPattern: UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
        })
    }

    /// The slowest rank stands out: more than `notableExcess` above the median.
    public var isNotable: Bool { slowestExcess > Self.notableExcess }

    /// `slowest rank 3 on h2: +42% compute (median 1.21 s)`; `hosts` by rank. The median has two
    /// decimals from 1 s up, else three significant digits (`0.0216 s`).
    public func description(hosts: [String]) -> String {
        let host = hosts.indices.contains(slowestRank) ? hosts[slowestRank] : "?"
        let percent = Int((slowestExcess * 100).rounded())
        let median = String(format: medianSeconds >= 1 ? "%.2f" : "%.3g", medianSeconds)
        return "slowest rank \(slowestRank) on \(host): +\(percent)% compute (median \(median) s)"
    }
}
