import Collectives
import Foundation
import Logging

/// Peak resident memory ("high-water mark") of this process and the budget a run should fit in.
public enum PeakMemory {
    /// This process's peak resident set size in bytes (`getrusage(RUSAGE_SELF).ru_maxrss`, which
    /// Linux reports in KiB), or 0 where unavailable.
    public static func residentBytes() -> Int {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024
    }

    /// The largest `residentBytes()` over the ranks. Collective.
    public static func maximumOverRanks(_ communicator: Communicator) throws -> Int {
        Int(try communicator.allreduce([Int64(residentBytes())], operation: .max)[0])
    }

    /// The per-rank budget of issue 6: the data's bytes in memory (`TrainingData.byteCount`) +
    /// 4 × the parameter bytes (parameters, gradients, momentum, one spare) + 40 MB.
    public static func budgetBytes(data: TrainingData, parameterCount: Int) -> Int {
        data.byteCount + 4 * parameterCount * MemoryLayout<Float>.stride + 40_000_000
    }

    /// "peak resident memory 97.1 MB per rank (max over 2 ranks; budget 104.2 MB)".
    public static func summary(peakBytes: Int, budgetBytes: Int, worldSize: Int) -> String {
        func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
        return "peak resident memory \(megabytes(peakBytes)) per rank (max over \(worldSize) rank"
            + "\(worldSize == 1 ? "" : "s"); budget \(megabytes(budgetBytes)): dataset + 4 × parameters + 40 MB)"
    }

    /// Logs `summary` on rank 0 after a run. Collective.
    public static func report(
        _ communicator: Communicator, data: TrainingData, parameterCount: Int, logger: Logger
    ) throws {
        let peak = try maximumOverRanks(communicator)
        logger.info("\(summary(peakBytes: peak, budgetBytes: budgetBytes(data: data, parameterCount: parameterCount), worldSize: communicator.worldSize))")
    }
}
