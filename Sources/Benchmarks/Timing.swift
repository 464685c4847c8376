import Foundation

/// Small statistics and clock helpers shared by the benchmarks.
enum Timing {
    /// Monotonic seconds from an arbitrary origin (CLOCK_MONOTONIC, about 20 ns a call).
    @inline(__always)
    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// CPU seconds this process has used (all threads, CLOCK_PROCESS_CPUTIME_ID).
    static func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// The median of `values` (the mean of the middle two for an even count); 0 when empty.
    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// Seconds per call of `body`: calls it once to warm up and calibrate, then `repetitions`
    /// times a batch of calls lasting about `batchSeconds`, and returns the median per-call time.
    /// For local work only (the call count depends on the clock, so it may differ between ranks).
    static func secondsPerCall(repetitions: Int, batchSeconds: Double, _ body: () -> Void) -> Double {
        let start = now()
        body()
        let once = max(now() - start, 1e-7)
        let calls = max(1, min(100_000, Int(batchSeconds / once)))
        var samples: [Double] = []
        samples.reserveCapacity(repetitions)
        for _ in 0..<repetitions {
            let begin = now()
            for _ in 0..<calls { body() }
            samples.append((now() - begin) / Double(calls))
        }
        return median(samples)
    }
}
