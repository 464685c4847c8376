import Collectives
import Foundation

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
}
