import Foundation

/// Where `lockstep bench` writes: JSON Lines (one object per measurement) when standard output is
/// not a terminal or `--json` is given, else an aligned table for people. Rank 0 only. Whether
/// the output is a terminal is decided as for `--progress auto` (under mpirun every rank's output
/// looks like a terminal, so only `LOCKSTEP_TERMINAL=1` says it is one).
struct BenchOutput {
    let json: Bool
    let rank: Int

    init(forceJSON: Bool, rank: Int) {
        json = forceJSON || ProgressMode.auto.resolved() != .tty
        self.rank = rank
    }

    /// Prints `results`: one JSON object per line, or a table with `columns` (header, value).
    func emit<Result: Encodable>(_ results: [Result], columns: [(String, (Result) -> String)]) throws {
        guard rank == 0 else { return }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for result in results { print(String(decoding: try encoder.encode(result), as: UTF8.self)) }
        } else {
            let rows = results.map { result in columns.map { $0.1(result) } }
            let widths = columns.indices.map { index in
                ([columns[index].0] + rows.map { $0[index] }).map(\.count).max() ?? 0
            }
            func line(_ cells: [String]) -> String {
                zip(cells, widths).map { String(repeating: " ", count: $1 - $0.count) + $0 }.joined(separator: "  ")
            }
            print(line(columns.map(\.0)))
            for row in rows { print(line(row)) }
        }
        fflush(nil)  // all streams: the lines leave before MPI_Finalize
    }
}

/// Number formatting for the tables.
enum BenchFormat {
    static func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
    static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
    static func bytes(_ count: Int) -> String {
        count >= 1 << 20 ? "\(count >> 20) MiB" : count >= 1 << 10 ? "\(count >> 10) KiB" : "\(count) B"
    }
    static func megabytes(_ count: Int) -> String { String(format: "%.1f MB", Double(count) / 1e6) }
    static func microseconds(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1e6) }
}
