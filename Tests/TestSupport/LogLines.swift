import Foundation

/// The lines of a run's standard output without the ISO-8601 time that `lockstep train` puts in
/// front of each log line when its output is a log rather than a terminal (`--timestamps auto`).
public func logLines(_ output: String) -> [String] {
    output.split(separator: "\n").map { line in
        guard let range = line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "#, options: .regularExpression) else {
            return String(line)
        }
        return String(line[range.upperBound...])
    }
}
