import ArgumentParser
import Collectives
import Coordination
import Determinism
import Foundation
import Job
import Training

/// `lockstep diagnose reduction`: do this MPI's reductions give every rank the same bytes?
struct DiagnoseReductionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reduction",
        abstract: "Check that each --reduction mode gives bitwise-identical sums on every rank.",
        discussion: """
            Run it under mpirun: mpirun -np 4 lockstep diagnose reduction. Every rank sums buffers of
            pseudo-random floats spanning many magnitudes (so the summation order matters), hashes
            the result and compares the hashes across ranks; the sum is also checked against the
            exact sum in Double. Prints one JSON object per mode and size; exits 76 when any mode
            gives different bytes on different ranks.
            """)

    @Option(help: ArgumentHelp("Buffer sizes in Floats, comma-separated.", valueName: "n,…"))
    var sizes: String = "1,3,7,1001,65537,535819"

    @Option(help: ArgumentHelp("Repetitions per mode and size.", valueName: "n"))
    var repeats: Int = 3

    struct Result: Codable {
        let mode: String
        let size: Int
        let ranks: Int
        let identicalAcrossRanks: Bool
        let maximumRelativeError: Double

        /// The JSON names (snake_case, as printed).
        enum CodingKeys: String, CodingKey {
            case mode, size, ranks, identicalAcrossRanks = "identical_across_ranks", maximumRelativeError = "max_relative_error"
        }
    }

    func run() throws {
        let counts = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--sizes must be a comma-separated list of positive counts, got '\(sizes)'")
        }
        let job = Job.start(blas: nil)
        let communicator = job.communicator
        job.run {
            var allIdentical = true
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            for mode in ReductionMode.allCases {
                for count in counts {
                    var identical = true
                    var worst = 0.0
                    for repeat_ in 0..<repeats {
                        let (same, error) = try check(mode: mode, count: count, seed: UInt64(repeat_), communicator: communicator)
                        identical = identical && same
                        worst = max(worst, error)
                    }
                    allIdentical = allIdentical && identical
                    if communicator.rank == 0 {
                        let line = Result(mode: mode.rawValue, size: count, ranks: communicator.worldSize,
                                          identicalAcrossRanks: identical, maximumRelativeError: worst)
                        print(String(decoding: try encoder.encode(line), as: UTF8.self))
                    }
                }
            }
            if !allIdentical {
                throw LockstepViolation(step: 0, context: "reduction check", differingParts: ["reduced buffer"], rankGroups: [])
            }
        }
    }

    /// Values of rank `rank`'s buffer: signs and magnitudes from 1e-6 to 1e6.
    private static func values(count: Int, rank: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed, stream: UInt64(rank))
        return (0..<count).map { _ in Float(generator.nextGaussian() * pow(10, Double(generator.nextIndex(below: 13)) - 6)) }
    }

    private func check(mode: ReductionMode, count: Int, seed: UInt64, communicator: Communicator) throws -> (Bool, Double) {
        var buffer = Self.values(count: count, rank: communicator.rank, seed: seed)
        try buffer.withUnsafeMutableBufferPointer { pointer in
            switch mode {
            case .allreduce: try communicator.allreduce(pointer, operation: .sum)
            case .reduceScatterAllgather: try communicator.sumByReduceScatterAllgather(pointer)
            }
        }
        var hasher = StateHash()
        buffer.withUnsafeBytes { hasher.combine(bytes: $0) }
        let hashes = try communicator.allgather(fixed: withUnsafeBytes(of: hasher.finalize()) { Array($0) })
        // The exact sum, from every rank's values regenerated here, in Double.
        var exact = [Double](repeating: 0, count: count)
        var magnitude = [Double](repeating: 0, count: count)
        for rank in 0..<communicator.worldSize {
            for (index, value) in Self.values(count: count, rank: rank, seed: seed).enumerated() {
                exact[index] += Double(value)
                magnitude[index] += abs(Double(value))
            }
        }
        // Float summation of N terms errs by at most about N·ε·Σ|x|.
        let error = zip(buffer, zip(exact, magnitude)).map { abs(Double($0) - $1.0) / max($1.1, .leastNormalMagnitude) }.max() ?? 0
        return (Set(hashes).count == 1, error)
    }
}
