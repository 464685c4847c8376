import ArgumentParser
import Benchmarks
import Collectives
import Coordination
import Foundation
import Job

/// `lockstep diagnose reduction`: do this MPI's reductions give every rank the same bytes?
struct DiagnoseReductionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reduction",
        abstract: "Check that each --reduction mode gives bitwise-identical sums on every rank.",
        discussion: """
            Run it under mpirun: mpirun -np 4 lockstep diagnose reduction. Every rank sums buffers of
            pseudo-random floats spanning many magnitudes (so the summation order matters), hashes
            the result and compares the hashes across ranks; the sum is also checked against the
            exact sum in Double. With every rank on one node, the sum through the node's shared
            memory (mode shared-memory, the alternative that bench allreduce times) is checked too.
            Prints one JSON object per mode and size; exits 76 when any mode gives different bytes
            on different ranks.
            """)

    @Option(help: ArgumentHelp("Buffer sizes in Floats, comma-separated.", valueName: "n,…"))
    var sizes: String = "1,3,7,1001,65537,535819"

    @Option(help: ArgumentHelp("Repetitions per mode and size.", valueName: "n"))
    var repeats: Int = 3

    func validate() throws {
        guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be in 1…1000, got \(repeats)") }
        let fields = sizes.split(separator: ",", omittingEmptySubsequences: false)
        let counts = fields.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        // 2²⁶ Floats: a 256 MiB buffer, twice the largest gradient this tool is meant to check.
        guard !fields.isEmpty, counts.count == fields.count, counts.allSatisfy({ (1...(1 << 26)).contains($0) }) else {
            throw ValidationError("--sizes must be a comma-separated list of counts in 1…67108864 Floats, got '\(sizes)'")
        }
    }

    func run() throws {
        let counts = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let job = Job.start(blas: nil)
        job.run {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var allIdentical = true
            for path in try ReductionConsistency.Path.all(communicator: job.communicator) {
                for count in counts {
                    let result = try ReductionConsistency.check(
                        path: path, count: count, repeats: repeats, communicator: job.communicator)
                    allIdentical = allIdentical && result.identicalAcrossRanks
                    if job.isLeader { print(String(decoding: try encoder.encode(result), as: UTF8.self)) }
                }
            }
            if !allIdentical {
                throw LockstepViolation(step: 0, context: "reduction check", differingParts: ["reduced buffer"], rankGroups: [])
            }
        }
    }
}
